"""Behind the gateway: a service answers only calls the gateway or another service signed (servicekit.signing).
Whoever reaches a service's port without the shared secret gets a 401 for every route but the probes and
/metrics, and cannot put an API key id of their choosing into the audit trail."""

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

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
from servicekit.signing import GATEWAY, SIGNATURE_HEADER, Signer
from servicekit.testing import app_client, serve_in_loop
from tests.security.test_route_table import READS, ROUTES

SECRET = "the-secret-the-components-share"
FACTORIES: dict[str, Callable[..., FastAPI]] = {
    "segmentation": lambda url, **s: create_segmentation(SegmentationSettings(database_url=url, log_json=False, **s)),
    "campaigns": lambda url, **s: create_campaigns(CampaignsSettings(database_url=url, log_json=False, **s)),
    "capacity": lambda url, **s: create_capacity(
        CapacitySettings(database_url=url, log_json=False, maintenance_interval_seconds=0, **s)
    ),
}
CUSTOMERS = "/v1/segmentation/customers"


def signed(method: str, target: str, *, secret: str = SECRET, key_id: str | None = None, age: float = 0) -> dict:
    """Headers of a call signed as the gateway signs it, `age` seconds ago."""
    header = Signer([secret], GATEWAY).header(method, target, key_id, now=time.time() - age)
    return {SIGNATURE_HEADER: header, **({"X-API-Key-Id": key_id} if key_id else {})}


@pytest.fixture
async def segmentation(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Segmentation with SECRET, and a client that signs nothing by itself."""
    async with app_client(FACTORIES["segmentation"](db_url, internal_signing_secret=SECRET), signed=False) as client:
        yield client


def refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert reason in response.json()["detail"]


@pytest.mark.parametrize("service", sorted(FACTORIES))
async def test_every_route_of_every_service_refuses_an_unsigned_call(service: str, db_url: str) -> None:
    async with app_client(FACTORIES[service](db_url), signed=False) as client:
        answered = []
        for method, path in ROUTES:
            if path.startswith(f"/v1/{service}/"):
                response = await client.request(method, path, json={} if method not in READS else None)
                if response.status_code != 401 or response.headers["content-type"] != "application/problem+json":
                    answered.append((method, path, response.status_code))
        assert answered == [], "routes that answered a caller who is neither the gateway nor a service"
        unsigned = await client.get(f"/v1/{service}/anything")
        refused(unsigned, "call it through the gateway")
        assert unsigned.headers["www-authenticate"].startswith("X-Internal-Signature")


@pytest.mark.parametrize("service", sorted(FACTORIES))
async def test_probes_and_metrics_answer_without_a_signature(service: str, db_url: str) -> None:
    async with app_client(FACTORIES[service](db_url), signed=False) as client:
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await client.get(path)).status_code == 200, path


async def test_a_correctly_signed_call_is_answered(segmentation: httpx.AsyncClient) -> None:
    target = f"{CUSTOMERS}?limit=5"
    response = await segmentation.get(target, headers=signed("GET", target))
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(signed("GET", CUSTOMERS, secret="a-guessed-secret"), id="another secret"),
        pytest.param(signed("GET", CUSTOMERS, key_id="k-1") | {"X-API-Key-Id": "k-2"}, id="another key id"),
        pytest.param(signed("GET", CUSTOMERS) | {"X-API-Key-Id": "k-2"}, id="a key id added"),
        pytest.param(signed("PUT", CUSTOMERS), id="another method"),
        pytest.param({SIGNATURE_HEADER: signed("GET", CUSTOMERS)[SIGNATURE_HEADER][:-1] + "0"}, id="a digit changed"),
        pytest.param({SIGNATURE_HEADER: "HMAC secret"}, id="not a signature"),
    ],
)
async def test_a_call_signed_for_something_else_is_refused(segmentation: httpx.AsyncClient, headers: dict) -> None:
    response = await segmentation.get(CUSTOMERS, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_signature_replayed_for_another_path_or_query_is_refused(segmentation: httpx.AsyncClient) -> None:
    headers = signed("GET", f"{CUSTOMERS}?limit=5")
    assert (await segmentation.get(f"{CUSTOMERS}?limit=5", headers=headers)).status_code == 200
    refused(await segmentation.get(f"{CUSTOMERS}?limit=500", headers=headers), "does not match")
    refused(await segmentation.get(f"{CUSTOMERS}/K-1?limit=5", headers=headers), "does not match")
    refused(await segmentation.get("/v1/segmentation/orders?limit=5", headers=headers), "does not match")


@pytest.mark.parametrize("age", [61, -61, 3600])
async def test_a_stale_signature_is_refused(segmentation: httpx.AsyncClient, age: float) -> None:
    refused(await segmentation.get(CUSTOMERS, headers=signed("GET", CUSTOMERS, age=age)), "at most 60 s")


@pytest.mark.parametrize("age", [55, -55])
async def test_clocks_may_differ_by_less_than_a_minute(segmentation: httpx.AsyncClient, age: float) -> None:
    assert (await segmentation.get(CUSTOMERS, headers=signed("GET", CUSTOMERS, age=age))).status_code == 200


async def test_the_secret_rotates_without_a_refused_call(db_url: str) -> None:
    """Step by step as docs/operations.md says: `old,new` everywhere, then `new,old`, then `new`."""
    app = FACTORIES["segmentation"](db_url, internal_signing_secret="old, new")
    async with app_client(app, signed=False) as client:
        for secret in ("old", "new"):
            assert (await client.get(CUSTOMERS, headers=signed("GET", CUSTOMERS, secret=secret))).status_code == 200
    async with app_client(FACTORIES["segmentation"](db_url, internal_signing_secret="new"), signed=False) as client:
        refused(await client.get(CUSTOMERS, headers=signed("GET", CUSTOMERS, secret="old")), "does not match")


async def test_a_spoofed_key_id_reaches_no_audit_trail_and_the_gateway_names_the_real_key(db_url: str) -> None:
    campaigns_app = FACTORIES["campaigns"](db_url)
    body: dict[str, Any] = {"name": "Thanks", "kind": "loyalty", "channel": "email"}
    async with serve_in_loop(campaigns_app) as campaigns_url, httpx.AsyncClient(base_url=campaigns_url) as direct:
        spoofed = await direct.post("/v1/campaigns/campaigns", json=body, headers={"X-API-Key-Id": "the-ceo"})
        refused(spoofed, "call it through the gateway")

        settings = GatewaySettings(database_url=db_url, log_json=False, campaigns_url=campaigns_url)
        gateway = create_gateway(settings)
        async with app_client(gateway) as client:
            async with gateway.state.sessionmaker() as session, session.begin():
                secret = settings.api_key_secret.get_secret_value()
                created = await keys.create_key(session, secret, "erp", [Scope.write])
            auth = {"Authorization": f"Bearer {created.key}", "X-API-Key-Id": "the-ceo"}
            response = await client.post("/v1/campaigns/campaigns", json=body, headers=auth)
            assert response.status_code == 201, response.text
            listed = (await client.get("/v1/campaigns/campaigns", headers=auth)).json()["items"]
    assert [c["id"] for c in listed] == [response.json()["id"]], "the spoofed call created nothing"
    assert response.json()["history"][0]["by"] == f"api-key:{created.id}"
