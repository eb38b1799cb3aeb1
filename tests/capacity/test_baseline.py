"""The baseline: existing customers' expected orders from segmentation (predicted or the mean of recent
weeks) times the load per order, plus adjustments; the backtest; the fallback when segmentation is down."""

from datetime import timedelta

import asyncpg
import httpx
import pytest

from capacity import maintenance
from servicekit.testing import app_client
from tests.capacity.conftest import THIS_WEEK, FakeSegmentation, make_app, problem, put_resource, refresh, week

pytestmark = pytest.mark.isolation("rollback")


async def baseline(client: httpx.AsyncClient, **params: str) -> dict:
    response = await client.get("/v1/capacity/baseline", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_history_forecast_is_the_mean_of_the_recent_weeks_times_the_load(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    # 13 weeks of history: 30 orders a week, except 56 in the most recent one -> (12 x 30 + 56) / 13 = 32.
    segmentation.orders = lambda w, abc: (56 if w == week(-1) else 30) if abc is None else 0
    await put_resource(client, load_per_order="2.5")
    forecast = await refresh(client)
    assert forecast["source"] == "history"
    assert (forecast["history_first_week"], forecast["history_last_week"]) == (str(week(-13)), str(week(-1)))
    assert "416 orders, 32.00 per week" in forecast["method"]
    found = await baseline(client, to_week=str(week(3)))
    assert [(w["week_start"], w["expected_orders"], w["baseline"]) for w in found["weeks"]] == [
        (str(week(i)), "32.00", "80.00") for i in range(4)
    ], "32 orders x 2.5 hours, every week ahead"
    assert found["forecast"]["stale"] is False


async def test_the_predicted_purchases_are_used_when_the_model_answers(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    segmentation.predicted = ["30.5", "29.25", "28.004"]
    await put_resource(client, load_per_order="2")
    forecast = await refresh(client)
    assert (forecast["source"], forecast["fit_id"]) == ("predictive", "4f6c1d2e-0000-4000-8000-000000000001")
    found = await baseline(client, to_week=str(week(3)))
    assert [(w["expected_orders"], w["baseline"]) for w in found["weeks"]] == [
        ("30.50", "61.00"),
        ("29.25", "58.50"),
        ("28.00", "56.00"),
        ("28.00", "56.00"),
    ]
    asked = [r for r in segmentation.requests if r.url.path.endswith("/weekly-purchases")]
    assert (asked[0].url.params["from_date"], asked[0].url.params["weeks"]) == (str(THIS_WEEK), "26")


def unusable_model(answer: object) -> httpx.Response:
    if answer in (409, 404):
        return httpx.Response(answer, json={"title": "No usable model"})
    if answer == "broken":
        return httpx.Response(200, content=b"{")
    first = [{"week_start": str(THIS_WEEK), "expected_orders": "-3" if answer == "negative" else "3"}]
    return httpx.Response(
        200, json={"fit_id": "f", "fitted_at": "2026-11-20T08:00:00Z", "customers": 1, "weeks": first}
    )


@pytest.mark.parametrize("answer", [409, 404, "broken", "short", "negative"])
async def test_without_a_usable_model_the_history_is_used(
    client: httpx.AsyncClient, segmentation: FakeSegmentation, answer: object
) -> None:
    segmentation.model_response = unusable_model(answer)
    await put_resource(client)
    forecast = await refresh(client)
    assert forecast["source"] == "history"
    assert (await baseline(client, to_week=str(THIS_WEEK)))["weeks"][0]["expected_orders"] == "40.00"


async def test_abc_classes_with_their_own_load_are_weighted_by_their_share_of_the_orders(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    # 40 orders a week; class A customers placed 10 of them, B 20, C 10.
    segmentation.orders = lambda w, abc: {None: 40, "A": 10, "B": 20, "C": 10}[abc]
    await put_resource(client, load_per_order="2", load_per_order_by_abc={"A": "5", "C": "1"})
    await refresh(client)
    (cell,) = (await baseline(client, to_week=str(THIS_WEEK)))["weeks"]
    # 2 + 0.25 x (5 - 2) + 0.25 x (1 - 2) = 2.5 hours per order
    assert (cell["load_per_order"], cell["baseline"]) == ("2.5000", "100.00")


async def test_adjustments_add_to_their_week_only(client: httpx.AsyncClient) -> None:
    await put_resource(client, load_per_order="2")
    await refresh(client)  # 40 orders a week -> 80 hours
    created = await client.post(
        "/v1/capacity/adjustments",
        json={"resource": "assembly-hours", "week_start": str(week(2)), "amount": "25.5", "reason": "Order Müller"},
    )
    assert created.status_code == 201, created.text
    await client.post(
        "/v1/capacity/adjustments",
        json={"resource": "assembly-hours", "week_start": str(week(3)), "amount": "-100", "reason": "Customer lost"},
    )
    weeks = (await baseline(client, to_week=str(week(3))))["weeks"]
    assert [(w["adjustments"], w["baseline"]) for w in weeks] == [
        ("0.00", "80.00"),
        ("0.00", "80.00"),
        ("25.50", "105.50"),
        ("-100.00", "0.00"),
    ], "never below zero"
    listed = (await client.get("/v1/capacity/adjustments", params={"resource": "assembly-hours"})).json()["items"]
    assert [(a["iso_week"], a["amount"]) for a in listed] == [
        (f"{week(2).isocalendar()[0]}-W{week(2).isocalendar()[1]:02d}", "25.50"),
        (f"{week(3).isocalendar()[0]}-W{week(3).isocalendar()[1]:02d}", "-100.00"),
    ]
    assert (await client.delete(f"/v1/capacity/adjustments/{created.json()['id']}")).status_code == 204
    assert (await baseline(client, from_week=str(week(2)), to_week=str(week(2))))["weeks"][0]["baseline"] == "80.00"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"week_start": str(week(-1))}, "body.week_start"),  # in the past
        ({"week_start": str(week(26))}, "body.week_start"),  # beyond the 26 weeks planned
        ({"week_start": str(week(1) + timedelta(days=1))}, "body.week_start"),  # a Tuesday
        ({"amount": "0"}, "body.amount"),
        ({"amount": "a lot"}, "body.amount"),
        ({"resource": "welding-hours"}, "body.resource"),
    ],
)
async def test_invalid_adjustments_are_422_problems_and_write_nothing(
    client: httpx.AsyncClient, change: dict, field: str
) -> None:
    await put_resource(client)
    body = {"resource": "assembly-hours", "week_start": str(week(1)), "amount": "5", "reason": "x"} | change
    found = problem(await client.post("/v1/capacity/adjustments", json=body), 422)
    assert field in [e["field"] for e in found["errors"]], found
    assert (await client.get("/v1/capacity/adjustments")).json()["items"] == []


async def test_an_adjustment_with_a_used_idempotency_key_is_replayed(client: httpx.AsyncClient) -> None:
    await put_resource(client)
    body = {"resource": "assembly-hours", "week_start": str(week(1)), "amount": "5", "reason": "x"}
    first = await client.post("/v1/capacity/adjustments", json=body, headers={"Idempotency-Key": "k-1"})
    again = await client.post("/v1/capacity/adjustments", json=body, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code, again.json()["id"]) == (201, 200, first.json()["id"])
    assert len((await client.get("/v1/capacity/adjustments")).json()["items"]) == 1


async def test_the_backtest_reports_the_forecast_against_the_orders_booked(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    # 26 weeks of history: 20 orders a week, then 30 a week for the last 13.
    segmentation.orders = lambda w, abc: (30 if w >= week(-13) else 20) if abc is None else 0
    await put_resource(client)
    forecast = await refresh(client)
    assert forecast["backtest"] == {
        "method": "history",
        "origin": str(week(-13)),
        "history_weeks": 13,
        "mae": "10.00",
        "bias": "-10.00",
        "wape": "0.3333",
    }, "made 13 weeks ago, the method expected 20 a week where 30 came"
    test = (await client.get("/v1/capacity/baseline/backtest")).json()
    assert test["forecast_id"] == forecast["id"]
    assert [(w["week_start"], w["forecast"], w["actual"], w["error"]) for w in test["weeks"]] == [
        (str(week(i)), "20.00", 30, "-10.00") for i in range(-13, 0)
    ]
    assert (await baseline(client, to_week=str(THIS_WEEK)))["weeks"][0]["expected_orders"] == "30.00"


async def age_forecasts(db_url: str, hours: int) -> None:
    connection = await asyncpg.connect(db_url)
    try:
        await connection.execute(
            "UPDATE capacity.forecasts SET computed_at = computed_at - make_interval(hours => $1)", hours
        )
    finally:
        await connection.close()


@pytest.mark.isolation("truncate")  # ages the stored forecast over a connection of its own
@pytest.mark.parametrize("failure", ["down", "500", "garbage", "timeout"])
async def test_with_segmentation_failing_the_last_stored_forecast_serves_and_says_it_is_stale(
    client: httpx.AsyncClient, segmentation: FakeSegmentation, db_url: str, failure: str
) -> None:
    await put_resource(client)
    stored = await refresh(client)
    segmentation.failure = failure
    fresh = await baseline(client, to_week=str(THIS_WEEK))
    assert (fresh["forecast"]["id"], fresh["forecast"]["stale"]) == (stored["id"], False), "young: not asked again"

    await age_forecasts(db_url, 2)
    served = await baseline(client, to_week=str(week(1)))
    assert (served["forecast"]["id"], served["forecast"]["stale"]) == (stored["id"], True)
    assert "segmentation service" in served["forecast"]["stale_reason"]
    assert [w["baseline"] for w in served["weeks"]] == ["80.00", "80.00"], "the stored forecast, unchanged"
    headroom = (await client.get("/v1/capacity/headroom", params={"to_week": str(THIS_WEEK)})).json()
    assert headroom["baseline"]["stale"] is True
    assert "could not be asked" in headroom["baseline"]["stale_reason"]

    refused = problem(await client.post("/v1/capacity/baseline/refresh"), 503)
    assert "The last stored forecast stays the baseline." in refused["detail"]

    segmentation.failure = None
    recovered = await baseline(client, to_week=str(THIS_WEEK))
    assert recovered["forecast"]["stale"] is False
    assert recovered["forecast"]["id"] > stored["id"]


async def test_with_segmentation_down_and_nothing_stored_the_baseline_is_a_503_not_a_500(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    await put_resource(client)
    segmentation.failure = "down"
    found = problem(await client.get("/v1/capacity/baseline"), 503)
    assert "No forecast is stored to fall back on." in found["detail"]
    missing = problem(await client.get("/v1/capacity/headroom"), 409)
    assert missing["type"].endswith("/baseline-missing")


async def test_segmentation_is_asked_with_the_request_id(
    client: httpx.AsyncClient, segmentation: FakeSegmentation
) -> None:
    await put_resource(client)
    response = await client.post("/v1/capacity/baseline/refresh", headers={"X-Request-ID": "plan-42"})
    assert response.status_code == 200
    assert {r.headers["x-request-id"] for r in segmentation.requests} == {"plan-42"}
    history = [r for r in segmentation.requests if r.url.path.endswith("/weekly-orders") and "abc" not in r.url.params]
    assert (history[0].url.params["from_date"], history[0].url.params["to_date"]) == (str(week(-26)), str(THIS_WEEK)), (
        "13 weeks to forecast from and 13 to backtest on, complete weeks only"
    )


@pytest.mark.isolation("truncate")  # ages the stored forecast over a connection of its own
async def test_the_maintenance_round_forecasts_when_the_baseline_is_missing_or_old(
    db_url: str, segmentation: FakeSegmentation
) -> None:
    app = make_app(db_url, segmentation)
    async with app_client(app) as client:
        await put_resource(client)
        segmentation.failure = "down"
        await maintenance.run_once(app)  # nothing stored and segmentation down: logged, tried again next round
        problem(await client.get("/v1/capacity/headroom"), 409)

        segmentation.failure = None
        await maintenance.run_once(app)
        first = (await client.get("/v1/capacity/headroom")).json()["baseline"]
        await maintenance.run_once(app)
        assert (await client.get("/v1/capacity/headroom")).json()["baseline"]["id"] == first["id"], "young: kept"
        await age_forecasts(db_url, 2)
        await maintenance.run_once(app)
        assert (await client.get("/v1/capacity/headroom")).json()["baseline"]["id"] > first["id"]
