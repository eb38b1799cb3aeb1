"""The orders' index of calendar days follows the company's time zone; a run reads each customer's days from
it in order, and gives the same figures while it is still being built."""

import asyncio
from collections.abc import AsyncIterator
from datetime import date

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from segmentation.classification import compute
from segmentation.company.schemas import Thresholds
from segmentation.orderdays import days as orderdays
from segmentation.orderdays import index as day_index
from servicekit.settings import plain_database_url
from servicekit.sql import SQL
from tests.segmentation.test_classification import classify, customer, profile


@pytest.fixture
async def connection(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(plain_database_url(db_url))
    try:
        yield connection
    finally:
        await connection.close()


async def day_indexes(connection: asyncpg.Connection) -> dict[str, bool]:
    """The orders' day indexes, each with whether it is valid."""
    rows = await connection.fetch(
        """SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
           WHERE i.indrelid = 'segmentation.orders'::regclass AND starts_with(c.relname, $1)""",
        day_index.PREFIX,
    )
    return dict(rows)


async def settled_on(connection: asyncpg.Connection, zone: str) -> dict[str, bool]:
    """The day indexes once the zone's is the only one (or after 30 s, whatever they are then)."""
    for _ in range(300):
        found = await day_indexes(connection)
        if found == {day_index.index_name(zone): True}:
            break
        await asyncio.sleep(0.1)
    return found


async def test_the_index_follows_the_time_zone(client: httpx.AsyncClient, connection: asyncpg.Connection) -> None:
    assert await settled_on(connection, "UTC") == {day_index.index_name("UTC"): True}, "the default zone's"
    assert (await client.put("/v1/segmentation/config", json={"time_zone": "Europe/Berlin"})).status_code == 200
    assert await settled_on(connection, "Europe/Berlin") == {day_index.index_name("Europe/Berlin"): True}
    assert (await client.put("/v1/segmentation/config", json={"time_zone": "Asia/Kolkata"})).status_code == 200
    assert await settled_on(connection, "Asia/Kolkata") == {day_index.index_name("Asia/Kolkata"): True}


async def test_a_run_gives_the_same_days_with_the_index_and_while_it_is_built(
    client: httpx.AsyncClient, connection: asyncpg.Connection
) -> None:
    # In Berlin (UTC+2 in June) 21:30Z is 23:30 on the 1st; 22:30Z and 23:30Z are the 2nd: two purchase days.
    await customer(client, "LATE")
    for n, moment in enumerate(["2026-06-01T21:30:00Z", "2026-06-01T22:30:00Z", "2026-06-01T23:30:00Z"]):
        body = {"customer_external_id": "LATE", "ordered_at": moment, "net_amount": "10.00", "currency": "EUR"}
        assert (await client.put(f"/v1/segmentation/orders/LATE-{n}", json=body)).status_code == 201
    await client.put("/v1/segmentation/config", json={"time_zone": "Europe/Berlin"})
    assert await settled_on(connection, "Europe/Berlin") == {day_index.index_name("Europe/Berlin"): True}

    async def late_figures() -> dict:
        shown = await profile(client, "LATE")
        stored = await connection.fetchrow(
            """SELECT purchase_days, repeat_spend::text FROM segmentation.classifications k
               JOIN segmentation.customers c ON c.id = k.customer_id WHERE c.external_id = 'LATE'"""
        )
        del shown["computed_at"]
        return {**shown, "purchase_days": stored[0], "repeat_spend": stored[1]}

    expected = {
        "order_count": 3,
        "purchase_days": 2,
        "first_order_on": "2026-06-01",
        "last_order_on": "2026-06-02",
        "repeat_spend": "20.00",
    }
    await classify(client, date(2026, 6, 30))
    with_index = await late_figures()
    assert {k: with_index[k] for k in expected} == expected

    # As if the index were still being built: the next first run computes the days itself.
    await connection.execute(f"DROP INDEX segmentation.{day_index.index_name('Europe/Berlin')}")
    await connection.execute("TRUNCATE segmentation.classifications, segmentation.classification_changes")
    await connection.execute("DELETE FROM segmentation.runs")
    await classify(client, date(2026, 6, 30))
    assert await late_figures() == with_index


async def test_a_run_reads_each_customers_orders_by_day_from_the_index_without_sorting(
    client: httpx.AsyncClient, connection: asyncpg.Connection, db_url: str
) -> None:
    await client.put("/v1/segmentation/config", json={"time_zone": "Europe/Berlin"})
    assert await settled_on(connection, "Europe/Berlin") == {day_index.index_name("Europe/Berlin"): True}
    # Enough orders that the planner reads them as a run at scale does: 2,000 customers, 10 orders each.
    await connection.execute("""
        INSERT INTO segmentation.customers (external_id, name, kind)
        SELECT 'C' || n, 'C' || n, 'b2b' FROM generate_series(1, 2000) n""")
    await connection.execute("""
        INSERT INTO segmentation.orders (external_id, customer_id, ordered_at, net_amount, currency, net_cents)
        SELECT 'O' || c.id || '-' || k, c.id, TIMESTAMPTZ '2026-01-01 10:00Z' + (c.id * 7 + k * 13) * interval '1 hour',
               12.50, 'EUR', 1250
        FROM segmentation.customers c CROSS JOIN generate_series(1, 10) k""")
    await connection.execute("VACUUM ANALYZE segmentation.orders")

    engine = create_async_engine(db_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with AsyncSession(engine) as session, session.begin():
            days = await orderdays.days_over_every_order(session, date(2026, 6, 30), "Europe/Berlin")
            await orderdays.run_settings(session)
            await orderdays.aggregate_by_sorting(session)
            thresholds = Thresholds(time_zone="Europe/Berlin")
            features = compute._features_sql(days, thresholds, ids=lambda column: SQL("{} <= 1000").format(column))
            plan = "\n".join((await session.scalars(SQL("EXPLAIN {}").format(features).clause)).all())
    finally:
        await engine.dispose()
    assert f"Index Only Scan using {day_index.index_name('Europe/Berlin')}" in plan, plan
    assert "Sort Key: orders" not in plan, plan
