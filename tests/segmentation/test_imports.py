"""Bulk imports as an ERP integrator meets them: what is stored, what is refused and why, replays."""

import asyncio
import base64
import json
from datetime import datetime

import asyncpg
import httpx

from segmentation.main import create_app
from segmentation.settings import SegmentationSettings
from servicekit.testing import app_client

CUSTOMERS_CSV = """\
external_id,name,kind,consent.email,revenue_potential.amount,revenue_potential.currency,attributes.industry
K-1,Müller GmbH,b2b,true,120000.00,EUR,machinery
K-2,"Schmidt, Anna",b2c,false,,,
K-3,Broken,b2x,maybe,12.345,EUR,
K-1,Again,b2b,true,,,
"""


def ndjson(*rows: object) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


async def _import(client: httpx.AsyncClient, entity: str, body: bytes, content_type: str, **params: str):
    return await client.post(
        f"/v1/segmentation/imports/{entity}", content=body, headers={"Content-Type": content_type}, params=params
    )


async def _errors(client: httpx.AsyncClient, job_id: str) -> list[tuple[int, str]]:
    page = (await client.get(f"/v1/segmentation/imports/{job_id}/errors")).json()
    return [(e["line"], e["field"]) for e in page["items"]]


async def test_csv_import_stores_valid_rows_and_lists_the_refused_ones(client: httpx.AsyncClient) -> None:
    response = await _import(client, "customers", CUSTOMERS_CSV.encode(), "text/csv")
    assert response.status_code == 201, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/segmentation/imports/{job['id']}"
    assert (job["status"], job["rows_received"], job["rows_accepted"], job["rows_rejected"]) == ("succeeded", 4, 2, 2)
    assert job["rows_created"] == 2
    assert datetime.fromisoformat(job["created_at"]) <= datetime.fromisoformat(job["finished_at"])
    assert await _errors(client, job["id"]) == [
        (4, "consent.email"),
        (4, "kind"),
        (4, "revenue_potential.amount"),
        (5, "external_id"),
    ]
    k1 = (await client.get("/v1/segmentation/customers/K-1")).json()
    assert k1["name"] == "Müller GmbH", "the repeated K-1 on line 5 was refused, not applied"
    assert k1["revenue_potential"] == {"amount": "120000.00", "currency": "EUR"}
    assert k1["attributes"] == {"industry": "machinery"}
    assert k1["consent"]["email"] is True
    assert (await client.get("/v1/segmentation/customers/K-2")).json()["name"] == "Schmidt, Anna"
    assert (await client.get("/v1/segmentation/customers/K-3")).status_code == 404


async def test_attribute_keys_of_a_csv_header_are_stored_as_written(client: httpx.AsyncClient) -> None:
    # Each key is a text constant in the statements that stage the file: quotes, colons (SQLAlchemy's mark of a
    # bound parameter), backslashes, dollars, comment marks and braces must all stay text.
    keys = [
        "it's",
        'say "hi"',
        ":name",
        "a:b",
        "a\\:b",
        "x :y",
        "back\\slash",
        "$$ dollar $$",
        "-- c",
        "/* c",
        "{z}",
        "50%",
    ]
    header = ",".join('"' + f"attributes.{key}".replace('"', '""') + '"' for key in keys)
    values = ",".join(f"v{i}" for i in range(len(keys)))
    body = f"external_id,name,kind,{header}\nK-1,Kunde,b2b,{values}\n".encode()
    response = await _import(client, "customers", body, "text/csv")
    assert response.status_code == 201, response.text
    stored = (await client.get("/v1/segmentation/customers/K-1")).json()["attributes"]
    assert stored == {key: f"v{i}" for i, key in enumerate(keys)}


async def test_a_nul_in_a_csv_header_is_refused_naming_its_column(client: httpx.AsyncClient) -> None:
    response = await _import(
        client, "customers", b"external_id,name,kind,attributes.a\x00b\nK-1,Kunde,b2b,v\n", "text/csv"
    )
    assert response.status_code == 422, response.text
    assert "'attributes.a\\x00b' holds a NUL character" in response.json()["detail"]
    assert (await client.get("/v1/segmentation/customers/K-1")).status_code == 404


async def test_replaying_a_file_changes_nothing(client: httpx.AsyncClient) -> None:
    first = (await _import(client, "customers", CUSTOMERS_CSV.encode(), "text/csv")).json()
    before = (await client.get("/v1/segmentation/customers/K-1")).json()
    again = (await _import(client, "customers", CUSTOMERS_CSV.encode(), "text/csv")).json()
    assert (again["rows_created"], again["rows_updated"], again["rows_unchanged"]) == (0, 0, 2)
    assert (await client.get("/v1/segmentation/customers/K-1")).json() == before, "not even updated_at moves"
    assert again["id"] != first["id"]


async def test_an_idempotency_key_returns_the_first_import(client: httpx.AsyncClient) -> None:
    headers = {"Content-Type": "text/csv", "Idempotency-Key": "erp-batch-7"}
    first = await client.post("/v1/segmentation/imports/customers", content=CUSTOMERS_CSV.encode(), headers=headers)
    changed = CUSTOMERS_CSV.replace("Müller GmbH", "Changed")
    replay = await client.post("/v1/segmentation/imports/customers", content=changed.encode(), headers=headers)
    assert replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert (await client.get("/v1/segmentation/customers/K-1")).json()["name"] == "Müller GmbH"


async def test_ndjson_orders_with_unknown_customers_and_bad_values(client: httpx.AsyncClient) -> None:
    await client.put("/v1/segmentation/customers/K-1", json={"name": "Kunde", "kind": "b2b"})
    body = (
        ndjson(
            {
                "external_id": "O-1",
                "customer_external_id": "K-1",
                "ordered_at": "2026-03-14T09:30:00+01:00",
                "net_amount": "99.90",
                "currency": "EUR",
            },
            {
                "external_id": "O-2",
                "customer_external_id": "ghost",
                "ordered_at": "2026-03-14T10:00:00Z",
                "net_amount": 10,
                "currency": "EUR",
            },
            {
                "external_id": "O-3",
                "customer_external_id": "K-1",
                "ordered_at": "2026-02-30T10:00:00Z",
                "net_amount": "-1",
                "currency": "EUE",
                "status": "paid",
                "colour": "red",
            },
            {
                "external_id": "O-4",
                "customer_external_id": "K-1",
                "ordered_at": "2026-03-15T10:00:00Z",
                "net_amount": {"value": 1},
                "currency": "EUR",
            },
        )
        + b"{not json\n\n[1, 2]\n"
    )
    response = await _import(client, "orders", body, "application/x-ndjson")
    job = response.json()
    assert (job["rows_received"], job["rows_accepted"], job["rows_rejected"]) == (6, 1, 5), job
    errors = await _errors(client, job["id"])
    assert (2, "customer_external_id") in errors
    assert {field for line, field in errors if line == 3} == {
        "ordered_at",
        "net_amount",
        "currency",
        "status",
        "colour",
    }
    assert (4, "net_amount") in errors
    assert (5, "line") in errors
    assert (7, "line") in errors, "line 6 is blank and skipped"
    order = (await client.get("/v1/segmentation/orders/O-1")).json()
    assert (order["net_amount"], order["ordered_at"], order["status"]) == ("99.90", "2026-03-14T08:30:00Z", "booked")


async def test_orders_can_create_their_missing_customers(client: httpx.AsyncClient) -> None:
    body = (
        b"external_id,customer_external_id,ordered_at,net_amount,currency\nO-1,NEW-1,2026-01-05T08:00:00Z,10.00,EUR\n"
    )
    job = (await _import(client, "orders", body, "text/csv", create_missing_customer="true")).json()
    assert (job["rows_accepted"], job["customers_created"]) == (1, 1)
    assert (await client.get("/v1/segmentation/customers/NEW-1")).json()["auto_created"] is True


async def test_a_file_that_cannot_be_read_imports_nothing(client: httpx.AsyncClient) -> None:
    wrong_header = await _import(client, "orders", b"external_id,customer,amount\nO-1,K-1,1\n", "text/csv")
    assert wrong_header.status_code == 422
    assert wrong_header.headers["content-type"] == "application/problem+json"
    assert "unknown columns ['customer', 'amount']" in wrong_header.json()["detail"]

    await client.put("/v1/segmentation/customers/K-1", json={"name": "Kunde", "kind": "b2b"})
    ragged = (
        b"external_id,customer_external_id,ordered_at,net_amount,currency\n"
        b"O-1,K-1,2026-01-05T08:00:00Z,10.00,EUR\n"
        b"O-2,K-1\n"
    )
    response = await _import(client, "orders", ragged, "text/csv")
    assert response.status_code == 422
    assert "line 3" in response.json()["detail"]
    assert (await client.get("/v1/segmentation/orders/O-1")).status_code == 404, "nothing half-imported"
    jobs = (await client.get("/v1/segmentation/imports")).json()["items"]
    assert [j["status"] for j in jobs] == ["failed", "failed"]
    assert jobs[0]["error"].startswith("The file cannot be read at line 3")


async def test_an_unknown_media_type_is_a_415(client: httpx.AsyncClient) -> None:
    response = await _import(client, "orders", b"<xml/>", "application/xml")
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"


async def test_invoices_and_interactions_are_checked_across_fields(client: httpx.AsyncClient) -> None:
    await client.put("/v1/segmentation/customers/K-1", json={"name": "Kunde", "kind": "b2b"})
    invoices = (
        b"external_id,customer_external_id,issued_on,due_on,paid_on,amount,currency,dunning_level\n"
        b"I-1,K-1,2026-01-10,2026-02-09,2026-02-20,500.00,EUR,1\n"
        b"I-2,K-1,2026-01-10,2026-01-01,,500.00,EUR,12\n"
    )
    job = (await _import(client, "invoices", invoices, "text/csv")).json()
    assert (job["rows_accepted"], job["rows_rejected"]) == (1, 1)
    assert await _errors(client, job["id"]) == [(3, "dunning_level")], "the date check waits for valid fields"
    interactions = ndjson(
        {
            "external_id": "X-1",
            "customer_external_id": "K-1",
            "kind": "complaint",
            "channel": "phone",
            "occurred_at": "2026-03-01T10:00:00Z",
            "resolved_at": "2026-02-01T10:00:00Z",
        },
    )
    job = (await _import(client, "interactions", interactions, "application/x-ndjson")).json()
    assert await _errors(client, job["id"]) == [(1, "resolved_at")]


async def test_an_upload_over_the_limit_is_a_413_and_imports_nothing(db_url: str) -> None:
    from segmentation.main import create_app
    from segmentation.settings import SegmentationSettings
    from servicekit.testing import app_client

    settings = SegmentationSettings(database_url=db_url, log_json=False, upload_body_limit_bytes=2_000)
    async with app_client(create_app(settings)) as client:
        header = b"external_id,name,kind\n"

        async def rows():  # streamed, without Content-Length: the limit holds while the file is copied
            yield header
            for i in range(200):
                yield f"K-{i},Customer {i},b2b\n".encode()

        response = await client.post(
            "/v1/segmentation/imports/customers", content=rows(), headers={"Content-Type": "text/csv"}
        )
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert (await client.get("/v1/segmentation/customers")).json()["items"] == []
        job = (await client.get("/v1/segmentation/imports")).json()["items"][0]
        assert job["status"] == "failed"
        assert "exceeds the limit of 2000 bytes" in job["error"]
        larger_than_the_upload_limit = {"name": "K", "kind": "b2b", "attributes": {"notes": "x" * 3000}}
        put = await client.put("/v1/segmentation/customers/K-1", json=larger_than_the_upload_limit)
        assert put.status_code == 201, "other routes keep their own limit"


async def test_a_key_whose_import_died_can_be_used_again(client: httpx.AsyncClient, db_url: str) -> None:
    url = "/v1/segmentation/imports/customers"
    headers = {"Content-Type": "text/csv", "Idempotency-Key": "batch-9"}
    first = (await client.post(url, content=CUSTOMERS_CSV.encode(), headers=headers)).json()
    connection = await asyncpg.connect(db_url)
    try:  # as if its process had died while receiving a moment ago: nothing runs it any more
        await connection.execute("UPDATE segmentation.imports SET status = 'receiving', finished_at = NULL")
    finally:
        await connection.close()
    retried = await client.post(
        url, content=CUSTOMERS_CSV.replace("Müller GmbH", "Müller AG").encode(), headers=headers
    )
    assert retried.status_code == 201, "not a 409: no import is running under the key"
    assert retried.json()["id"] != first["id"]
    assert (await client.get("/v1/segmentation/customers/K-1")).json()["name"] == "Müller AG"


async def test_the_list_of_imports_pages_newest_first(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await _import(client, "customers", CUSTOMERS_CSV.encode(), "text/csv")
    first = (await client.get("/v1/segmentation/imports", params={"limit": 2})).json()
    rest = (await client.get("/v1/segmentation/imports", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    created = [job["created_at"] for job in first["items"] + rest["items"]]
    assert len(created) == 3
    assert created == sorted(created, reverse=True)
    assert rest["next_cursor"] is None
    forged = base64.urlsafe_b64encode(b'{"created_at": "yesterday", "id": "x"}').decode()
    response = await client.get("/v1/segmentation/imports", params={"cursor": forged})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_large_import_leaves_its_table_vacuumed_and_analysed(db_url: str) -> None:
    app = create_app(SegmentationSettings(database_url=db_url, log_json=False, import_vacuum_min_rows=2))
    async with app_client(app) as client:
        small = await _import(client, "customers", b"external_id,name,kind\nV1,One,b2b\n", "text/csv")
        assert small.json()["rows_accepted"] == 1
        connection = await asyncpg.connect(db_url)
        try:
            vacuumed = "SELECT last_vacuum, last_analyze FROM pg_stat_user_tables WHERE relid = $1::regclass"
            assert await connection.fetchrow(vacuumed, "segmentation.customers") == (None, None), "below the size"
            large = await _import(client, "customers", b"external_id,name,kind\nV2,Two,b2b\nV3,Three,b2c\n", "text/csv")
            assert large.json()["rows_accepted"] == 2
            for _ in range(100):  # the vacuum runs after the answer, in the background
                seen = await connection.fetchrow(vacuumed, "segmentation.customers")
                if seen[0] and seen[1]:
                    break
                await asyncio.sleep(0.1)
            assert seen[0] is not None, "vacuumed"
            assert seen[1] is not None, "analysed"
        finally:
            await connection.close()


async def test_days_and_times_outside_1900_to_2099_are_refused_rows(client: httpx.AsyncClient) -> None:
    csv = (
        "external_id,customer_external_id,ordered_at,net_amount,currency\n"
        "O-1,K-9,1899-12-31T10:00:00Z,10.00,EUR\n"
        "O-2,K-9,2100-01-01T10:00:00Z,10.00,EUR\n"
        "O-3,K-9,2099-12-31T10:00:00Z,10.00,EUR\n"
    )
    job = (await _import(client, "orders", csv.encode(), "text/csv", create_missing_customer="true")).json()
    assert (job["rows_accepted"], job["rows_rejected"]) == (1, 2)
    page = (await client.get(f"/v1/segmentation/imports/{job['id']}/errors")).json()
    message = "must lie between 1900-01-01 and 2099-12-31"
    assert [(e["line"], e["field"], e["message"]) for e in page["items"]] == [
        (2, "ordered_at", message),
        (3, "ordered_at", message),
    ]


async def test_times_are_rfc_3339_with_a_zone_and_each_problem_is_named(client: httpx.AsyncClient) -> None:
    times = [
        "2026-02-30T10:00:00Z",
        "2026-03-01T24:00:00Z",
        "2026-03-01T23:59:60Z",
        "2026-03-01T10:00:00",
        "2026-0a-01T10:00:00Z",
        "2026-03-01T10:00:00+02:00",
        "2026-03-01 10:00:00.5Z",
        "2026-03-01T10:00:00Z",
    ]
    csv = "external_id,customer_external_id,ordered_at,net_amount,currency\n" + "".join(
        f"T-{i},K-9,{at},10.00,EUR\n" for i, at in enumerate(times)
    )
    job = (await _import(client, "orders", csv.encode(), "text/csv", create_missing_customer="true")).json()
    assert (job["rows_accepted"], job["rows_rejected"]) == (3, 5)
    page = (await client.get(f"/v1/segmentation/imports/{job['id']}/errors")).json()
    rfc = "must be an RFC 3339 time with a time zone, or a day YYYY-MM-DD"
    assert [(e["line"], e["message"]) for e in page["items"]] == [
        (2, "is not a day of the calendar"),
        (3, "is not a time of the day"),
        (4, "is not a time of the day"),
        (5, rfc),
        (6, rfc),
    ]
    stored = (await client.get("/v1/segmentation/orders/T-5")).json()
    assert stored["ordered_at"] == "2026-03-01T08:00:00Z"


async def test_a_replayed_file_leaves_classifications_alone_and_a_changed_one_reclassifies(
    client: httpx.AsyncClient,
) -> None:
    await _import(client, "customers", b"external_id,name,kind\nR-1,Rita,b2c\n", "text/csv")
    header = "external_id,customer_external_id,ordered_at,net_amount,currency\n"
    orders = header + "RO-1,R-1,2026-01-05T10:00:00Z,80.00,EUR\n"
    assert (await _import(client, "orders", orders.encode(), "text/csv")).status_code == 201
    started = await client.post("/v1/segmentation/runs", json={"as_of": "2026-02-01"})
    for _ in range(500):
        if (await client.get(started.headers["location"])).json()["status"] != "running":
            break
        await asyncio.sleep(0.02)

    async def as_of() -> str:
        return (await client.get("/v1/segmentation/customers/R-1/profile")).json()["classification"]["as_of"]

    assert await as_of() == "2026-02-01"
    replay = (await _import(client, "orders", orders.encode(), "text/csv")).json()
    assert (replay["rows_created"], replay["rows_updated"], replay["rows_unchanged"]) == (0, 0, 1)
    assert await as_of() == "2026-02-01", "no fact changed, so neither did the classification"
    changed = (await _import(client, "orders", orders.replace("80.00", "90.00").encode(), "text/csv")).json()
    assert changed["rows_updated"] == 1
    assert await as_of() != "2026-02-01", "an order that changed classifies its customer again, as of today"


async def test_values_with_spaces_around_them_are_trimmed_and_those_with_spaces_inside_refused(
    client: httpx.AsyncClient,
) -> None:
    # Most rows pass a quick check of the values as received; the rest are trimmed and checked in detail:
    # both must come to the same verdict.
    orders = (
        "external_id,customer_external_id,ordered_at,net_amount,currency,contribution_margin\n"
        " S-1 , K-9 , 2026-03-01T10:00:00Z , 10.50 , EUR , -2.00 \n"  # line 2: trimmed, stored
        "S-2,K-9,2026-03-01T10:00:00Z,1 0.00,EUR,\n"  # 3: a space inside the amount
        "S-3,K-9,2026-03-01T10:00:00Z,10.00,EUR,-\n"  # 4: a sign without digits
        "   ,K-9,2026-03-01T10:00:00Z,10.00,EUR,\n"  # 5: an id of spaces is none
        '"",K-9,2026-03-01T10:00:00Z,10.00,EUR,\n'  # 6: as is an empty one
        "S-4,K-9,2026-03-01T10:00:00Z,10.00,EUR,\n"  # 7: fine
    )
    job = (await _import(client, "orders", orders.encode(), "text/csv", create_missing_customer="true")).json()
    assert (job["rows_accepted"], job["rows_rejected"]) == (2, 4), job
    assert await _errors(client, job["id"]) == [
        (3, "net_amount"),
        (4, "contribution_margin"),
        (5, "external_id"),
        (6, "external_id"),
    ]
    stored = (await client.get("/v1/segmentation/orders/S-1")).json()
    assert (stored["customer_external_id"], stored["net_amount"], stored["currency"]) == ("K-9", "10.50", "EUR")
    assert stored["contribution_margin"] == "-2.00"

    invoices = (
        "external_id,customer_external_id,issued_on,due_on,amount,currency\n"
        "I-1,K-9, 2026-03-01 ,2026-03-31,10.00,EUR\n"  # 2: trimmed, stored
        "I-2,K-9,2026-03-1 ,2026-03-31,10.00,EUR\n"  # 3: a day of one digit (Postgres would take it)
        "I-3,K-9,2026-03- 1,2026-03-31,10.00,EUR\n"  # 4: a space inside
        "I-4,K-9,2026-02-29,2026-03-31,10.00,EUR\n"  # 5: no such day in 2026
    )
    job = (await _import(client, "invoices", invoices.encode(), "text/csv")).json()
    assert (job["rows_accepted"], job["rows_rejected"]) == (1, 3), job
    page = (await client.get(f"/v1/segmentation/imports/{job['id']}/errors")).json()
    assert [(e["line"], e["field"], e["message"]) for e in page["items"]] == [
        (3, "issued_on", "must be a date YYYY-MM-DD"),
        (4, "issued_on", "must be a date YYYY-MM-DD"),
        (5, "issued_on", "is not a day of the calendar"),
    ]
    assert (await client.get("/v1/segmentation/invoices/I-1")).json()["issued_on"] == "2026-03-01"


async def test_an_idempotency_key_belongs_to_the_api_key_that_used_it(client: httpx.AsyncClient) -> None:
    jobs = {}
    for key_id, csv in (("key-a", CUSTOMERS_CSV), ("key-b", CUSTOMERS_CSV.replace("Müller GmbH", "Other"))):
        headers = {"Content-Type": "text/csv", "Idempotency-Key": "nightly", "X-API-Key-Id": key_id}
        response = await client.post("/v1/segmentation/imports/customers", content=csv.encode(), headers=headers)
        assert response.status_code == 201, response.text
        jobs[key_id] = response.json()["id"]
        again = await client.post("/v1/segmentation/imports/customers", content=csv.encode(), headers=headers)
        assert (again.status_code, again.json()["id"]) == (200, jobs[key_id])
    assert jobs["key-a"] != jobs["key-b"]
    assert (await client.get("/v1/segmentation/customers/K-1")).json()["name"] == "Other", "both were imported"
