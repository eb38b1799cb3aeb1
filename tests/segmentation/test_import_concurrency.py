"""Imports next to other writers of the same external ids: nobody fails, the counts add up."""

import asyncio

import asyncpg
import httpx

HEADER = "external_id,customer_external_id,ordered_at,net_amount,currency\n"


def orders_csv(ids: range | list[int], customer: str, amount: str) -> bytes:
    rows = "".join(f"O-{i},{customer},2026-03-14T09:30:00Z,{amount},EUR\n" for i in ids)
    return (HEADER + rows).encode()


async def _import(client: httpx.AsyncClient, body: bytes, **params: str) -> httpx.Response:
    return await client.post(
        "/v1/segmentation/imports/orders", content=body, headers={"Content-Type": "text/csv"}, params=params
    )


async def _until_waiting_on_a_lock(db_url: str, backends: int) -> None:
    """Until `backends` sessions wait for a lock (asked on a connection of its own: in a transaction,
    pg_stat_activity would show the same snapshot every time)."""
    connection = await asyncpg.connect(db_url)
    try:
        for _ in range(200):
            waiting = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting >= backends:
                return
            await asyncio.sleep(0.05)
    finally:
        await connection.close()
    raise AssertionError(f"fewer than {backends} imports ever waited for the test's transaction")


async def test_an_order_stored_meanwhile_under_a_new_external_id_is_updated_not_a_conflict(
    client: httpx.AsyncClient, db_url: str
) -> None:
    await client.put("/v1/segmentation/customers/K-1", json={"name": "K", "kind": "b2b"})
    connection = await asyncpg.connect(db_url)
    try:
        # As a PUT of O-7 would: stored while the import runs, committed after the import found O-7 new.
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("""
            INSERT INTO segmentation.orders (external_id, customer_id, ordered_at, net_amount, currency, net_cents)
            SELECT 'O-7', id, '2026-03-01T08:00:00Z', 1.00, 'EUR', 100 FROM segmentation.customers""")
        importing = asyncio.create_task(_import(client, orders_csv(range(100), "K-1", "10.00")))
        await _until_waiting_on_a_lock(db_url, 1)
        await transaction.commit()
        response = await importing
    finally:
        await connection.close()
    assert response.status_code == 201, response.text
    job = response.json()
    assert (job["rows_created"], job["rows_updated"], job["rows_unchanged"]) == (99, 1, 0)
    assert (await client.get("/v1/segmentation/orders/O-7")).json()["net_amount"] == "10.00", "the file wins"
    assert len((await client.get("/v1/segmentation/orders", params={"limit": 200})).json()["items"]) == 100


async def test_concurrent_imports_of_overlapping_orders_both_succeed(client: httpx.AsyncClient, db_url: str) -> None:
    first = orders_csv(range(0, 2000), "K-NEW", "10.00")
    second = orders_csv(range(2999, 999, -1), "K-NEW", "20.00")  # the shared ids in the other order
    connection = await asyncpg.connect(db_url)
    try:
        # Both imports wait for this uncommitted customer, then merge at the same moment.
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute(
            "INSERT INTO segmentation.customers (external_id, name, auto_created) VALUES ('K-NEW', 'K-NEW', true)"
        )
        importing = [
            asyncio.create_task(_import(client, body, create_missing_customer="true")) for body in (first, second)
        ]
        await _until_waiting_on_a_lock(db_url, 2)
        await transaction.commit()
        responses = await asyncio.gather(*importing)
    finally:
        await connection.close()
    assert [r.status_code for r in responses] == [201, 201], [r.text for r in responses]
    jobs = [r.json() for r in responses]
    assert sum(j["rows_created"] for j in jobs) == 3000, "each order created once"
    assert sum(j["rows_updated"] for j in jobs) == 1000, "the shared orders updated by whichever came second"
    connection = await asyncpg.connect(db_url)
    try:
        stored = await connection.fetchval("SELECT count(*) FROM segmentation.orders")
        amounts = await connection.fetch(
            "SELECT DISTINCT net_amount::text FROM segmentation.orders "
            "WHERE external_id IN (SELECT 'O-' || i FROM generate_series(1000, 1999) i)"
        )
    finally:
        await connection.close()
    assert stored == 3000
    assert len(amounts) == 1, "the shared orders all hold the values of the same, later import"
