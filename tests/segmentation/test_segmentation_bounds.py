"""Values outside what the domain allows are refused where they enter, with the range, and change nothing:
configuration values, far dates in filters, amounts too large for their columns, and import rows with NaN,
lone surrogates, NUL or bytes that are not UTF-8."""

import asyncpg
import httpx
import pytest

from servicekit.settings import plain_database_url

ORDER = {"customer_external_id": "K-1", "ordered_at": "2026-03-14T09:30:00Z", "net_amount": "10.00", "currency": "EUR"}


async def _customer(client: httpx.AsyncClient, external_id: str = "K-1") -> None:
    response = await client.put(f"/v1/segmentation/customers/{external_id}", json={"name": "Kunde", "kind": "b2b"})
    assert response.status_code in (200, 201)


async def _run(client: httpx.AsyncClient) -> dict:
    started = await client.post("/v1/segmentation/runs", json={"as_of": "2026-06-30"})
    assert started.status_code == 202, started.text
    for _ in range(500):
        run = (await client.get(started.headers["location"])).json()
        if run["status"] != "running":
            return run
    raise AssertionError("the run did not finish")


def _error(response: httpx.Response) -> tuple[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    (error,) = response.json()["errors"]
    return error["field"], error["message"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("trend_window_days", 2**63, "must be from 7 to 3650 days"),
        ("new_customer_days", 2**63, "must be from 1 to 3650 days"),
        ("late_average_days", -1, "must be from 0 to 3650 days"),
        ("growth_ratio", "1e400", "must be greater than 1 and at most 100"),
        ("sharp_fall_ratio", "1e400", "must be greater than 0 and less than 1"),
        ("abc_a_share", "1e400", "must be greater than 0 and at most 1"),
        ("key_account_min_revenue", "1e30", "must be from 0 to 999999999999.99, with at most 2 decimal places"),
        ("key_account_top_n", 2**63, "must be from 1 to 1000000"),
    ],
)
async def test_a_configuration_value_outside_its_range_is_refused_with_the_range(
    client: httpx.AsyncClient, name: str, value: object, message: str
) -> None:
    config = (await client.get("/v1/segmentation/config")).json()
    response = await client.put("/v1/segmentation/config", json={**config, name: value})
    assert _error(response) == (f"body.{name}", message)
    assert (await client.get("/v1/segmentation/config")).json() == config, "nothing changed"
    await _customer(client)
    assert (await client.put("/v1/segmentation/orders/A-1", json=ORDER)).status_code == 201, "orders still work"
    assert (await _run(client))["status"] == "succeeded", "and so do runs"


async def test_an_exchange_rate_is_bounded(client: httpx.AsyncClient) -> None:
    config = (await client.get("/v1/segmentation/config")).json()
    response = await client.put("/v1/segmentation/config", json={**config, "exchange_rates": {"USD": "1e30"}})
    assert _error(response) == (
        "body.exchange_rates.USD",
        "must be greater than 0 and at most 1000000, with at most 8 decimal places",
    )


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/segmentation/orders", {"ordered_before": "9999-12-31T23:59:59-14:00"}),
        ("/v1/segmentation/orders", {"ordered_from": "0001-01-01T00:00:00+14:00"}),
        ("/v1/segmentation/customers", {"updated_since": "0001-01-01T00:00:00+14:00"}),
        ("/v1/segmentation/interactions", {"occurred_from": "0001-01-01T00:00:00+14:00"}),
        ("/v1/segmentation/invoices", {"overdue_on": "0001-01-01"}),
        ("/v1/segmentation/profiles", {"last_order_from": "9999-12-31"}),
    ],
)
async def test_a_date_filter_outside_the_supported_range_is_refused(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params=params)
    (name,) = params
    assert _error(response) == (f"query.{name}", "must lie between 1900-01-01 and 2099-12-31")


async def test_a_run_as_of_a_far_day_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/segmentation/runs", json={"as_of": "0001-01-01"})
    assert _error(response) == ("body.as_of", "must lie between 1900-01-01 and 2099-12-31")
    assert (await client.get("/v1/segmentation/runs")).json() == [], "no run was started"


async def test_an_amount_too_large_for_its_column_is_refused(client: httpx.AsyncClient) -> None:
    await _customer(client)
    response = await client.put("/v1/segmentation/orders/A-1", json={**ORDER, "net_amount": "99999999999999999"})
    assert _error(response) == ("body.net_amount", "must be from 0 to 999999999999.99, with at most 2 decimal places")
    assert (await client.get("/v1/segmentation/orders/A-1")).status_code == 404


async def test_an_amount_too_large_once_converted_is_refused(client: httpx.AsyncClient) -> None:
    config = (await client.get("/v1/segmentation/config")).json()
    assert (await client.put("/v1/segmentation/config", json={**config, "exchange_rates": {"IRR": "50000"}})).is_success
    await _customer(client)
    large = {**ORDER, "net_amount": "900000000000.00", "currency": "IRR"}
    field, message = _error(await client.put("/v1/segmentation/orders/A-1", json=large))
    assert field == "body.net_amount"
    assert "more than the largest amount" in message
    csv = (
        "external_id,customer_external_id,ordered_at,net_amount,currency\n"
        "A-2,K-1,2026-03-14T09:30:00Z,900000000000,IRR\n"
    )
    job = await _import(client, "orders", csv.encode(), "text/csv")
    assert (job["rows_accepted"], job["rows_rejected"]) == (0, 1)
    assert [e["field"] for e in await _errors(client, job["id"])] == ["net_amount"]


async def _import(client: httpx.AsyncClient, entity: str, body: bytes, content_type: str) -> dict:
    response = await client.post(
        f"/v1/segmentation/imports/{entity}", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _errors(client: httpx.AsyncClient, job_id: str) -> list[dict]:
    return (await client.get(f"/v1/segmentation/imports/{job_id}/errors")).json()["items"]


def _line(external_id: str, net_amount: str = '"10.00"', customer: str = '"K-1"') -> str:
    return (
        f'{{"external_id": "{external_id}", "customer_external_id": {customer}, '
        f'"ordered_at": "2026-03-14T09:30:00Z", "net_amount": {net_amount}, "currency": "EUR"}}'
    )


async def test_ndjson_lines_that_json_cannot_hold_are_refused_with_the_reason(client: httpx.AsyncClient) -> None:
    await _customer(client)
    lines = [
        _line("A-1"),
        _line("A-2", net_amount="NaN"),
        _line("A-3", net_amount="Infinity"),
        _line("A-4", customer='"K\\ud800"'),
        _line("A-5", customer='"K\\u0000"'),
        _line("A-6", customer='"K\x00"'),
        '{"external_id": "A-7", "customer_external_id": "K-1" ',
    ]
    job = await _import(client, "orders", "\n".join(lines).encode() + b"\n", "application/x-ndjson")
    assert (job["rows_received"], job["rows_accepted"], job["rows_rejected"]) == (7, 1, 6)
    assert [(e["line"], e["field"], e["message"]) for e in await _errors(client, job["id"])] == [
        (2, "net_amount", "must be a number: NaN and Infinity are not JSON"),
        (3, "net_amount", "must be a number: NaN and Infinity are not JSON"),
        (4, "customer_external_id", "holds a lone surrogate (\\ud800 to \\udfff), which is not a character"),
        (5, "customer_external_id", "holds \\u0000 (NUL), which text cannot hold"),
        (6, "customer_external_id", "holds a NUL character, which text cannot hold"),
        (7, "line", "is not JSON: invalid input syntax for type json (The input string ended unexpectedly.)"),
    ]
    assert (await client.get("/v1/segmentation/orders/A-1")).status_code == 200


async def test_csv_fields_with_nul_or_bytes_not_utf8_are_refused_rows(client: httpx.AsyncClient) -> None:
    await _customer(client)
    body = (
        b"external_id,name,kind,attributes.note\n"
        b"K-2,Gut GmbH,b2b,fine\n"
        b"K-3,Nul\x00 GmbH,b2b,\n"
        b"K-4,Latin-1 M\xfcller,b2b,\n"
        b"K-5,Note,b2c,a\x00b\n"
        b"K-6,Mark \xef\xb7\x90,b2c,\n"
    )
    job = await _import(client, "customers", body, "text/csv")
    assert (job["status"], job["rows_accepted"], job["rows_rejected"]) == ("succeeded", 1, 4)
    assert [(e["line"], e["field"], e["message"]) for e in await _errors(client, job["id"])] == [
        (3, "name", "holds a NUL character, which text cannot hold"),
        (4, "name", "holds bytes that are not UTF-8 text"),
        (5, "attributes.note", "holds a NUL character, which text cannot hold"),
        (6, "name", "holds bytes that are not UTF-8 text"),
    ]
    assert (await client.get("/v1/segmentation/customers/K-2")).json()["attributes"] == {"note": "fine"}
    assert (await client.get("/v1/segmentation/customers/K-3")).status_code == 404


async def test_import_numbers_too_large_for_their_column_are_refused_rows(client: httpx.AsyncClient) -> None:
    await _customer(client)
    lines = [_line("A-1", net_amount='"99999999999999999"'), _line("A-2", net_amount="1e400"), _line("A-3")]
    job = await _import(client, "orders", "\n".join(lines).encode(), "application/x-ndjson")
    assert (job["status"], job["rows_accepted"], job["rows_rejected"]) == ("succeeded", 1, 2)
    errors = await _errors(client, job["id"])
    assert [(e["line"], e["field"], e["message"]) for e in errors] == [
        (1, "net_amount", "must be from 0 to 999999999999.99"),
        (2, "net_amount", "must be from 0 to 999999999999.99"),
    ]


async def test_a_value_stored_before_its_bound_existed_falls_back_to_its_default(
    client: httpx.AsyncClient, db_url: str
) -> None:
    # A database that took `"trend_window_days": 2**63` before the bound existed: every ingest and run was a 500.
    defaults = (await client.get("/v1/segmentation/config")).json()
    assert (await client.put("/v1/segmentation/config", json=defaults)).status_code == 200
    await _customer(client)
    assert (await client.put("/v1/segmentation/orders/A-1", json=ORDER)).status_code == 201
    assert (await _run(client))["status"] == "succeeded"
    connection = await asyncpg.connect(plain_database_url(db_url))
    try:
        for table in ("settings", "classification_bases"):
            await connection.execute(
                f"UPDATE segmentation.{table} SET thresholds = thresholds || jsonb_build_object("
                "'trend_window_days', 9223372036854775808::numeric, 'new_customer_days', 120)"
            )
    finally:
        await connection.close()
    config = await client.get("/v1/segmentation/config")
    assert config.status_code == 200
    assert config.json()["trend_window_days"] == defaults["trend_window_days"], "the default, the rest as stored"
    assert config.json()["new_customer_days"] == 120
    assert (await client.put("/v1/segmentation/orders/A-2", json=ORDER)).status_code == 201, "ingests work"
    assert (await client.get("/v1/segmentation/customers/K-1/profile")).status_code == 200, "profiles too"
    assert (await _run(client))["status"] == "succeeded", "and runs"
    repaired = await client.put("/v1/segmentation/config", json={**config.json(), "trend_window_days": 180})
    assert repaired.status_code == 200
    assert (await client.get("/v1/segmentation/config")).json()["trend_window_days"] == 180
