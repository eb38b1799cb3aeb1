"""Readiness follows the database: an on-call engineer sees 503 while it is gone and 200 once it is back."""

import asyncio
import time
import uuid

import httpx

from segmentation.main import create_app
from segmentation.settings import SegmentationSettings
from servicekit.pg import create_database, drop_database, with_database
from servicekit.testing import TcpProxy, app_client, postgres_address

PROBLEM = "application/problem+json"


async def timed_get(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.get(path)
    return response, time.monotonic() - started


async def test_readyz_follows_a_database_outage_without_a_restart(db_url: str) -> None:
    proxy = TcpProxy(postgres_address(db_url)).start()
    try:
        settings = SegmentationSettings(
            database_url=proxy.url_for(db_url), db_connect_timeout_seconds=1.0, log_json=False
        )
        async with app_client(create_app(settings)) as client:
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/v1/segmentation/customers")).status_code == 200

            proxy.cut()
            ready, took = await timed_get(client, "/readyz")
            assert ready.status_code == 503
            assert ready.headers["content-type"] == PROBLEM
            assert ready.json()["detail"] == "The database is unreachable."
            assert took < 5, f"/readyz took {took:.1f}s while the database was down"
            read, took = await timed_get(client, "/v1/segmentation/customers")
            assert read.status_code == 503, read.text
            assert read.headers["content-type"] == PROBLEM
            assert read.headers["retry-after"] == "2"
            assert took < 5, f"the API read took {took:.1f}s while the database was down"

            proxy.restore()
            assert (await client.get("/readyz")).status_code == 200
            read = await client.get("/v1/segmentation/customers")
            assert read.status_code == 200
            assert read.json()["items"] == []
    finally:
        proxy.stop()


async def test_readyz_is_503_until_the_schema_is_migrated(db_url: str) -> None:
    empty_url = with_database(db_url, f"readyz_unmigrated_{uuid.uuid4().hex[:8]}")
    await asyncio.to_thread(create_database, empty_url, drop_first=True)
    try:
        async with app_client(create_app(SegmentationSettings(database_url=empty_url, log_json=False))) as client:
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.headers["content-type"] == PROBLEM
            detail = response.json()["detail"]
            assert "Schema segmentation is at nothing" in detail
            assert "run `make migrate`" in detail
            assert (await client.get("/healthz")).status_code == 200, "alive, just not ready"
    finally:
        await asyncio.to_thread(drop_database, empty_url)
