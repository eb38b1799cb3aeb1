"""A flood of guessed keys is answered from memory: each address may present only so many unknown keys before it
gets a 429, an unknown key is remembered instead of looked up again, and other callers are not affected."""

import asyncio
import secrets

from gateway.keys.schemas import Scope
from tests.gateway.conftest import FakeService, Gateway, gateway_for, metric

PROBLEM = "application/problem+json"
FLOOD = "198.51.100.7"
ELSEWHERE = "203.0.113.5"


def guess() -> dict[str, str]:
    return {"Authorization": f"Bearer rk_{secrets.token_urlsafe(32)}"}


async def lookups(gw: Gateway, result: str) -> float:
    return metric((await gw.client.get("/metrics")).text, "gateway_api_key_lookups_total", result=result)


async def test_an_address_presenting_too_many_unknown_keys_gets_a_429_and_other_addresses_do_not(
    db_url: str, fake_service: tuple[FakeService, str]
) -> None:
    service, url = fake_service
    settings = {"auth_failure_burst": 3, "auth_failure_per_second": 2, "api_key_cache_seconds": 0}
    async with gateway_for(db_url, segmentation_url=url, **settings) as gw:
        read_key = await gw.new_key(Scope.read)
        before = await lookups(gw, "unknown")
        async with gw.client_from(FLOOD) as flood, gw.client_from(ELSEWHERE) as elsewhere:
            guesses = [await flood.get("/v1/segmentation/customers", headers=guess()) for _ in range(3)]
            assert [r.status_code for r in guesses] == [401, 401, 401]

            refused = await flood.get("/v1/segmentation/customers", headers=guess())
            assert refused.status_code == 429
            assert refused.headers["content-type"] == PROBLEM
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["request_id"] == refused.headers["x-request-id"]
            assert refused.json()["instance"] == "/v1/segmentation/customers"
            assert refused.json()["detail"] == (
                "Too many unknown API keys from this address: 3 at once and 2 a second after that; retry in 1 s."
            )
            spoofed = await flood.get("/v1/segmentation/customers", headers={**guess(), "X-Forwarded-For": "10.9.9.9"})
            assert spoofed.status_code == 429, "X-Forwarded-For is not the gateway's to believe"
            assert await lookups(gw, "unknown") == before + 3, "the refused ones cost no database lookup"

            assert (await elsewhere.get("/v1/segmentation/customers", headers=gw.auth(read_key))).status_code == 200
            assert (await elsewhere.get("/v1/segmentation/customers", headers=guess())).status_code == 401, (
                "another address has a bucket of its own"
            )
            assert (await flood.get("/v1/segmentation/customers")).status_code == 401, "no key: nothing to look up"

            await asyncio.sleep(0.6)
            assert (await flood.get("/v1/segmentation/customers", headers=guess())).status_code == 401, "refilled"
    assert len(service.calls) == 1, "only the legitimate read reached the service"


async def test_a_key_valid_when_last_seen_keeps_working_from_a_flooded_address(
    db_url: str, fake_service: tuple[FakeService, str]
) -> None:
    _, url = fake_service
    settings = {"auth_failure_burst": 2, "auth_failure_per_second": 0.1, "api_key_cache_seconds": 0.2}
    async with gateway_for(db_url, segmentation_url=url, **settings) as gw:
        known, unused = gw.auth(await gw.new_key(Scope.read)), gw.auth(await gw.new_key(Scope.read))
        async with gw.client_from(FLOOD) as shared:  # a client behind the same address as the flood
            assert (await shared.get("/v1/segmentation/customers", headers=known)).status_code == 200
            statuses = [(await shared.get("/v1/segmentation/customers", headers=guess())).status_code for _ in range(3)]
            assert statuses == [401, 401, 429]
            await asyncio.sleep(0.3)  # the key's cache entry expired: it is looked up again
            assert (await shared.get("/v1/segmentation/customers", headers=known)).status_code == 200
            never_seen = await shared.get("/v1/segmentation/customers", headers=unused)
            assert never_seen.status_code == 429, "a key not seen before waits like a guess from that address"


async def test_an_unknown_key_is_not_looked_up_again_until_its_memory_expires(
    db_url: str, fake_service: tuple[FakeService, str]
) -> None:
    _, url = fake_service
    async with gateway_for(db_url, segmentation_url=url, api_key_unknown_cache_seconds=0.3) as gw:
        bad = guess()
        before = await lookups(gw, "unknown")
        statuses = [(await gw.client.get("/v1/segmentation/customers", headers=bad)).status_code for _ in range(5)]
        assert statuses == [401] * 5
        assert await lookups(gw, "unknown") == before + 1
        await asyncio.sleep(0.4)
        assert (await gw.client.get("/v1/segmentation/customers", headers=bad)).status_code == 401
        assert await lookups(gw, "unknown") == before + 2, "remembered briefly, not for ever"


async def test_ipv6_addresses_are_counted_by_their_64(db_url: str, fake_service: tuple[FakeService, str]) -> None:
    _, url = fake_service
    async with gateway_for(db_url, segmentation_url=url, auth_failure_burst=2, auth_failure_per_second=0.1) as gw:
        async with gw.client_from("2001:db8:0:1::1") as one, gw.client_from("2001:db8:0:1::beef") as same_network:
            assert (await one.get("/v1/segmentation/customers", headers=guess())).status_code == 401
            assert (await same_network.get("/v1/segmentation/customers", headers=guess())).status_code == 401
            assert (await one.get("/v1/segmentation/customers", headers=guess())).status_code == 429
        async with gw.client_from("2001:db8:0:2::1") as next_network:
            assert (await next_network.get("/v1/segmentation/customers", headers=guess())).status_code == 401


async def test_the_limit_can_be_switched_off(db_url: str, fake_service: tuple[FakeService, str]) -> None:
    _, url = fake_service
    settings = {"auth_failure_limit_enabled": False, "auth_failure_burst": 1}
    async with gateway_for(db_url, segmentation_url=url, **settings) as gw:
        statuses = [(await gw.client.get("/v1/segmentation/customers", headers=guess())).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]


async def test_refusals_are_counted_by_reason(db_url: str, fake_service: tuple[FakeService, str]) -> None:
    _, url = fake_service
    async with gateway_for(db_url, segmentation_url=url, auth_failure_burst=1, auth_failure_per_second=0.1) as gw:

        async def failures(reason: str) -> float:
            return metric((await gw.client.get("/metrics")).text, "gateway_auth_failures_total", reason=reason)

        before = {reason: await failures(reason) for reason in ("missing", "invalid", "throttled")}
        await gw.client.get("/v1/segmentation/customers")
        await gw.client.get("/v1/segmentation/customers", headers=guess())
        await gw.client.get("/v1/segmentation/customers", headers=guess())
        after = {reason: await failures(reason) for reason in before}
    assert {reason: after[reason] - before[reason] for reason in before} == {"missing": 1, "invalid": 1, "throttled": 1}
