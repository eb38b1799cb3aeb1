"""Imports that end without finishing, over real HTTP: a client that drops its connection mid-upload, a
server process killed mid-upload, an import outliving the stale limit. None of them may leave rows behind,
and none may stay `receiving` for whoever polls it."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import httpx

from segmentation.main import create_app
from segmentation.settings import SegmentationSettings
from servicekit.testing import ServerProcess, serve_in_loop, signing_auth

HEADER = b"external_id,customer_external_id,ordered_at,net_amount,currency\n"


def order_rows(start: int, count: int) -> bytes:
    return b"".join(f"O-{i},K-1,2026-03-14T09:30:00Z,10.00,EUR\n".encode() for i in range(start, start + count))


class Upload:
    """A CSV body sent in two parts: the second only after `go()`, and then it fails if told to drop."""

    def __init__(self, drop: bool) -> None:
        self.drop = drop
        self.gate = asyncio.Event()

    def go(self) -> None:
        self.gate.set()

    async def body(self) -> AsyncIterator[bytes]:
        yield HEADER + order_rows(0, 500)
        await asyncio.sleep(1.2)  # the server writes its progress about once a second, when a chunk arrives
        yield order_rows(500, 500)
        await self.gate.wait()
        if self.drop:
            raise ConnectionAbortedError("the client goes away mid-upload")
        yield order_rows(1000, 500)


async def _until(client: httpx.AsyncClient, path: str, done, seconds: float = 15.0) -> dict:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        response = await client.get(path)
        body = response.json()
        if response.status_code == 200 and done(body):
            return body
        assert asyncio.get_running_loop().time() < deadline, f"still {body} after {seconds} s"
        await asyncio.sleep(0.1)


async def _receiving_job(client: httpx.AsyncClient) -> dict:
    """The newest import, once it shows that the first part of the body arrived."""
    page = await _until(
        client,
        "/v1/segmentation/imports",
        lambda page: bool(page["items"]) and page["items"][0]["bytes_received"] > 0,
    )
    return page["items"][0]


async def _orders_in_table(db_url: str) -> int:
    connection = await asyncpg.connect(db_url)
    try:
        return await connection.fetchval("SELECT count(*) FROM segmentation.orders")
    finally:
        await connection.close()


async def test_a_client_that_drops_the_connection_mid_upload_leaves_a_failed_import_and_no_rows(
    db_url: str,
) -> None:
    settings = SegmentationSettings(database_url=db_url, log_json=False)
    app = create_app(settings)
    signed = signing_auth(settings)
    async with serve_in_loop(app) as url, httpx.AsyncClient(base_url=url, timeout=30, auth=signed) as client:
        assert (
            await client.put("/v1/segmentation/customers/K-1", json={"name": "K", "kind": "b2b"})
        ).status_code == 201
        upload = Upload(drop=True)
        sending = asyncio.create_task(
            client.post("/v1/segmentation/imports/orders", content=upload.body(), headers={"Content-Type": "text/csv"})
        )
        job = await _receiving_job(client)
        assert job["status"] == "receiving"
        assert job["rows_received"] >= 500, "the server had the first rows before the client went away"

        upload.go()
        try:
            await sending
        except ConnectionAbortedError:
            pass
        else:
            raise AssertionError("the upload should have broken off")

        ended = await _until(client, f"/v1/segmentation/imports/{job['id']}", lambda j: j["status"] != "receiving")
        assert ended["status"] == "failed"
        assert ended["error"] == "the upload broke off; nothing was imported"
        assert ended["finished_at"] is not None
        assert (await client.get("/v1/segmentation/orders")).json()["items"] == []
    assert await _orders_in_table(db_url) == 0


async def test_an_import_whose_server_process_dies_ends_as_failed_and_its_key_is_free(
    client: httpx.AsyncClient, db_url: str
) -> None:
    await client.put("/v1/segmentation/customers/K-1", json={"name": "K", "kind": "b2b"})
    server = ServerProcess(
        "segmentation.main:create_app", {"DATABASE_URL": db_url, "SEGMENTATION_LOG_LEVEL": "WARNING"}
    ).start()
    upload = Upload(drop=False)
    try:
        # The process has the secret of this process's environment, as the settings read it here.
        signed = signing_auth(SegmentationSettings())
        async with httpx.AsyncClient(base_url=server.url, timeout=30, auth=signed) as remote:
            headers = {"Content-Type": "text/csv", "Idempotency-Key": "nightly-orders"}
            sending = asyncio.create_task(
                remote.post("/v1/segmentation/imports/orders", content=upload.body(), headers=headers)
            )
            job = await _receiving_job(client)
            again = await client.get(f"/v1/segmentation/imports/{job['id']}")
            assert again.json()["status"] == "receiving", "an import that runs is not ended by reading it"
            busy = await client.post("/v1/segmentation/imports/orders", content=HEADER, headers=headers)
            assert busy.status_code == 409, "nor by sending its key again"

            server.kill()
            upload.go()  # the client notices when it sends the rest
            with contextlib.suppress(httpx.HTTPError):
                await asyncio.wait_for(sending, 30)
    finally:
        server.kill()

    ended = await _until(client, f"/v1/segmentation/imports/{job['id']}", lambda j: j["status"] != "receiving")
    assert ended["status"] == "failed"
    assert "interrupted" in ended["error"]
    assert ended["finished_at"] is not None
    listed = (await client.get("/v1/segmentation/imports")).json()["items"]
    assert [(j["id"], j["status"]) for j in listed] == [(job["id"], "failed")]
    assert await _orders_in_table(db_url) == 0

    retried = await client.post("/v1/segmentation/imports/orders", content=HEADER + order_rows(0, 3), headers=headers)
    assert retried.status_code == 201, "the key of an interrupted import may be used again at once"
    assert retried.json()["rows_created"] == 3


async def test_an_import_running_past_the_stale_limit_is_given_up_and_keeps_nothing(
    client: httpx.AsyncClient, db_url: str
) -> None:
    await client.put("/v1/segmentation/customers/K-1", json={"name": "K", "kind": "b2b"})
    upload = Upload(drop=False)
    sending = asyncio.create_task(
        client.post("/v1/segmentation/imports/orders", content=upload.body(), headers={"Content-Type": "text/csv"})
    )
    job = await _receiving_job(client)
    connection = await asyncpg.connect(db_url)
    try:  # as if it had been receiving for two hours (SEGMENTATION_IMPORT_STALE_AFTER_SECONDS is one)
        await connection.execute("UPDATE segmentation.imports SET created_at = now() - interval '2 hours'")
    finally:
        await connection.close()

    given_up = (await client.get(f"/v1/segmentation/imports/{job['id']}")).json()
    assert given_up["status"] == "failed"
    assert given_up["error"].startswith("the import was still unfinished after 3600 seconds")

    upload.go()
    response = await sending
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "given up" in response.json()["detail"]
    assert (await client.get(f"/v1/segmentation/imports/{job['id']}")).json()["status"] == "failed"
    assert await _orders_in_table(db_url) == 0
