"""Campaigns by state on /metrics, for the dashboard's campaign view."""

from prometheus_client.parser import text_string_to_metric_families

from campaigns.main import create_app
from campaigns.settings import CampaignsSettings
from servicekit.testing import app_client
from tests.campaigns.test_campaigns import seed


def by_state(metrics: str) -> dict[str, float]:
    return {
        sample.labels["state"]: sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "campaigns_campaigns"
    }


async def test_campaigns_are_counted_by_state_every_state_shown(db_url: str) -> None:
    await seed(
        db_url,
        {"name": "Win back", "kind": "reactivation", "channel": "post", "state": "running"},
        {"name": "Second order", "kind": "second_order", "channel": "email", "state": "running"},
        {"name": "Fair", "kind": "acquisition", "channel": "event"},
    )
    app = create_app(CampaignsSettings(database_url=db_url, log_json=False))
    async with app_client(app) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert by_state(response.text) == {
        "draft": 1,
        "planned": 0,
        "approved": 0,
        "running": 2,
        "completed": 0,
        "cancelled": 0,
    }


async def test_the_count_follows_the_table_after_the_cache_period(db_url: str) -> None:
    app = create_app(CampaignsSettings(database_url=db_url, log_json=False, metrics_cache_seconds=0))
    async with app_client(app) as client:
        assert by_state((await client.get("/metrics")).text)["draft"] == 0
        await seed(db_url, {"name": "Thanks", "kind": "loyalty", "channel": "email"})
        assert by_state((await client.get("/metrics")).text)["draft"] == 1
