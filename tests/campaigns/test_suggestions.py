"""Suggestions: what to do now, each scored like a plan (nothing stored), with its forecast and capacity."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from servicekit.testing import IsolatedDatabase
from tests.campaigns.conftest import NOW, FakeCapacity, FakeSegmentation, make_app, member, problem

pytestmark = pytest.mark.isolation("rollback")

# The seven days of one ISO week, Monday 2026-11-30 to Sunday 2026-12-06, each at the conftest's 23:30 UTC.
WEEKDAYS = [NOW - timedelta(days=6 - i) for i in range(7)]


def promised(today: date) -> tuple[date, date, list[date]]:
    """What docs/api.md (Suggestions) promises a planner: four ISO weeks ending on a Sunday, starting today when at
    least four days of this week are left (Monday to Thursday), else on the next Monday; and those four weeks."""
    monday = today - timedelta(days=today.weekday())
    first = monday if today.weekday() <= 3 else monday + timedelta(weeks=1)
    return max(today, first), first + timedelta(days=27), [first + timedelta(weeks=i) for i in range(4)]


@pytest.mark.parametrize("now", WEEKDAYS, ids=[d.strftime("%A") for d in WEEKDAYS])
async def test_suggestions_name_the_seed_advice_with_a_forecast_and_capacity(
    isolated_db: IsolatedDatabase, segmentation: FakeSegmentation, capacity: FakeCapacity, now: datetime
) -> None:
    today = now.date()
    starts_on, ends_on, weeks = promised(today)
    segmentation.members = [
        member("K-LAPSED", lifecycle="lapsed", probability_alive=0.5, last_order_on="2024-01-10"),
        member("K-DEAD", lifecycle="lapsed", probability_alive=0.02, last_order_on="2023-01-10"),
        member("K-FIRST", z_stage="Z2", order_count=1, last_order_on=(today - timedelta(days=45)).isoformat()),
        member("K-TOO-NEW", z_stage="Z2", order_count=1, last_order_on=(today - timedelta(days=10)).isoformat()),
        member("K-KEY", key_account=True, average_order_value="5000.00"),
        member("K-KEY-TALKED", key_account=True, average_order_value="5000.00"),
    ]
    segmentation.interactions = [
        {
            "external_id": "T-1",
            "customer_external_id": "K-KEY-TALKED",
            "kind": "meeting",
            "channel": "visit",
            "occurred_at": (now - timedelta(days=30)).isoformat(),
        }
    ]
    capacity.room_by_week[("assembly-hours", weeks[0])] = Decimal("0")
    async with isolated_db.client(make_app(isolated_db.url, segmentation, capacity, fixed_now=now)) as client:
        response = await client.get("/v1/campaigns/suggestions")
        assert response.status_code == 200, response.text
        assert response.json()["as_of"] == today.isoformat()
        suggestions = response.json()["suggestions"]
        found = {s["kind"]: s for s in suggestions}
        assert set(found) == {"reactivation", "second_order", "loyalty"}
        for suggestion in suggestions:
            campaign, forecast = suggestion["campaign"], suggestion["forecast"]
            assert (campaign["starts_on"], campaign["ends_on"]) == (starts_on.isoformat(), ends_on.isoformat())
            assert [w["week_start"] for w in forecast["weeks"]] == [w.isoformat() for w in weeks], "four ISO weeks"
            assert all(Decimal(w["expected_orders"]) > 0 for w in forecast["weeks"]), "each of them with orders"

        reactivation = found["reactivation"]
        assert (reactivation["considered"], reactivation["members"]) == (2, 1)
        assert reactivation["excluded"] == {"probability_alive_below_minimum": 1}
        assert reactivation["campaign"]["audience"]["lifecycle"] == ["lapsed"]
        assert reactivation["campaign"]["cost_per_contact"] == "1.50"
        assert found["second_order"]["members"] == 1, "30 to 60 days after the first order"
        loyalty = found["loyalty"]
        assert (loyalty["channel"], loyalty["members"], loyalty["excluded"]) == ("phone", 1, {"recent_contact": 1})
        assert Decimal(loyalty["forecast"]["expected_revenue"]) == Decimal("500.00")
        nets = [Decimal(s["forecast"]["expected_net"]) for s in suggestions]
        assert nets == sorted(nets, reverse=True), "best first"
        assert all(s["capacity"]["checked"] for s in suggestions)
        assert (loyalty["capacity"]["fits"], loyalty["capacity"]["binding_week"]) == (False, weeks[0].isoformat()), (
            "nothing fits in the suggestion's first week"
        )

        created = await client.post("/v1/campaigns/campaigns", json=loyalty["campaign"])
        assert created.status_code == 201, "a suggestion is a campaign body, ready to create"
        listed = (await client.get("/v1/campaigns/campaigns")).json()["items"]
        assert [c["id"] for c in listed] == [created.json()["id"]], "suggesting stores nothing"


@pytest.mark.parametrize(
    ("time_zone", "as_of", "starts_on", "ends_on"),
    [
        ("UTC", "2026-12-03", "2026-12-03", "2026-12-27"),  # still Thursday: this week counts
        ("Europe/Berlin", "2026-12-04", "2026-12-07", "2027-01-03"),
    ],  # already Friday: from next Monday
)
async def test_a_suggestion_starts_by_the_companys_day_not_by_utc(
    isolated_db: IsolatedDatabase,
    segmentation: FakeSegmentation,
    capacity: FakeCapacity,
    time_zone: str,
    as_of: str,
    starts_on: str,
    ends_on: str,
) -> None:
    segmentation.members = [member("K-KEY", key_account=True)]
    thursday_late = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)
    app = make_app(isolated_db.url, segmentation, capacity, fixed_now=thursday_late, time_zone=time_zone)
    async with isolated_db.client(app) as c:
        response = await c.get("/v1/campaigns/suggestions")
    assert response.status_code == 200, response.text
    assert response.json()["as_of"] == as_of
    (loyalty,) = response.json()["suggestions"]
    assert (loyalty["campaign"]["starts_on"], loyalty["campaign"]["ends_on"]) == (starts_on, ends_on)


async def test_suggestions_without_segmentation_are_a_503(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    segmentation.failure = "down"
    found = problem(await client.get("/v1/campaigns/suggestions"), 503)
    assert found["detail"] == "The segmentation service is unavailable; retry shortly."
