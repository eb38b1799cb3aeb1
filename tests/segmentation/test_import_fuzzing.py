"""Bulk imports fuzzed: hypothesis writes CSV and NDJSON files of valid rows for every entity and mixes in one row
for every bad value of every field (NUL, lone surrogates, NaN and Infinity, 1e400 and 2^63, dates at the ends
of the calendar, fields the entity lacks or needs), in an order of its choosing. Never a 5xx; every bad row is
refused with an error on its line naming its field; every good row is stored; a file that cannot be read (a
column too many or too few) imports nothing at all, and a line with bytes that are not UTF-8 or a NUL is refused
alone (or the whole file is)."""

import itertools
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from segmentation.imports.fields import ENTITIES, Entity, Field

FUZZ = settings(
    max_examples=6,
    derandomize=True,  # the same files on every run
    # Every file holds every bad value already: a shrunk one would say no more, at minutes of imports.
    phases=[Phase.explicit, Phase.generate],
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
_ids = itertools.count()


class Raw(str):
    """NDJSON text written as it is: NaN, Infinity, 1e400 (no JSON encoder writes them)."""


@dataclass(frozen=True)
class Bad:
    label: str
    value: Any
    # Dates at the ends of the calendar may be within what the domain holds: stored and readable, or refused.
    may_be_stored: bool = False
    ndjson_only: bool = False


# In a CSV a NUL is a file Postgres's COPY cannot read: test_a_csv_that_cannot_be_read_imports_nothing has it.
NUL = Bad("NUL", "a\x00b", ndjson_only=True)
SURROGATE = Bad("lone surrogate", "\ud800", ndjson_only=True)  # in a CSV it is bytes that are not UTF-8: below
NUMBERS = (
    Bad('"NaN"', "NaN"),
    Bad('"Infinity"', "Infinity"),
    Bad('"1e400"', "1e400"),
    Bad("2^63", "9223372036854775808"),
    Bad("NaN", Raw("NaN"), ndjson_only=True),
    Bad("Infinity", Raw("Infinity"), ndjson_only=True),
    Bad("1e400", Raw("1e400"), ndjson_only=True),
)
BAD: dict[str, tuple[Bad, ...]] = {
    "external_id": (NUL, SURROGATE),
    "text": (NUL, SURROGATE),
    "amount": (*NUMBERS, Bad("-1", "-1")),
    "signed_amount": NUMBERS,
    "small_int": (NUL, Bad("2^63", "9223372036854775808"), Bad("-1", "-1"), Bad("NaN", Raw("NaN"), ndjson_only=True)),
    "date": (NUL, Bad("year 1", "0001-01-01", may_be_stored=True), Bad("year 9999", "9999-12-31", may_be_stored=True)),
    "timestamp": (
        NUL,
        Bad("year 1 at +14:00", "0001-01-01T00:00:00+14:00", may_be_stored=True),
        Bad("year 9999 at -14:00", "9999-12-31T23:59:59-14:00", may_be_stored=True),
        Bad("a day alone in the year 1", "0001-01-01"),
        Bad("a day alone the calendar lacks", "2026-02-29"),
    ),
    "bool": (NUL,),
    "enum": (NUL, SURROGATE),
    "currency": (NUL, Bad("NaN", Raw("NaN"), ndjson_only=True)),
}


def good_value(entity: Entity, field: Field, external_id: str) -> st.SearchStrategy[str | None]:
    """A valid cell; cross-field rules are met by fixed values (due after issued, no resolution time)."""
    if field.path == "external_id":
        return st.just(external_id)
    if field.path == "customer_external_id":
        return st.just(f"C{external_id}")  # made by create_missing_customer
    if field.path in ("order_external_id", "paid_on", "resolved_at"):
        return st.none()
    if field.path in ("issued_on", "due_on"):
        return st.just({"issued_on": "2026-03-02", "due_on": "2026-04-01"}[field.path])
    optional = st.none() if not field.required and field.path != "revenue_potential.currency" else st.nothing()
    values: dict[str, st.SearchStrategy[str]] = {
        "text": st.text("abcxyzÄÖü ,;\"'-0123", min_size=1, max_size=20).map(str.strip).filter(bool),
        "amount": st.decimals(0, 10**6, places=2).map(str),
        "signed_amount": st.decimals(-(10**6), 10**6, places=2).map(str),
        "small_int": st.integers(0, field.maximum or 9).map(str),
        "date": st.dates(date(2000, 1, 1), date(2030, 12, 31)).map(date.isoformat),
        "timestamp": st.datetimes(datetime(2000, 1, 1), datetime(2030, 12, 31)).map(
            lambda moment: moment.replace(tzinfo=UTC, microsecond=0).isoformat()
        )
        | st.dates(date(2000, 1, 1), date(2030, 12, 31)).map(date.isoformat),  # a day alone: its start
        "bool": st.sampled_from(["true", "false"]),
        "enum": st.sampled_from(field.choices or ("x",)),
        "currency": st.just("EUR"),
    }
    if field.path == "revenue_potential.amount":
        return values["amount"]  # always with its currency: both or neither
    return values[field.kind] | optional if field.kind in values else st.none()


@dataclass
class Row:
    values: dict[str, Any]
    # (field, label) of its bad value; None for a good row
    bad: tuple[str, Bad] | None = None


@st.composite
def import_file(draw: st.DrawFn, entity: Entity, file_format: str) -> list[Row]:
    """Good rows, and one row for every bad value of every field (each with its own external id), mixed."""
    prefix = f"F{next(_ids)}-"
    serial = itertools.count()

    def good_row() -> dict[str, Any]:
        external_id = f"{prefix}{next(serial)}"
        return {f.path: draw(good_value(entity, f, external_id)) for f in entity.fields}

    rows = [Row(good_row()) for _ in range(draw(st.integers(1, 4)))]
    for field in entity.fields:
        for bad in BAD.get(field.kind, ()):
            if bad.ndjson_only and file_format != "ndjson":
                continue
            row = good_row()
            if field.path == "external_id":
                row["customer_external_id"] = f"C{prefix}{next(serial)}" if "customer_external_id" in row else None
            row[field.path] = bad.value
            rows.append(Row(row, (field.path, bad)))
    if file_format == "ndjson":
        # A field the entity does not have; a required one missing.
        extra = good_row()
        extra["fuzz_extra"] = "1"
        rows.append(Row(extra, ("fuzz_extra", Bad("a field the entity lacks", "1"))))
        missing = good_row()
        required = next(f.path for f in entity.fields if f.required and f.path != "external_id")
        del missing[required]
        rows.append(Row(missing, (required, Bad(f"no {required}", None))))
    return draw(st.permutations(rows))


def to_ndjson(rows: list[Row]) -> bytes:
    def line(values: dict[str, Any]) -> str:
        nested: dict[str, Any] = {}
        raws: list[str] = []
        for path, value in values.items():
            if value is None:
                continue
            if isinstance(value, Raw):
                raws.append(value)
                value = f"@@raw{len(raws) - 1}@@"
            elif value in ("true", "false") and path.startswith(("consent.", "key_account")):
                value = value == "true"
            node = nested
            *parents, leaf = path.split(".")
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = value
        text = json.dumps(nested)
        for index, raw in enumerate(raws):
            text = text.replace(f'"@@raw{index}@@"', raw)
        return text

    return "".join(line(row.values) + "\n" for row in rows).encode()


def to_csv(entity: Entity, rows: list[Row], header: list[str] | None = None) -> bytes:
    header = header or [f.path for f in entity.fields]

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n\r') else text

    lines = [",".join(header)] + [",".join(cell(row.values.get(path)) for path in header) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def line_of(index: int, file_format: str) -> int:
    return index + (2 if file_format == "csv" else 1)  # a CSV's line 1 is its header


async def _import(client: httpx.AsyncClient, entity: str, body: bytes, file_format: str) -> httpx.Response:
    content_type = {"csv": "text/csv", "ndjson": "application/x-ndjson"}[file_format]
    return await client.post(
        f"/v1/segmentation/imports/{entity}",
        content=body,
        headers={"Content-Type": content_type},
        params={"create_missing_customer": "true"},
    )


async def _errors(client: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/segmentation/imports/{job_id}/errors", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def _stored(client: httpx.AsyncClient, entity: str, external_id: str) -> bool:
    if re.search("[\x00-\x1f\x7f\ud800-\udfff]", external_id):
        return False  # no id holds these (Postgres text cannot hold NUL): the API refuses them in a path
    response = await client.get(f"/v1/segmentation/{entity}/{quote(external_id, safe='')}")
    assert response.status_code in (200, 404), f"reading {entity}/{external_id} back: {response.text}"
    return response.status_code == 200


async def check_import(client: httpx.AsyncClient, entity: str, file_format: str, rows: list[Row]) -> None:
    body = to_ndjson(rows) if file_format == "ndjson" else to_csv(ENTITIES[entity], rows)
    response = await _import(client, entity, body, file_format)
    assert response.status_code == 201, f"{response.status_code} {response.text}\n{body.decode(errors='replace')}"
    job = response.json()
    errors = await _errors(client, job["id"])
    refused = {(e["line"], e["field"]) for e in errors}
    refused_lines = {e["line"] for e in errors}
    problems = []
    for index, row in enumerate(rows):
        line = line_of(index, file_format)
        stored = await _stored(client, entity, row.values["external_id"]) if row.values.get("external_id") else False
        if row.bad is None:
            if line in refused_lines or not stored:
                problems.append(f"line {line}, a good row, was not stored: {[e for e in errors if e['line'] == line]}")
            continue
        field, bad = row.bad
        if bad.may_be_stored and stored and line not in refused_lines:
            continue
        if (line, field) not in refused:
            said = [e for e in errors if e["line"] == line]
            problems.append(f"line {line}: {bad.label} in {field} was not refused naming {field}: {said}")
        if stored and isinstance(row.values["external_id"], str) and "\x00" not in row.values["external_id"]:
            problems.append(f"line {line}: {bad.label} in {field} was refused, yet its row is stored")
    assert job["rows_received"] == len(rows), job
    assert job["rows_accepted"] + job["rows_rejected"] == len(rows), job
    assert not problems, "\n".join(problems) + "\n" + body.decode(errors="backslashreplace")


@given(data=st.data())
@FUZZ
async def test_every_bad_value_in_an_ndjson_import_refuses_its_row_alone(
    client: httpx.AsyncClient, data: st.DataObject
) -> None:
    for entity in ENTITIES:
        await check_import(client, entity, "ndjson", data.draw(import_file(ENTITIES[entity], "ndjson"), entity))


@given(data=st.data())
@FUZZ
async def test_every_bad_value_in_a_csv_import_refuses_its_row_alone(
    client: httpx.AsyncClient, data: st.DataObject
) -> None:
    for entity in ENTITIES:
        await check_import(client, entity, "csv", data.draw(import_file(ENTITIES[entity], "csv"), entity))


def unreadable_csv(entity: Entity, rows: list[Row], how: str) -> bytes:
    header = [f.path for f in entity.fields]
    if how == "a required column missing":
        header.remove(next(f.path for f in entity.fields if f.required and f.path != "external_id"))
    if how == "a column the entity lacks":
        header.append("fuzz_extra")
    body = to_csv(entity, rows, header)
    if how == "not UTF-8":
        # A lone surrogate as UTF-8 would write it: bytes that are not UTF-8, on the last line
        return body[:-1] + b"\xed\xa0\x80\n"
    if how == "a cell too many":
        return body[:-1] + b",1\n"
    if how == "a NUL byte":
        return body[:-1] + b"\x00\n"
    return body


UNREADABLE = ["not UTF-8", "a column the entity lacks", "a required column missing", "a cell too many", "a NUL byte"]


@given(data=st.data(), how=st.sampled_from(UNREADABLE))
@FUZZ
async def test_a_csv_that_cannot_be_read_imports_nothing(
    client: httpx.AsyncClient, data: st.DataObject, how: str
) -> None:
    for name, entity in ENTITIES.items():
        prefix = f"U{next(_ids)}-"
        rows = [
            Row({f.path: data.draw(good_value(entity, f, f"{prefix}{i}")) for f in entity.fields}) for i in range(3)
        ]
        body = unreadable_csv(entity, rows, how)
        response = await _import(client, name, body, "csv")
        if how in ("a NUL byte", "not UTF-8") and response.status_code == 201:
            # Or the line holding them alone is refused, the others stored.
            assert [e["line"] for e in await _errors(client, response.json()["id"])] == [4], how
            assert [await _stored(client, name, row.values["external_id"]) for row in rows] == [True, True, False]
            continue
        assert response.status_code == 422, f"{how}: {response.status_code} {response.text}"
        assert response.headers["content-type"].startswith("application/problem+json")
        for row in rows:
            assert not await _stored(client, name, row.values["external_id"]), f"{how}: a row of it was stored"
