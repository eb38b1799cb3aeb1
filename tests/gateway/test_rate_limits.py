"""Each API key has a bucket of requests per scope; an empty bucket is a 429 that says when to come back."""

import asyncio

import pytest
import redis.asyncio as redis

from gateway.keys.schemas import Scope
from servicekit.testing import free_port
from tests.gateway.conftest import FakeService, gateway_for, metric

PROBLEM = "application/problem+json"
REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_an_empty_bucket_is_a_429_with_the_headers_and_refills(
    db_url: str, fake_service: tuple[FakeService, str]
) -> None:
    service, url = fake_service
    # 3 at once, then one every half second.
    async with gateway_for(db_url, segmentation_url=url, rate_limit_read_burst=3, rate_limit_read_per_second=2) as gw:
        auth = gw.auth(await gw.new_key(Scope.read))
        passed = [await gw.client.get("/v1/segmentation/customers", headers=auth) for _ in range(3)]
        assert [r.status_code for r in passed] == [200, 200, 200]
        assert [r.headers["ratelimit-limit"] for r in passed] == ["3", "3", "3"]
        assert [r.headers["ratelimit-remaining"] for r in passed] == ["2", "1", "0"]
        assert passed[0].headers["ratelimit-reset"] == "1", "one token used, back in half a second"
        assert "retry-after" not in passed[0].headers

        refused = await gw.client.get("/v1/segmentation/customers", headers=auth)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["title"] == "Too Many Requests"
        assert refused.json()["request_id"] == refused.headers["x-request-id"]
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["ratelimit-limit"] == "3"
        assert refused.headers["ratelimit-remaining"] == "0"
        assert refused.headers["ratelimit-reset"] == "2", "three tokens to refill at two a second"
        assert len(service.calls) == 3, "a refused request never reaches the service"

        await asyncio.sleep(0.6)
        again = await gw.client.get("/v1/segmentation/customers", headers=auth)
        assert again.status_code == 200
        assert again.headers["ratelimit-remaining"] == "0"
        assert len(service.calls) == 4


async def test_reads_and_writes_have_their_own_limits_and_each_key_its_own_buckets(
    db_url: str, fake_service: tuple[FakeService, str]
) -> None:
    _, url = fake_service
    settings = {
        "rate_limit_read_burst": 5,
        "rate_limit_read_per_second": 0.1,
        "rate_limit_write_burst": 2,
        "rate_limit_write_per_second": 0.1,
    }
    async with gateway_for(db_url, segmentation_url=url, **settings) as gw:
        erp = gw.auth(await gw.new_key(Scope.write, name="erp"))
        other = gw.auth(await gw.new_key(Scope.write, name="other"))
        before = metric((await gw.client.get("/metrics")).text, "gateway_rate_limited_total", scope="write")

        writes = [await gw.client.post("/v1/segmentation/runs", headers=erp) for _ in range(3)]
        assert [r.status_code for r in writes] == [200, 200, 429]
        assert writes[0].headers["ratelimit-limit"] == "2"
        assert "10 s" in writes[2].json()["detail"], "one write every 10 s"
        assert writes[2].headers["retry-after"] == "10"

        read = await gw.client.get("/v1/segmentation/customers", headers=erp)
        assert read.status_code == 200, "reads are counted apart from writes"
        assert read.headers["ratelimit-limit"] == "5"
        assert read.headers["ratelimit-remaining"] == "4"
        assert (await gw.client.post("/v1/segmentation/runs", headers=other)).status_code == 200, "another key"

        after = metric((await gw.client.get("/metrics")).text, "gateway_rate_limited_total", scope="write")
        assert after == before + 1


async def test_rate_limits_can_be_switched_off(db_url: str, fake_service: tuple[FakeService, str]) -> None:
    _, url = fake_service
    settings = {"rate_limit_enabled": False, "rate_limit_read_burst": 1}
    async with gateway_for(db_url, segmentation_url=url, **settings) as gw:
        auth = gw.auth(await gw.new_key(Scope.read))
        responses = [await gw.client.get("/v1/segmentation/customers", headers=auth) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert "ratelimit-limit" not in responses[0].headers


async def test_without_redis_requests_pass_unlimited_and_are_counted(
    db_url: str, fake_service: tuple[FakeService, str]
) -> None:
    _, url = fake_service
    nothing_listens = f"redis://127.0.0.1:{free_port()}/0"
    async with gateway_for(db_url, segmentation_url=url, redis_url=nothing_listens, rate_limit_read_burst=1) as gw:
        auth = gw.auth(await gw.new_key(Scope.read))
        before = metric((await gw.client.get("/metrics")).text, "gateway_rate_limit_fail_open_total")
        responses = [await gw.client.get("/v1/segmentation/customers", headers=auth) for _ in range(3)]
        after = metric((await gw.client.get("/metrics")).text, "gateway_rate_limit_fail_open_total")
    assert [r.status_code for r in responses] == [200, 200, 200], "fail open: the services stay reachable"
    assert "ratelimit-limit" not in responses[0].headers, "no figures the gateway does not know"
    assert after == before + 3


@pytest.fixture
async def redis_url() -> str:
    client = redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        await client.ping()
    except (redis.RedisError, OSError) as exc:
        pytest.skip(f"no Redis at {REDIS_URL} ({type(exc).__name__}): replicas sharing a budget is not tested")
    finally:
        await client.aclose()
    return REDIS_URL


async def test_replicas_sharing_a_redis_count_together(
    db_url: str, fake_service: tuple[FakeService, str], redis_url: str
) -> None:
    _, url = fake_service
    settings = {"segmentation_url": url, "redis_url": redis_url, "rate_limit_read_burst": 4}
    settings["rate_limit_read_per_second"] = 0.1
    async with gateway_for(db_url, **settings) as one, gateway_for(db_url, **settings) as two:
        auth = one.auth(await one.new_key(Scope.read))
        statuses, remaining = [], []
        for replica in (one, two, one, two, one, two):
            response = await replica.client.get("/v1/segmentation/customers", headers=auth)
            statuses.append(response.status_code)
            remaining.append(response.headers["ratelimit-remaining"])
    assert statuses == [200, 200, 200, 200, 429, 429], "4 requests in all, not 4 per replica"
    assert remaining == ["3", "2", "1", "0", "0", "0"]
