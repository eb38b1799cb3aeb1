"""The synthetic data: deterministic, shaped like a customer base, and importable as it is."""

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import httpx
import numpy as np
import pytest

from segmentation import synthetic
from segmentation.synthetic import HISTORY_DAYS, Dataset, generate, main

AS_OF = date(2026, 11, 23)
HEADERS = {
    "customers": "external_id,name,kind,first_contact_on,revenue_potential.amount,revenue_potential.currency,"
    "key_account,consent.email,consent.phone,consent.post,attributes.region",
    "orders": "external_id,customer_external_id,ordered_at,net_amount,currency,contribution_margin,status",
    "invoices": "external_id,customer_external_id,order_external_id,issued_on,due_on,paid_on,amount,currency,"
    "dunning_level",
    "interactions": "external_id,customer_external_id,kind,channel,occurred_at,resolved_at,subject",
}
AMOUNT = re.compile(r"(0|[1-9]\d*)\.\d\d")


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate(3000, seed=1, as_of=AS_OF)


def _date_of(text: str) -> date:
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", text), text
    return date.fromisoformat(text)


def _moment(text: str) -> datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text), text
    return datetime.fromisoformat(text)


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data() -> None:
    assert generate(200, seed=5, as_of=AS_OF) == generate(200, seed=5, as_of=AS_OF)
    for name, table in generate(200, seed=6, as_of=AS_OF).entities():
        assert table != getattr(generate(200, seed=5, as_of=AS_OF), name), name
    assert generate(200, seed=5, as_of=AS_OF).orders != generate(200, seed=5, as_of=date(2026, 11, 24)).orders


def test_every_file_is_a_header_and_its_rows(data: Dataset) -> None:
    for name, table in data.entities():
        assert table.content.decode().split("\n", 1)[0] == HEADERS[name]
        assert table.content.endswith(b"\n")
        assert table.content.count(b"\n") == table.rows + 1, name
        records = table.records()
        assert len(records) == table.rows > 0, name
        assert {len(record) for record in records} == {HEADERS[name].count(",") + 1}, name


def test_ids_are_numbered_in_order_and_references_resolve(data: Dataset) -> None:
    customers, orders = data.customers.records(), data.orders.records()
    invoices, interactions = data.invoices.records(), data.interactions.records()
    assert [c[0] for c in customers] == [f"C{i:07d}" for i in range(1, len(customers) + 1)]
    assert [o[0] for o in orders] == [f"O{i:08d}" for i in range(1, len(orders) + 1)]
    assert [r[0] for r in invoices] == [f"R{i:08d}" for i in range(1, len(invoices) + 1)]
    assert [x[0] for x in interactions] == [f"X{i:08d}" for i in range(1, len(interactions) + 1)]
    known = {c[0] for c in customers}
    assert {o[1] for o in orders} <= known
    assert {x[1] for x in interactions} <= known
    by_id = {o[0]: o for o in orders}
    # One invoice per booked order, for the order's customer, at its gross amount (19 % VAT, half up).
    assert sorted(r[2] for r in invoices) == sorted(o[0] for o in orders if o[6] == "booked")
    for invoice in invoices:
        order = by_id[invoice[2]]
        assert invoice[1] == order[1]
        gross = (Decimal(order[3]) * Decimal("1.19")).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert Decimal(invoice[6]) == gross, (invoice, order)
        assert _date_of(invoice[3]) - _moment(order[2]).date() in (timedelta(0), timedelta(1), timedelta(2))


def test_values_are_in_the_import_format(data: Dataset) -> None:
    for c in data.customers.records():
        assert c[1] in (f"Firma {int(c[0][1:])}", f"Kunde {int(c[0][1:])}"), c
        assert (c[2], c[1].split()[0]) in (("b2b", "Firma"), ("b2c", "Kunde"))
        assert AS_OF - timedelta(days=HISTORY_DAYS) <= _date_of(c[3]) < AS_OF
        assert (c[4], c[5]) == ("", "") or (bool(AMOUNT.fullmatch(c[4])), c[5]) == (True, "EUR"), c
        assert set(c[6:10]) <= {"true", "false"}
        assert c[10] in ("north", "south", "east", "west")
        assert c[6] == "false" or c[2] == "b2b", "key accounts are businesses"
    for o in data.orders.records():
        assert AMOUNT.fullmatch(o[3]), o
        assert AMOUNT.fullmatch(o[5]), o
        assert o[4] == "EUR"
        assert Decimal(o[5]) < Decimal(o[3])
        assert o[6] in ("booked", "cancelled", "returned")
    for r in data.invoices.records():
        assert AMOUNT.fullmatch(r[6]), r
        assert r[7] == "EUR"
        assert r[8] in ("0", "1", "2", "3")


def test_nothing_happens_after_as_of(data: Dataset) -> None:
    end = datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=UTC)
    first_contact = {c[0]: _date_of(c[3]) for c in data.customers.records()}
    for o in data.orders.records():
        assert first_contact[o[1]] <= _moment(o[2]).date() < AS_OF, o
    unpaid = 0
    for r in data.invoices.records():
        due = _date_of(r[4])
        assert _date_of(r[3]) <= due
        if r[5]:
            paid = _date_of(r[5])
            assert paid <= AS_OF, r
            assert (paid - due).days <= 14 or r[8] != "0", "late payers get dunned"
        else:
            unpaid += 1
            assert due + timedelta(days=94) > AS_OF, f"paid at most 94 days late, so paid by now: {r}"
    assert unpaid > 0
    resolved = 0
    for x in data.interactions.records():
        assert (x[2], x[3]) in (("inquiry", "web"), ("lead", "web"), ("complaint", "phone"), ("visit", "visit"))
        assert first_contact[x[1]] <= _moment(x[4]).date(), x
        assert _moment(x[4]) <= end, x
        if x[5]:
            resolved += 1
            assert x[2] == "complaint"
            assert _moment(x[4]) < _moment(x[5]) <= end, x
    assert resolved > 0


def test_complaints_resolved_after_as_of_are_still_open() -> None:
    # Enough customers that some complaints come in during as_of's last weeks and would resolve after it.
    end = datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=UTC)
    complaints = [x for x in generate(20_000, seed=1, as_of=AS_OF).interactions.records() if x[2] == "complaint"]
    recent = [x for x in complaints if end - _moment(x[4]) < timedelta(days=19)]
    assert len(recent) >= 10
    assert all(_moment(x[5]) <= end for x in complaints if x[5])
    assert 0.4 < sum(1 for x in complaints if x[5]) / len(complaints) < 0.7, "about 60 % are resolved"


def test_it_looks_like_a_customer_base(data: Dataset) -> None:
    records = data.customers.records()
    customers = {row[0] for row in records}
    for column, share in ((2, 0.6), (7, 0.55), (8, 0.25), (9, 0.7)):  # b2b; consent by email, phone, post
        assert abs(sum(1 for row in records if row[column] in ("b2b", "true")) / len(records) - share) < 0.05
    orders = data.orders.records()
    orders_by_buyer = Counter(row[1] for row in orders)
    buyers = set(orders_by_buyer)
    assert 7 <= len(orders) / len(customers) <= 13, len(orders) / len(customers)
    assert 0.05 < 1 - len(buyers) / len(customers) < 0.25, "some customers never ordered"
    one_time_buyers = sum(1 for count in orders_by_buyer.values() if count == 1)
    assert one_time_buyers > 0.1 * len(buyers), "first-time buyers who never came back exist"
    invoices = data.invoices.records()
    late = [row for row in invoices if int(row[8]) > 0]
    assert 0.02 < len(late) / len(invoices) < 0.4, "some invoices were dunned"
    assert 0.85 < len(invoices) / len(orders) < 0.97, "about 92 % of orders are booked and invoiced"
    inquiries = {row[1] for row in data.interactions.records() if row[2] in ("inquiry", "lead")}
    assert inquiries - buyers, "some prospects only asked"


@pytest.mark.parametrize("chunk", [4, 1 << 16])  # chunks of different widths, one chunk
def test_fields_format_like_python_does(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "_CHUNK", chunk)
    values = np.array([0, 5, 9, 10, 99, 100, 12345, 1_234_567, 12_345_678, 99_999_999, 123_456_789_012])
    present = values % 10 != 0
    days = np.array([0, 1, 59, 789, 365, 10_957, 11_016, 11_017, 20_780, 47_481, 8])  # since 1970, leap days too
    seconds = np.array([0, 1, 59, 60, 3599, 3600, 36_000, 43_261, 86_399, 7, 8])
    epoch = date(1970, 1, 1)
    table = synthetic._csv(
        "a,b,c,d,e,f,g,h,i",
        values.size,
        [
            synthetic._serial("X", pad=8),
            synthetic._number(values, prefix="C", pad=7),
            synthetic._number(values, cents=True),
            synthetic._number(values, present=present),
            synthetic._date(days, since=epoch),
            synthetic._timestamp(days, seconds, since=epoch, present=present),
            synthetic._text(["false", "true"], present),
            synthetic._concat(synthetic._text(["", "EUR"], present), synthetic._serial()),
            synthetic._text([""]),
        ],
    )
    lines = table.content.decode().split("\n")
    assert lines[0] == "a,b,c,d,e,f,g,h,i"
    assert lines[-1] == ""
    assert table.rows == values.size == len(lines) - 2
    for row, (line, v, p, d, s) in enumerate(zip(lines[1:-1], values, present, days, seconds, strict=True), 1):
        moment = datetime(1970, 1, 1) + timedelta(days=int(d), seconds=int(s))
        assert line == ",".join(
            [
                f"X{row:08d}",
                f"C{v:07d}",
                f"{v // 100}.{v % 100:02d}",
                str(v) if p else "",
                moment.date().isoformat(),
                moment.strftime("%Y-%m-%dT%H:%M:%SZ") if p else "",
                "true" if p else "false",
                f"{'EUR' if p else ''}{row}",
                "",
            ]
        )


def test_the_command_line_writes_the_four_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--customers", "50", "--seed", "3", "--as-of", "2026-11-23", "--out", str(tmp_path)]) == 0
    dataset = generate(50, seed=3, as_of=AS_OF)
    printed = capsys.readouterr().out
    for name, table in dataset.entities():
        assert (tmp_path / f"{name}.csv").read_bytes() == table.content
        assert f"{name}: {table.rows} rows" in printed


async def test_every_generated_row_imports_cleanly(client: httpx.AsyncClient) -> None:
    data = generate(300, seed=2, as_of=AS_OF)
    for entity, table in data.entities():
        response = await client.post(
            f"/v1/segmentation/imports/{entity}", content=table.content, headers={"Content-Type": "text/csv"}
        )
        job = response.json()
        assert (job["status"], job["rows_rejected"], job["rows_accepted"]) == ("succeeded", 0, table.rows), job
