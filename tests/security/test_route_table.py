"""Every route of every service needs a key at the gateway, and a write needs a write scope: generated from
the services' own route tables, so a route added later is covered without a new test."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from campaigns.main import create_app as create_campaigns
from campaigns.settings import CampaignsSettings
from capacity.main import create_app as create_capacity
from capacity.settings import CapacitySettings
from gateway.keys import service as keys
from gateway.keys.schemas import Scope
from gateway.main import create_app as create_gateway
from gateway.settings import GatewaySettings
from segmentation.main import create_app as create_segmentation
from segmentation.settings import SegmentationSettings
from servicekit.testing import app_client

READS = {"GET", "HEAD", "OPTIONS"}


def service_routes() -> list[tuple[str, str]]:
    """(method, path) of every /v1 operation the three services publish, path parameters filled in."""
    apps = [
        create_segmentation(SegmentationSettings(database_url="postgresql://unused/x")),
        create_campaigns(CampaignsSettings(database_url="postgresql://unused/x")),
        create_capacity(CapacitySettings(database_url="postgresql://unused/x")),
    ]
    found = []
    for app in apps:
        for path, operations in app.openapi()["paths"].items():
            if path.startswith("/v1/"):
                filled = re.sub(r"\{[^}]+\}", "x-1", path)
                found += [(method.upper(), filled) for method in sorted(operations)]
    return found


ROUTES = service_routes()


def test_the_route_table_is_not_empty() -> None:
    services = {path.split("/")[2] for _, path in ROUTES}
    assert services == {"segmentation", "campaigns", "capacity"}
    assert len(ROUTES) > 60


@pytest.fixture
async def gateway(db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The gateway with no service behind it: what it refuses, it refuses before calling one."""
    settings = GatewaySettings(
        database_url=db_url,
        log_json=False,
        api_key_cache_seconds=0,
        segmentation_url="http://127.0.0.1:9",
        campaigns_url="http://127.0.0.1:9",
        capacity_url="http://127.0.0.1:9",
        circuit_breaker_failures=0,
    )
    app = create_gateway(settings)
    async with app_client(app) as client:
        async with app.state.sessionmaker() as session, session.begin():
            secret = settings.api_key_secret.get_secret_value()
            read_key = (await keys.create_key(session, secret, "reader", [Scope.read])).key
        yield client, read_key


async def test_every_route_needs_a_key_and_writes_need_the_write_scope(
    gateway: tuple[httpx.AsyncClient, str],
) -> None:
    client, read_key = gateway
    refused = []
    for method, path in ROUTES:
        anonymous = await client.request(method, path, json={} if method not in READS else None)
        if anonymous.status_code != 401 or anonymous.headers["content-type"] != "application/problem+json":
            refused.append((method, path, "no key", anonymous.status_code))
        forged = await client.request(method, path, headers={"Authorization": "Bearer rk_forged"})
        if forged.status_code != 401:
            refused.append((method, path, "unknown key", forged.status_code))
        if method not in READS:
            reader = await client.request(method, path, json={}, headers={"Authorization": f"Bearer {read_key}"})
            if reader.status_code != 403:
                refused.append((method, path, "read key writing", reader.status_code))
    assert refused == [], "routes that did not refuse as they must"


async def test_no_key_or_secret_reaches_the_logs(
    gateway: tuple[httpx.AsyncClient, str], caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    client, read_key = gateway
    caplog.set_level("DEBUG")
    await client.get("/v1/segmentation/customers", headers={"Authorization": f"Bearer {read_key}"})
    await client.get("/v1/segmentation/customers", headers={"X-API-Key": read_key})
    await client.post("/v1/segmentation/runs", headers={"Authorization": f"Bearer {read_key}"})
    await client.get("/v1/segmentation/customers", headers={"Authorization": "Bearer rk_guessed-key"})
    written = caplog.text + "".join(capfd.readouterr())
    assert "/v1/segmentation/customers" in written, "the requests were logged"
    secret = GatewaySettings().api_key_secret.get_secret_value()
    for leaked in (read_key, read_key[3:], "rk_guessed-key", secret):
        assert leaked not in written
