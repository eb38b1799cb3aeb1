"""Times given as a day alone (`2026-12-01`, as many ERPs send them): the start of that day in the company's time
zone, through the PUTs and the imports alike, and counted on that day by the classifications."""

import asyncio
import json

import httpx
import pytest

BERLIN_MIDNIGHT = "2026-11-30T23:00:00Z"  # 2026-12-01 00:00 in Europe/Berlin (CET, UTC+1)
ORDER = {"customer_external_id": "K-1", "ordered_at": "2026-12-01", "net_amount": "100.00", "currency": "EUR"}
INTERACTION = {"customer_external_id": "K-1", "kind": "inquiry", "channel": "phone", "occurred_at": "2026-12-01"}


async def in_zone(client: httpx.AsyncClient, zone: str = "Europe/Berlin") -> None:
    response = await client.put("/v1/segmentation/config", json={"time_zone": zone})
    assert response.status_code == 200, response.text


async def customer(client: httpx.AsyncClient, external_id: str = "K-1") -> None:
    response = await client.put(f"/v1/segmentation/customers/{external_id}", json={"name": "Kunde", "kind": "b2b"})
    assert response.status_code in (200, 201)


async def classification_as_of(client: httpx.AsyncClient, as_of: str, external_id: str = "K-1") -> dict:
    started = await client.post("/v1/segmentation/runs", json={"as_of": as_of})
    assert started.status_code == 202, started.text
    for _ in range(500):
        run = (await client.get(started.headers["location"])).json()
        if run["status"] != "running":
            break
        await asyncio.sleep(0.02)
    assert run["status"] == "succeeded", run
    return (await client.get(f"/v1/segmentation/customers/{external_id}/profile")).json()["classification"]


async def imported(client: httpx.AsyncClient, entity: str, file_format: str, rows: list[dict], **params: str) -> dict:
    if file_format == "csv":
        columns = list(rows[0])
        body = ",".join(columns) + "\n" + "".join(",".join(row.get(c) or "" for c in columns) + "\n" for row in rows)
        content_type = "text/csv"
    else:
        body = "".join(json.dumps(row) + "\n" for row in rows)
        content_type = "application/x-ndjson"
    headers = {"Content-Type": content_type}
    response = await client.post(
        f"/v1/segmentation/imports/{entity}", content=body.encode(), headers=headers, params=params
    )
    assert response.status_code == 201, response.text
    return response.json()


async def row_errors(client: httpx.AsyncClient, job: dict) -> list[tuple[int, str, str]]:
    page = (await client.get(f"/v1/segmentation/imports/{job['id']}/errors")).json()
    return [(e["line"], e["field"], e["message"]) for e in page["items"]]


async def test_an_order_of_a_day_alone_is_stored_as_that_days_midnight_and_counts_on_that_day(
    client: httpx.AsyncClient,
) -> None:
    await in_zone(client)
    await customer(client)
    response = await client.put("/v1/segmentation/orders/A-1", json=ORDER)
    assert response.status_code == 201, response.text
    assert response.json()["ordered_at"] == BERLIN_MIDNIGHT
    assert (await client.get("/v1/segmentation/orders/A-1")).json()["ordered_at"] == BERLIN_MIDNIGHT

    # In UTC that instant is still 30 November; in the company's zone it is the first moment of 1 December.
    day_before = await classification_as_of(client, "2026-11-30")
    assert (day_before["lifecycle"], day_before["order_count"]) == ("prospect", 0)
    that_day = await classification_as_of(client, "2026-12-01")
    assert (that_day["lifecycle"], that_day["first_order_on"], that_day["last_order_on"]) == (
        "new",
        "2026-12-01",
        "2026-12-01",
    )


async def test_an_interaction_of_a_day_alone_is_stored_as_that_days_midnight_and_counts_on_that_day(
    client: httpx.AsyncClient,
) -> None:
    await in_zone(client)
    await customer(client)
    body = {**INTERACTION, "resolved_at": "2026-12-02"}
    response = await client.put("/v1/segmentation/interactions/I-1", json=body)
    assert response.status_code == 201, response.text
    assert (response.json()["occurred_at"], response.json()["resolved_at"]) == (BERLIN_MIDNIGHT, "2026-12-01T23:00:00Z")
    assert (await classification_as_of(client, "2026-11-30"))["z_stage"] == "Z0", "no contact yet that day"
    assert (await classification_as_of(client, "2026-12-01"))["z_stage"] == "Z1", "a contact on 1 December"


async def test_a_time_is_compared_with_a_day_alone_as_with_the_start_of_that_day(client: httpx.AsyncClient) -> None:
    await in_zone(client)
    await customer(client)
    after_midnight = {**INTERACTION, "resolved_at": "2026-11-30T23:30:00Z"}  # 00:30 on 1 December in Berlin
    assert (await client.put("/v1/segmentation/interactions/I-1", json=after_midnight)).status_code == 201
    before_midnight = {**INTERACTION, "resolved_at": "2026-11-30T22:30:00Z"}  # 23:30 on 30 November in Berlin
    response = await client.put("/v1/segmentation/interactions/I-2", json=before_midnight)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.resolved_at"]


@pytest.mark.parametrize(
    ("day", "message"),
    [
        ("1899-12-31", "must lie between 1900-01-01 and 2099-12-31"),
        ("2100-01-01", "must lie between 1900-01-01 and 2099-12-31"),
        ("2026-02-30", "day value is outside expected range"),
        ("2026-12-1", "Input should be a valid datetime or date"),
    ],
)
async def test_a_day_alone_out_of_bounds_or_malformed_is_a_422_naming_the_field(
    client: httpx.AsyncClient, day: str, message: str
) -> None:
    await in_zone(client)
    await customer(client)
    for path, body, field in (
        ("orders/A-1", {**ORDER, "ordered_at": day}, "body.ordered_at"),
        ("interactions/I-1", {**INTERACTION, "occurred_at": day}, "body.occurred_at"),
        ("interactions/I-1", {**INTERACTION, "resolved_at": day}, "body.resolved_at"),
    ):
        response = await client.put(f"/v1/segmentation/{path}", json=body)
        assert response.status_code == 422, (path, body)
        assert [e["field"] for e in response.json()["errors"]] == [field]
        assert message in response.json()["errors"][0]["message"]
    assert (await client.get("/v1/segmentation/orders/A-1")).status_code == 404


@pytest.mark.parametrize("file_format", ["csv", "ndjson"])
async def test_imported_orders_of_a_day_alone_are_stored_and_counted_as_the_puts_are(
    client: httpx.AsyncClient, file_format: str
) -> None:
    await in_zone(client)
    await customer(client)
    rows = [
        {**ORDER, "external_id": "A-1"},
        {**ORDER, "external_id": "A-2", "ordered_at": "2026-12-01T10:00:00+01:00"},  # times still taken as they are
        {**ORDER, "external_id": "A-3", "ordered_at": "1899-12-31"},
        {**ORDER, "external_id": "A-4", "ordered_at": "2026-02-30"},
        {**ORDER, "external_id": "A-5", "ordered_at": "2026-12-1"},
    ]
    job = await imported(client, "orders", file_format, rows)
    assert (job["rows_accepted"], job["rows_rejected"]) == (2, 3), job
    first_line = 2 if file_format == "csv" else 1
    assert await row_errors(client, job) == [
        (first_line + 2, "ordered_at", "must lie between 1900-01-01 and 2099-12-31"),
        (first_line + 3, "ordered_at", "is not a day of the calendar"),
        (first_line + 4, "ordered_at", "must be an RFC 3339 time with a time zone, or a day YYYY-MM-DD"),
    ]
    assert (await client.get("/v1/segmentation/orders/A-1")).json()["ordered_at"] == BERLIN_MIDNIGHT
    assert (await client.get("/v1/segmentation/orders/A-2")).json()["ordered_at"] == "2026-12-01T09:00:00Z"
    assert (await classification_as_of(client, "2026-11-30"))["order_count"] == 0
    that_day = await classification_as_of(client, "2026-12-01")
    assert (that_day["order_count"], that_day["first_order_on"], that_day["last_order_on"]) == (
        2,
        "2026-12-01",
        "2026-12-01",
    )

    replay = await imported(client, "orders", file_format, rows[:2])
    assert (replay["rows_unchanged"], replay["rows_updated"]) == (2, 0), "the same instants as stored"


@pytest.mark.parametrize("file_format", ["csv", "ndjson"])
async def test_imported_interactions_of_a_day_alone_are_stored_and_checked_as_the_puts_are(
    client: httpx.AsyncClient, file_format: str
) -> None:
    await in_zone(client)
    await customer(client)
    rows = [
        {**INTERACTION, "external_id": "I-1", "resolved_at": "2026-12-02"},
        {**INTERACTION, "external_id": "I-2", "resolved_at": "2026-11-30T23:30:00Z"},  # 00:30 in Berlin: after
        {**INTERACTION, "external_id": "I-3", "resolved_at": "2026-11-30T22:30:00Z"},  # 23:30 the day before
        {**INTERACTION, "external_id": "I-4", "occurred_at": "2100-01-01"},
    ]
    job = await imported(client, "interactions", file_format, rows)
    assert (job["rows_accepted"], job["rows_rejected"]) == (2, 2), job
    first_line = 2 if file_format == "csv" else 1
    assert await row_errors(client, job) == [
        (first_line + 2, "resolved_at", "must not be before occurred_at"),
        (first_line + 3, "occurred_at", "must lie between 1900-01-01 and 2099-12-31"),
    ]
    stored = (await client.get("/v1/segmentation/interactions/I-1")).json()
    assert (stored["occurred_at"], stored["resolved_at"]) == (BERLIN_MIDNIGHT, "2026-12-01T23:00:00Z")
    assert (await classification_as_of(client, "2026-11-30"))["z_stage"] == "Z0"
    assert (await classification_as_of(client, "2026-12-01"))["z_stage"] == "Z1"


async def test_a_day_whose_midnight_the_zone_skips_starts_at_the_same_instant_by_put_and_import(
    client: httpx.AsyncClient,
) -> None:
    # Chile moves its clocks from 00:00 to 01:00 on 6 September 2026: the day begins at 01:00 (-03:00).
    await in_zone(client, "America/Santiago")
    await customer(client)
    put = await client.put("/v1/segmentation/orders/A-1", json={**ORDER, "ordered_at": "2026-09-06"})
    job = await imported(client, "orders", "csv", [{**ORDER, "external_id": "A-2", "ordered_at": "2026-09-06"}])
    assert job["rows_accepted"] == 1
    stored = (await client.get("/v1/segmentation/orders/A-2")).json()["ordered_at"]
    assert put.json()["ordered_at"] == stored == "2026-09-06T04:00:00Z"


async def test_the_api_documents_a_day_alone_for_a_time(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for model, field in (("OrderUpsert", "ordered_at"), ("InteractionUpsert", "occurred_at")):
        assert {branch["format"] for branch in schemas[model]["properties"][field]["anyOf"]} == {"date-time", "date"}
        assert "company's time zone" in schemas[model]["properties"][field]["description"]
    assert schemas["Order"]["properties"]["ordered_at"]["format"] == "date-time", "always shown as a time"


async def test_the_import_takes_create_missing_customer_as_the_puts_spell_it_and_its_former_spelling(
    client: httpx.AsyncClient,
) -> None:
    row = {**ORDER, "ordered_at": "2026-12-01T10:00:00Z"}
    refused = await imported(client, "orders", "csv", [{**row, "external_id": "A-0", "customer_external_id": "N-0"}])
    assert await row_errors(client, refused) == [(2, "customer_external_id", "no customer with this external_id")]
    spellings = [
        {"create_missing_customer": "true"},
        {"create_missing_customers": "true"},  # deprecated, still taken
        {"create_missing_customer": "true", "create_missing_customers": "true"},
    ]
    for n, params in enumerate(spellings, start=1):
        rows = [{**row, "external_id": f"A-{n}", "customer_external_id": f"N-{n}"}]
        job = await imported(client, "orders", "csv", rows, **params)
        assert (job["rows_accepted"], job["customers_created"], job["create_missing_customers"]) == (1, 1, True), params
        assert (await client.get(f"/v1/segmentation/customers/N-{n}")).json()["auto_created"] is True


async def test_spellings_that_contradict_each_other_and_unknown_parameters_are_refused(
    client: httpx.AsyncClient,
) -> None:
    body = b"external_id,customer_external_id,ordered_at,net_amount,currency\nA-9,N-9,2026-12-01T10:00:00Z,1.00,EUR\n"
    for params, field in (
        ({"create_missing_customer": "false", "create_missing_customers": "true"}, "query.create_missing_customers"),
        ({"create_missing_customerz": "true"}, "query.create_missing_customerz"),
    ):
        response = await client.post(
            "/v1/segmentation/imports/orders", content=body, headers={"Content-Type": "text/csv"}, params=params
        )
        assert response.status_code == 422, params
        assert [e["field"] for e in response.json()["errors"]] == [field]
    # The former spelling was the import's alone: a PUT never took it.
    put = await client.put(
        "/v1/segmentation/orders/A-9",
        json={**ORDER, "customer_external_id": "N-9"},
        params={"create_missing_customers": "true"},
    )
    assert (put.status_code, [e["field"] for e in put.json()["errors"]]) == (422, ["query.create_missing_customers"])
    assert (await client.get("/v1/segmentation/customers/N-9")).status_code == 404
    assert (await client.get("/v1/segmentation/imports")).json()["items"] == [], "no import was started"


async def test_the_former_spelling_is_documented_as_deprecated(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    parameters = {p["name"]: p for p in document["paths"]["/v1/segmentation/imports/{entity}"]["post"]["parameters"]}
    assert parameters["create_missing_customer"].get("deprecated", False) is False
    assert parameters["create_missing_customers"]["deprecated"] is True
