"""An Idempotency-Key belongs to whoever sent it: the API key the gateway signed the call for, or the service that
called (servicekit.signing). Two keys that happen to choose the same Idempotency-Key each get their own result;
each key's retry replays its own."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from capacity.settings import CapacitySettings
from servicekit.signing import Signer, SigningAuth
from tests.capacity.conftest import put_resource, refresh, week

pytestmark = pytest.mark.isolation("rollback")


def reservation() -> dict[str, Any]:
    return {"campaign": "winback", "lines": [{"resource": "assembly-hours", "week_start": str(week(1)), "amount": "5"}]}


def adjustment() -> dict[str, Any]:
    return {"resource": "assembly-hours", "week_start": str(week(1)), "amount": "5", "reason": "announced order"}


def exception() -> dict[str, Any]:
    return {
        "resource": "assembly-hours",
        "starts_on": str(week(1)),
        "ends_on": str(week(1)),
        "delta": "-8",
        "reason": "Public holiday",
    }


CREATES: dict[str, Callable[[], dict[str, Any]]] = {
    "/v1/capacity/reservations": reservation,
    "/v1/capacity/adjustments": adjustment,
    "/v1/capacity/exceptions": exception,
}


@pytest.fixture
async def ready(client: httpx.AsyncClient) -> httpx.AsyncClient:
    await put_resource(client)
    await refresh(client)
    return client


@pytest.mark.parametrize("path", sorted(CREATES))
async def test_two_api_keys_with_the_same_idempotency_key_create_two_and_each_replays_its_own(
    ready: httpx.AsyncClient, path: str
) -> None:
    body = CREATES[path]()
    created = {}
    for key_id in ("key-a", "key-b"):
        response = await ready.post(path, json=body, headers={"X-API-Key-Id": key_id, "Idempotency-Key": "batch-1"})
        assert response.status_code == 201, response.text
        created[key_id] = response.json()["id"]
    assert created["key-a"] != created["key-b"]
    for key_id in ("key-a", "key-b"):
        again = await ready.post(path, json=body, headers={"X-API-Key-Id": key_id, "Idempotency-Key": "batch-1"})
        assert (again.status_code, again.headers["idempotent-replayed"]) == (200, "true")
        assert again.json()["id"] == created[key_id]
    listed = (await ready.get(path, params={"campaign": "winback"} if "reservations" in path else {})).json()
    assert len(listed["items"]) == 2


async def test_a_services_own_idempotency_keys_are_apart_from_the_api_keys(ready: httpx.AsyncClient) -> None:
    """Campaigns reserves with keys like campaign-<id>-plan-<version>-<n>, whoever approved: a user who picks the same
    key neither replays the campaign's reservation nor blocks it."""
    as_campaigns = SigningAuth(Signer(CapacitySettings().signing_secrets(), "campaigns"))
    key = {"Idempotency-Key": "campaign-7-plan-1-1"}
    body = reservation()
    mine = await ready.post("/v1/capacity/reservations", json=body, headers=key | {"X-API-Key-Id": "key-a"})
    # The caller's key id is passed on for the audit trail, and does not change whose Idempotency-Key it is.
    first = await ready.post(
        "/v1/capacity/reservations", json=body, headers=key | {"X-API-Key-Id": "key-b"}, auth=as_campaigns
    )
    again = await ready.post("/v1/capacity/reservations", json=body, headers=key, auth=as_campaigns)
    assert (mine.status_code, first.status_code, again.status_code) == (201, 201, 200)
    assert again.json()["id"] == first.json()["id"] != mine.json()["id"]
