"""Campaigns calls segmentation and capacity signed as itself (servicekit.signing), for the API key of the request
it is handling: the services behind it answer, and their audit trail names the same key."""

import time

import httpx
import pytest

from campaigns.settings import CampaignsSettings
from servicekit.signing import Caller, verify
from tests.campaigns.conftest import FakeCapacity, FakeSegmentation, create, member

pytestmark = pytest.mark.isolation("rollback")


async def test_calls_to_segmentation_and_capacity_are_signed_by_campaigns_for_the_callers_key(
    client: httpx.AsyncClient, segmentation: FakeSegmentation, capacity: FakeCapacity
) -> None:
    segmentation.members = [member("K-1")]
    campaign = await create(client)
    planned = await client.post(
        f"/v1/campaigns/campaigns/{campaign['id']}/plan", json={"by": "Anna"}, headers={"X-API-Key-Id": "key-7"}
    )
    assert planned.status_code == 200, planned.text
    calls = segmentation.requests + capacity.requests
    assert {r.url.path for r in calls} >= {"/v1/segmentation/audiences", "/v1/capacity/what-if"}
    secrets = CampaignsSettings().signing_secrets()
    for call in calls:
        headers = [(name.lower(), value) for name, value in call.headers.raw]
        caller = verify(secrets, call.method, call.url.raw_path.decode(), headers, 60, time.time())
        assert caller == Caller(signer="campaigns", key_id="key-7"), call.url
