"""How the gateway answers for a service that fails: retries where safe, timeouts, and a circuit breaker."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.keys.schemas import Scope
from tests.gateway.conftest import FakeService, gateway_for, metric

PROBLEM = "application/problem+json"


class HangingUp:
    """A service that hangs up without answering its first `hang_ups` requests, then answers 200."""

    def __init__(self, hang_ups: int) -> None:
        self.hang_ups = hang_ups
        self.requests: list[bytes] = []  # the request line of each request it read

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                self.requests.append(head.split(b"\r\n")[0])
                if len(self.requests) <= self.hang_ups:
                    break
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        try:
            yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        finally:
            server.close()


async def test_requests_safe_to_repeat_are_retried_when_the_service_hangs_up(db_url: str) -> None:
    service = HangingUp(hang_ups=2)
    async with service.serving() as url, gateway_for(db_url, segmentation_url=url, upstream_retries=2) as gw:
        auth = gw.auth(await gw.new_key(Scope.write))
        got = await gw.client.get("/v1/segmentation/customers", headers=auth)
        assert got.status_code == 200
        assert len(service.requests) == 3, "two hang-ups, then the answer"

        service.hang_ups = 4
        keyed = await gw.client.post(
            "/v1/segmentation/runs", json={"as_of": "2026-06-30"}, headers={**auth, "Idempotency-Key": "run-1"}
        )
        assert keyed.status_code == 200, "a POST with an Idempotency-Key may be sent again"
        assert len(service.requests) == 5

        service.hang_ups = 6
        plain = await gw.client.post("/v1/segmentation/runs", json={"as_of": "2026-06-30"}, headers=auth)
        assert plain.status_code == 503, "a plain POST may have been done already: never sent twice"
        assert plain.headers["content-type"] == PROBLEM
        assert "went away" in plain.json()["detail"]
        assert len(service.requests) == 6


async def test_retries_are_bounded(db_url: str) -> None:
    service = HangingUp(hang_ups=100)
    async with service.serving() as url, gateway_for(db_url, segmentation_url=url, upstream_retries=2) as gw:
        auth = gw.auth(await gw.new_key(Scope.read))
        response = await gw.client.get("/v1/segmentation/customers", headers=auth)
        metrics = (await gw.client.get("/metrics")).text
    assert response.status_code == 503
    assert len(service.requests) == 3, "one attempt and two retries"
    assert metric(metrics, "gateway_upstream_errors_total", upstream="segmentation", reason="disconnected") >= 3


async def test_a_502_or_503_is_retried_for_a_get_but_relayed_for_a_plain_post(
    db_url: str, fake_service: tuple[FakeService, str]
) -> None:
    service, url = fake_service
    async with gateway_for(db_url, segmentation_url=url, upstream_retries=1) as gw:
        auth = gw.auth(await gw.new_key(Scope.write))
        service.status = 503
        got = await gw.client.get("/v1/segmentation/customers", headers=auth)
        assert got.status_code == 503, "the last attempt's answer is relayed"
        assert got.json() == {"call": 2, "received": 0}, "after one retry"

        posted = await gw.client.post("/v1/segmentation/runs", content=b"{}", headers=auth)
        assert posted.status_code == 503
        assert posted.json() == {"call": 3, "received": 2}, "sent once"

        service.status = 500
        failed = await gw.client.get("/v1/segmentation/customers", headers=auth)
        assert failed.status_code == 500
        assert failed.json()["call"] == 4, "a 500 is a bug, which the same request would hit again"


async def test_a_slow_route_gets_a_504_within_its_own_timeout(
    db_url: str, fake_service: tuple[FakeService, str]
) -> None:
    _, url = fake_service
    settings = {
        "segmentation_url": url,
        "upstream_timeout_seconds": 5,
        "upstream_route_timeouts": "GET /v1/segmentation/reports=0.3",
    }
    async with gateway_for(db_url, **settings) as gw:
        auth = gw.auth(await gw.new_key(Scope.write))
        started = time.monotonic()
        report = await gw.client.get("/v1/segmentation/reports/summary?delay=0.8", headers=auth)
        elapsed = time.monotonic() - started
        assert report.status_code == 504
        assert report.headers["content-type"] == PROBLEM
        assert "did not answer in time" in report.json()["detail"]
        assert 0.3 <= elapsed < 0.7, f"answered after {elapsed:.2f} s: a read timeout is never retried"

        other = await gw.client.post("/v1/segmentation/reports/summary?delay=0.8", headers=auth)
        assert other.status_code == 200, "POST has no rule of its own: the default timeout holds"


async def test_the_breaker_opens_after_failures_in_a_row_answers_at_once_and_probes(
    db_url: str, fake_service: tuple[FakeService, str]
) -> None:
    service, url = fake_service
    settings = {
        "segmentation_url": url,
        "upstream_retries": 0,
        "circuit_breaker_failures": 3,
        "circuit_breaker_cooldown_seconds": 0.5,
    }

    async def state() -> float:
        return metric((await gw.client.get("/metrics")).text, "gateway_circuit_breaker_state", upstream="segmentation")

    async with gateway_for(db_url, **settings) as gw:
        auth = gw.auth(await gw.new_key(Scope.read))

        async def get(path: str = "/v1/segmentation/customers") -> tuple[int, str, float]:
            started = time.monotonic()
            response = await gw.client.get(path, headers=auth)
            return response.status_code, response.headers.get("retry-after", ""), time.monotonic() - started

        service.status = 503
        assert [(await get())[0] for _ in range(3)] == [503, 503, 503]
        assert len(service.calls) == 3
        assert await state() == 2, "open"

        status, retry_after, elapsed = await get()
        assert (status, retry_after) == (503, "1")
        assert elapsed < 0.1, "answered at once"
        assert len(service.calls) == 3, "without calling the service"
        refused = await gw.client.get("/v1/segmentation/customers", headers=auth)
        assert refused.headers["content-type"] == PROBLEM
        assert "segmentation service is failing" in refused.json()["detail"]

        await asyncio.sleep(0.55)
        assert (await get())[0] == 503, "the half-open probe failed"
        assert len(service.calls) == 4
        assert await state() == 2, "open again"
        assert (await get())[0] == 503
        assert len(service.calls) == 4, "for another cool-down"

        service.status = 200
        await asyncio.sleep(0.55)
        assert (await get())[0] == 200, "the probe succeeded"
        assert await state() == 0, "closed"
        assert [(await get())[0] for _ in range(3)] == [200, 200, 200]
        assert len(service.calls) == 8


async def test_a_half_open_breaker_lets_one_probe_through_at_a_time(
    db_url: str, fake_service: tuple[FakeService, str]
) -> None:
    service, url = fake_service
    settings = {
        "segmentation_url": url,
        "circuit_breaker_failures": 1,
        "circuit_breaker_cooldown_seconds": 0.3,
    }
    async with gateway_for(db_url, **settings) as gw:
        auth = gw.auth(await gw.new_key(Scope.read))
        assert (await gw.client.get("/v1/segmentation/x?status=504", headers=auth)).status_code == 504
        await asyncio.sleep(0.35)
        slow_probe = asyncio.create_task(gw.client.get("/v1/segmentation/x?delay=0.3", headers=auth))
        await asyncio.sleep(0.1)
        meanwhile = await gw.client.get("/v1/segmentation/x", headers=auth)
        assert meanwhile.status_code == 503, "half-open: the probe is under way"
        assert meanwhile.headers["retry-after"] == "1"
        assert (await slow_probe).status_code == 200
        assert (await gw.client.get("/v1/segmentation/x", headers=auth)).status_code == 200
    assert len(service.calls) == 3


async def test_a_500_does_not_open_the_breaker(db_url: str, fake_service: tuple[FakeService, str]) -> None:
    service, url = fake_service
    async with gateway_for(db_url, segmentation_url=url, circuit_breaker_failures=2) as gw:
        auth = gw.auth(await gw.new_key(Scope.read))
        service.status = 500
        statuses = [(await gw.client.get("/v1/segmentation/customers", headers=auth)).status_code for _ in range(4)]
    assert statuses == [500, 500, 500, 500]
    assert len(service.calls) == 4, "every request reached the service"


async def test_a_service_that_is_down_opens_its_breaker_alone(
    db_url: str, fake_service: tuple[FakeService, str]
) -> None:
    _, url = fake_service
    settings = {
        "segmentation_url": url,
        "campaigns_url": "http://127.0.0.1:9",  # discard port: nothing listens
        "circuit_breaker_failures": 3,
        "upstream_retry_backoff_seconds": 0.01,
    }
    async with gateway_for(db_url, **settings) as gw:
        auth = gw.auth(await gw.new_key(Scope.read))
        down = await gw.client.get("/v1/campaigns/campaigns", headers=auth)
        assert down.status_code == 503
        assert "campaigns service is unavailable" in down.json()["detail"], "three attempts, each refused"
        refused = await gw.client.get("/v1/campaigns/campaigns", headers=auth)
        assert "campaigns service is failing" in refused.json()["detail"], "the breaker is open"
        assert (await gw.client.get("/v1/segmentation/customers", headers=auth)).status_code == 200
        metrics = (await gw.client.get("/metrics")).text
    assert metric(metrics, "gateway_circuit_breaker_state", upstream="campaigns") == 2
    assert metric(metrics, "gateway_circuit_breaker_state", upstream="segmentation") == 0
    assert metric(metrics, "gateway_upstream_errors_total", upstream="campaigns", reason="connect_error") >= 3
    assert metric(metrics, "gateway_circuit_breaker_rejected_total", upstream="campaigns") >= 1
    assert metric(metrics, "gateway_upstream_request_duration_seconds_count", upstream="segmentation") >= 1


async def test_a_bulk_import_is_never_sent_twice(db_url: str) -> None:
    service = HangingUp(hang_ups=1)
    async with service.serving() as url, gateway_for(db_url, segmentation_url=url, upstream_retries=2) as gw:
        auth = gw.auth(await gw.new_key(Scope.write))

        async def rows() -> AsyncIterator[bytes]:
            yield b"external_id,name\n"
            yield b"K-1,Kunde\n"

        response = await gw.client.post(
            "/v1/segmentation/imports/customers",
            content=rows(),
            headers={**auth, "Idempotency-Key": "import-1", "Content-Type": "text/csv"},
        )
    assert response.status_code in (502, 503), "hung up on while sending (503) or sending into the void (502)"
    assert len(service.requests) == 1, "its body was streamed through and is gone: it cannot be sent again"
