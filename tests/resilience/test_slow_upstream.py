"""A slow upstream, made slow by a TCP proxy that holds every byte back: the gateway answers 504 when its
timeout says, not when the service finally does, and a fast route through the same proxy still answers."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.keys.schemas import Scope
from servicekit.testing import ServerProcess
from tests.gateway.conftest import gateway_for

TIMEOUT = 0.5


@asynccontextmanager
async def delaying_proxy(target_port: int, delay: float) -> AsyncIterator[dict[str, float]]:
    """A TCP proxy to 127.0.0.1:`target_port` that holds the service's answers back by `delay` seconds
    (`delay` may be changed while it runs). Yields the settings and, under "port", where it listens."""
    settings = {"delay": delay}

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slow: bool) -> None:
        try:
            while data := await reader.read(65536):
                if slow:
                    await asyncio.sleep(settings["delay"])
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(client_reader, upstream_writer, False), pipe(upstream_reader, client_writer, True))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    settings["port"] = server.sockets[0].getsockname()[1]
    async with server:
        yield settings


async def test_a_slow_upstream_gets_a_504_in_time(db_url: str) -> None:
    segmentation = ServerProcess("segmentation.main:create_app", {"DATABASE_URL": db_url}, name="segmentation")
    segmentation.start()
    try:
        async with (
            delaying_proxy(segmentation.port, delay=3.0) as proxy,
            gateway_for(
                db_url,
                segmentation_url=f"http://127.0.0.1:{int(proxy['port'])}",
                upstream_timeout_seconds=TIMEOUT,
                upstream_retries=0,
                circuit_breaker_failures=0,
            ) as gateway,
        ):
            headers = gateway.auth(await gateway.new_key(Scope.read))
            started = time.perf_counter()
            slow = await gateway.client.get("/v1/segmentation/customers", headers=headers)
            waited = time.perf_counter() - started
            assert (slow.status_code, slow.headers["content-type"]) == (504, "application/problem+json")
            assert TIMEOUT <= waited < TIMEOUT + 0.5, f"answered after {waited:.2f} s"

            proxy["delay"] = 0.0  # the service answers in time again
            assert (await gateway.client.get("/v1/segmentation/customers", headers=headers)).status_code == 200
    finally:
        segmentation.stop()
