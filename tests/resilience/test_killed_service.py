"""A service killed in the middle of a request: the gateway answers at once with a problem, its breaker opens
so that callers stop waiting on a dead service, and all is well again once the service is back."""

import asyncio
import time
from collections.abc import AsyncIterator

from gateway.keys.schemas import Scope
from servicekit.testing import ServerProcess
from tests.gateway.conftest import gateway_for

COOLDOWN = 1.0


async def test_a_service_killed_mid_request_is_answered_and_its_breaker_opens(db_url: str) -> None:
    segmentation = ServerProcess("segmentation.main:create_app", {"DATABASE_URL": db_url}, name="segmentation")
    segmentation.start()
    try:
        async with gateway_for(
            db_url,
            segmentation_url=segmentation.url,
            circuit_breaker_failures=2,
            circuit_breaker_cooldown_seconds=COOLDOWN,
            upstream_retries=0,
        ) as gateway:
            headers = gateway.auth(await gateway.new_key(Scope.write))
            assert (await gateway.client.get("/v1/segmentation/customers", headers=headers)).status_code == 200

            async def slow_upload() -> AsyncIterator[bytes]:
                yield b"external_id,name,kind\n"
                for i in range(100):
                    yield f"K-{i},Customer {i},b2b\n".encode()
                    await asyncio.sleep(0.05)

            upload = asyncio.create_task(
                gateway.client.post(
                    "/v1/segmentation/imports/customers",
                    content=slow_upload(),
                    headers={**headers, "Content-Type": "text/csv"},
                )
            )
            await asyncio.sleep(1.0)  # the file is half sent
            segmentation.kill()
            cut_off = await asyncio.wait_for(upload, timeout=10)
            assert cut_off.status_code in (502, 503, 504), cut_off.text
            assert cut_off.headers["content-type"] == "application/problem+json"

            # The dead service is called until its breaker opens; then callers get a 503 at once.
            statuses = [
                (await gateway.client.get("/v1/segmentation/customers", headers=headers)).status_code for _ in range(3)
            ]
            assert statuses[-1] == 503
            started = time.perf_counter()
            refused = await gateway.client.get("/v1/segmentation/customers", headers=headers)
            assert (refused.status_code, "Retry-After" in refused.headers) == (503, True)
            assert "stops calling it for a moment" in refused.json()["detail"]
            assert time.perf_counter() - started < 0.5

            # Back on the same port: after the cool-down, the next request probes it and the breaker closes.
            segmentation.start()
            await asyncio.sleep(COOLDOWN + 0.2)
            assert (await gateway.client.get("/v1/segmentation/customers", headers=headers)).status_code == 200
            listed = await gateway.client.get("/v1/segmentation/customers", headers=headers)
            assert (listed.status_code, listed.json()["items"]) == (200, []), "nothing of the cut-off file was stored"
    finally:
        segmentation.stop()
