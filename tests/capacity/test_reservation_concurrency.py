"""Many campaigns asking for the last free capacity at once, through two real server processes over real
sockets, each with a connection pool big enough that every request is in the database at the same time:
exactly what fits is granted, and never more than the headroom."""

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal

import asyncpg
import httpx
import pytest

from servicekit.settings import ServiceSettings
from servicekit.testing import ServerProcess, free_port, signing_auth
from tests.capacity.conftest import headroom, put_resource, refresh, week

SIGNING_SECRET = "concurrency-internal-signing-secret"  # the processes and the test share it

REQUESTS = 60
POOL_PER_PROCESS = 28  # two processes: 56 requests in the database at once, the rest waiting for a connection


@pytest.fixture(scope="module")
def servers(database_url: str) -> Iterator[list[str]]:
    env = {
        "DATABASE_URL": database_url,
        "CAPACITY_DB_POOL_SIZE": str(POOL_PER_PROCESS),
        "CAPACITY_DB_MAX_OVERFLOW": "0",
        "CAPACITY_DB_CONNECT_TIMEOUT_SECONDS": "60",  # requests wait for a pooled connection while the test holds
        "CAPACITY_MAINTENANCE_INTERVAL_SECONDS": "0",
        "CAPACITY_SEGMENTATION_URL": f"http://127.0.0.1:{free_port()}",  # not needed: the forecast is stored
        "CAPACITY_LOG_LEVEL": "WARNING",
        "INTERNAL_SIGNING_SECRET": SIGNING_SECRET,
    }
    processes = [ServerProcess("capacity.main:create_app", env, name=f"capacity-{i}") for i in range(2)]
    started = []
    try:
        for process in processes:
            started.append(process.start())
        yield [process.url for process in processes]
    finally:
        for process in started:
            process.stop()


@pytest.fixture
async def ready(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """A headroom of 100 assembly hours (200 - 80 baseline - 20 reserve) and 25 delivery slots, every week."""
    await put_resource(client)
    await put_resource(client, "delivery-slots", weekly_capacity="50", load_per_order="0.5")
    await refresh(client)
    return client


async def resource_id(db_url: str, key: str) -> int:
    connection = await asyncpg.connect(db_url)
    try:
        return await connection.fetchval("SELECT id FROM capacity.resources WHERE key = $1", key)
    finally:
        await connection.close()


@asynccontextmanager
async def everyone_waiting(db_url: str, resource: int, week_start: date, waiting: int) -> AsyncIterator[None]:
    """Hold the lock of one resource-week while the body sends requests; let go once `waiting` of them wait
    for it in the database, so that they all go on at once."""
    holder = await asyncpg.connect(db_url)
    watcher = await asyncpg.connect(db_url)
    try:
        async with holder.transaction():
            await holder.execute(
                "INSERT INTO capacity.resource_weeks VALUES ($1, $2, now()) "
                "ON CONFLICT (resource_id, week_start) DO UPDATE SET last_reserved_at = now()",
                resource,
                week_start,
            )
            yield
            for _ in range(600):
                found = await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
                if found >= waiting:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"only {found} requests ever waited in the database at once")
    finally:
        await watcher.close()
        await holder.close()


async def burst(servers: list[str], bodies: list[dict], headers: dict | None = None) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
    auth = signing_auth(ServiceSettings(internal_signing_secret=SIGNING_SECRET))  # as the gateway signs
    clients = [httpx.AsyncClient(base_url=url, limits=limits, timeout=120, auth=auth) for url in servers]
    try:
        sends = [
            clients[i % len(clients)].post("/v1/capacity/reservations", json=body, headers=headers or {})
            for i, body in enumerate(bodies)
        ]
        return await asyncio.gather(*sends)
    finally:
        for client in clients:
            await client.aclose()


def granted(responses: list[httpx.Response], resource: str = "assembly-hours") -> Decimal:
    return sum(
        (
            Decimal(line["granted"])
            for r in responses
            if r.status_code == 201
            for line in r.json()["lines"]
            if line["resource"] == resource
        ),
        Decimal(0),
    )


def body(*lines: tuple[str, str], allow_partial: bool = False) -> dict:
    return {
        "campaign": "burst",
        "allow_partial": allow_partial,
        "lines": [{"resource": key, "week_start": str(week(1)), "amount": amount} for key, amount in lines],
    }


@pytest.mark.parametrize(
    ("allow_partial", "statuses", "total"),
    [
        (False, {201: 14, 409: 46}, Decimal("98.00")),  # 14 x 7 = 98 fit; a 15th would need 105
        (True, {201: 15, 409: 45}, Decimal("100.00")),  # 14 in full and one with the last 2 hours
    ],
)
async def test_concurrent_requests_for_the_last_capacity_get_exactly_what_fits(
    ready: httpx.AsyncClient,
    servers: list[str],
    db_url: str,
    allow_partial: bool,
    statuses: dict[int, int],
    total: Decimal,
) -> None:
    bodies = [body(("assembly-hours", "7"), allow_partial=allow_partial) for _ in range(REQUESTS)]
    async with everyone_waiting(db_url, await resource_id(db_url, "assembly-hours"), week(1), waiting=50):
        sending = asyncio.create_task(burst(servers, bodies))
    responses = await sending

    assert dict(Counter(r.status_code for r in responses)) == statuses, [r.text for r in responses][:3]
    assert granted(responses) == total
    partial = [r.json() for r in responses if r.status_code == 201 and r.json()["partial"]]
    assert [line["granted"] for p in partial for line in p["lines"]] == (["2.00"] if allow_partial else [])
    cell = await headroom(ready, "assembly-hours", week(1))
    assert Decimal(cell["held"]) == total
    assert Decimal(cell["headroom"]) == Decimal(100) - total >= 0
    refused = [r.json() for r in responses if r.status_code == 409]
    assert all(r["type"].endswith("/insufficient-capacity") for r in refused)


async def test_concurrent_requests_over_two_resources_in_any_order_never_deadlock_nor_overbook(
    ready: httpx.AsyncClient, servers: list[str], db_url: str
) -> None:
    # Each asks 3 assembly hours (100 fit 33) and 1 delivery slot (25 fit 25), its lines in a random order.
    lines = [("assembly-hours", "3"), ("delivery-slots", "1")]
    bodies = [body(*random.sample(lines, 2)) for _ in range(REQUESTS)]
    async with everyone_waiting(db_url, await resource_id(db_url, "assembly-hours"), week(1), waiting=50):
        sending = asyncio.create_task(burst(servers, bodies))
    responses = await sending

    assert dict(Counter(r.status_code for r in responses)) == {201: 25, 409: 35}, [r.text for r in responses][:3]
    assert (granted(responses), granted(responses, "delivery-slots")) == (Decimal("75.00"), Decimal("25.00"))
    assert (await headroom(ready, "delivery-slots", week(1)))["headroom"] == "0.00"
    assert (await headroom(ready, "assembly-hours", week(1)))["headroom"] == "25.00"


async def test_concurrent_retries_with_one_idempotency_key_reserve_once(
    ready: httpx.AsyncClient, servers: list[str], db_url: str
) -> None:
    retries = 20
    bodies = [body(("assembly-hours", "30")) for _ in range(retries)]
    async with everyone_waiting(db_url, await resource_id(db_url, "assembly-hours"), week(1), waiting=retries):
        sending = asyncio.create_task(burst(servers, bodies, headers={"Idempotency-Key": "campaign-9"}))
    responses = await sending

    assert sorted(r.status_code for r in responses) == [200] * (retries - 1) + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert all(r.headers.get("idempotent-replayed") == "true" for r in responses if r.status_code == 200)
    assert (await headroom(ready, "assembly-hours", week(1)))["headroom"] == "70.00"
