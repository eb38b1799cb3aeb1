"""Headroom = capacity (after exceptions) - baseline - reserve - reservations, and what follows from it: the
acquisition limit, utilisation with the backlog and extra lead time, the gauges, what-if."""

from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.capacity.conftest import THIS_WEEK, headroom, problem, put_resource, refresh, week

pytestmark = pytest.mark.isolation("rollback")


async def exception(client: httpx.AsyncClient, first: int, last: int, **change: str) -> None:
    body = {
        "resource": "assembly-hours",
        "starts_on": str(week(first) + timedelta(days=2)),
        "ends_on": str(week(last) + timedelta(days=4)),
        "reason": "test",
    } | change
    response = await client.post("/v1/capacity/exceptions", json=body)
    assert response.status_code == 201, response.text


async def adjust(client: httpx.AsyncClient, offset: int, amount: str, key: str = "assembly-hours") -> None:
    body = {"resource": key, "week_start": str(week(offset)), "amount": amount, "reason": "known order"}
    assert (await client.post("/v1/capacity/adjustments", json=body)).status_code == 201


async def reserve(client: httpx.AsyncClient, offset: int, amount: str, key: str = "assembly-hours") -> dict:
    body = {"campaign": "c", "lines": [{"resource": key, "week_start": str(week(offset)), "amount": amount}]}
    response = await client.post("/v1/capacity/reservations", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def planned(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Assembly: 200 hours a week, 2 per order, 10 % reserve, 3 a week per new customer; 40 orders a week ->
    a baseline of 80. Exceptions: week 1 a holiday (-40), week 2 a shutdown (0), week 3 short time (120) with an
    extra shift (+30). Week 4: a known order of 25 hours. Delivery: 50 slots, 0.5 per order, 1 per new customer."""
    await put_resource(client)
    await put_resource(
        client, "delivery-slots", weekly_capacity="50", load_per_order="0.5", new_customer_weekly_load="1"
    )
    await refresh(client)
    await exception(client, 1, 1, delta="-40")
    await exception(client, 2, 2, capacity="0")
    await exception(client, 3, 3, capacity="120")
    await exception(client, 3, 3, delta="30")
    await adjust(client, 4, "25")
    return client


async def test_headroom_is_capacity_after_exceptions_less_baseline_reserve_and_reservations(
    planned: httpx.AsyncClient,
) -> None:
    await reserve(planned, 0, "30")
    response = await planned.get(
        "/v1/capacity/headroom", params={"resource": "assembly-hours", "to_week": str(week(4))}
    )
    assert response.status_code == 200, response.text
    found = [
        (w["capacity"], w["baseline"], w["reserve"], w["held"], w["headroom"], w["acquisition_limit"])
        for w in response.json()["weeks"]
    ]
    assert found == [
        ("200.00", "80.00", "20.00", "30.00", "70.00", 23),  # 70 / 3 new-customer hours
        ("160.00", "80.00", "16.00", "0.00", "64.00", 21),  # a holiday: 200 - 40
        ("0.00", "80.00", "0.00", "0.00", "-80.00", 0),  # shut down: the existing customers wait
        ("150.00", "80.00", "15.00", "0.00", "55.00", 18),  # 120 instead of 200, plus an extra shift of 30
        ("200.00", "105.00", "20.00", "0.00", "75.00", 25),  # 25 hours of a known order on top
    ]


async def test_the_newest_absolute_exception_wins_and_deltas_add_up(client: httpx.AsyncClient) -> None:
    await put_resource(client)
    await refresh(client)
    await exception(client, 1, 1, capacity="100")
    await exception(client, 1, 1, capacity="150")
    await exception(client, 1, 1, delta="-10")
    await exception(client, 1, 1, delta="-20")
    assert (await headroom(client, "assembly-hours", week(1)))["capacity"] == "120.00"


async def test_the_reserve_follows_the_resources_share(client: httpx.AsyncClient) -> None:
    await put_resource(client, weekly_capacity="333", reserve_share="0.25")
    await refresh(client)
    cell = await headroom(client, "assembly-hours", THIS_WEEK)
    assert (cell["reserve"], cell["headroom"]) == ("83.25", "169.75")


async def test_the_acquisition_limit_is_the_tightest_resource_in_the_tightest_week(
    planned: httpx.AsyncClient,
) -> None:
    response = await planned.get("/v1/capacity/acquisition-limit", params={"to_week": str(week(1))})
    assert response.status_code == 200, response.text
    found = response.json()
    # This week: assembly 100 / 3 = 33, delivery (50 - 20 - 5) / 1 = 25; next week assembly 64 / 3 = 21.
    assert [(w["limit"], w["binding_resource"]) for w in found["weeks"]] == [
        (25, "delivery-slots"),
        (21, "assembly-hours"),
    ]
    assert (found["limit"], found["binding_resource"], found["binding_week"]) == (21, "assembly-hours", str(week(1)))

    later = (
        await planned.get("/v1/capacity/acquisition-limit", params={"from_week": str(week(3)), "to_week": str(week(4))})
    ).json()
    assert (later["limit"], later["binding_week"]) == (18, str(week(3)))


async def test_a_resource_new_customers_do_not_load_does_not_limit(client: httpx.AsyncClient) -> None:
    await put_resource(client, new_customer_weekly_load="0")
    await refresh(client)
    found = (await client.get("/v1/capacity/acquisition-limit", params={"to_week": str(THIS_WEEK)})).json()
    assert (found["limit"], found["weeks"][0]["limit"]) == (None, None)
    assert (await headroom(client, "assembly-hours", THIS_WEEK))["acquisition_limit"] is None


async def test_past_100_percent_the_backlog_carries_over_and_states_the_extra_lead_time(
    client: httpx.AsyncClient,
) -> None:
    await put_resource(client, weekly_capacity="100", load_per_order="1")  # 40 orders -> 40 hours a week
    await refresh(client)
    await adjust(client, 1, "90")  # 130 of 100: 30 left over
    await adjust(client, 2, "80")  # 120 of 100: another 20, 50 in all
    await adjust(client, 3, "0.5")  # 40.5: the backlog is worked off
    response = await client.get("/v1/capacity/utilisation", params={"to_week": str(week(3))})
    assert response.status_code == 200, response.text
    found = [
        (
            w["demand"],
            w["utilisation"],
            w["backlog"],
            w["extra_lead_time_weeks"],
            w["extra_lead_time_days"],
            w["delayed"],
        )
        for w in response.json()["weeks"]
    ]
    assert found == [
        ("40.00", "0.4000", "0.00", None, None, False),
        ("130.00", "1.3000", "30.00", "0.30", 3, True),  # 30 / 100 hours a week = 0.3 weeks = 2.1 days -> 3
        ("120.00", "1.2000", "50.00", "0.50", 4, True),
        ("40.50", "0.4050", "0.00", None, None, False),
    ]
    later = (
        await client.get("/v1/capacity/utilisation", params={"from_week": str(week(2)), "to_week": str(week(2))})
    ).json()
    assert later["weeks"][0]["backlog"] == "50.00", "a range starting later still carries the weeks before it"


async def test_a_shutdown_week_has_no_utilisation_but_a_backlog(client: httpx.AsyncClient) -> None:
    await put_resource(client, weekly_capacity="100", load_per_order="1")
    await refresh(client)
    await exception(client, 1, 1, capacity="0")
    weeks = (await client.get("/v1/capacity/utilisation", params={"to_week": str(week(2))})).json()["weeks"]
    assert [(w["utilisation"], w["backlog"], w["extra_lead_time_days"]) for w in weeks] == [
        ("0.4000", "0.00", None),
        (None, "40.00", 3),
        ("0.4000", "0.00", None),
    ], "the week after serves its own 40 hours and the 40 left over"


def gauge(metrics: str, name: str, resource: str) -> float:
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("resource") == resource:
                return sample.value
    raise AssertionError(f"no {name} for {resource}")


@pytest.mark.isolation("truncate")  # /metrics reads over the engine
async def test_metrics_show_this_weeks_utilisation_and_headroom_per_resource(planned: httpx.AsyncClient) -> None:
    await reserve(planned, 0, "30")
    metrics = (await planned.get("/metrics")).text
    assert gauge(metrics, "capacity_headroom_units", "assembly-hours") == 70.0
    assert gauge(metrics, "capacity_utilisation_ratio", "assembly-hours") == 0.55  # (80 + 30) / 200
    assert gauge(metrics, "capacity_headroom_units", "delivery-slots") == 25.0
    await reserve(planned, 0, "20")
    assert gauge((await planned.get("/metrics")).text, "capacity_headroom_units", "assembly-hours") == 50.0


async def test_what_if_says_how_much_of_a_campaign_fits_and_reserves_nothing(planned: httpx.AsyncClient) -> None:
    body = {"weeks": [{"week_start": str(week(0)), "orders": "30"}, {"week_start": str(week(1)), "orders": "40"}]}
    response = await planned.post("/v1/capacity/what-if", json=body)
    assert response.status_code == 200, response.text
    found = response.json()
    first, second = found["weeks"]
    # This week 30 orders need 60 of 100 assembly hours and 15 of 25 slots: all fit.
    assert (first["fitting_orders"], first["fits"], first["binding_resource"]) == ("30.00", True, None)
    assert [(r["resource"], r["needed"], r["available"]) for r in first["resources"]] == [
        ("assembly-hours", "60.00", "100.00"),
        ("delivery-slots", "15.00", "25.00"),
    ]
    # Next week (a holiday) assembly has 64 hours: 32 of the 40 orders.
    assert (second["fitting_orders"], second["fits"], second["binding_resource"]) == ("32.00", False, "assembly-hours")
    assert (found["fits"], found["orders"], found["fitting_orders"], found["fitting_share"]) == (
        False,
        "70.00",
        "62.00",
        "0.8857",
    )
    assert [(x["resource"], x["week_start"], x["amount"]) for x in found["reservation_lines"]] == [
        ("assembly-hours", str(week(0)), "60.00"),
        ("delivery-slots", str(week(0)), "15.00"),
        ("assembly-hours", str(week(1)), "64.00"),
        ("delivery-slots", str(week(1)), "16.00"),
    ]
    assert (await headroom(planned, "assembly-hours", week(0)))["headroom"] == "100.00", "nothing was reserved"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from_week": str(week(-1))}, "query.from_week"),
        ({"to_week": str(week(26))}, "query.to_week"),
        ({"from_week": str(week(2)), "to_week": str(week(1))}, "query.to_week"),
        ({"from_week": str(week(1) + timedelta(days=3))}, "query.from_week"),
        ({"resource": "welding-hours"}, "query.resource"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/capacity/headroom", "/v1/capacity/utilisation", "/v1/capacity/baseline"])
async def test_bad_week_ranges_and_unknown_resources_are_422_problems(
    planned: httpx.AsyncClient, path: str, params: dict, field: str
) -> None:
    found = problem(await planned.get(path, params=params), 422)
    assert [e["field"] for e in found["errors"]] == [field]


@pytest.mark.parametrize(
    ("weeks", "field"),
    [
        ([{"week_start": str(week(-1)), "orders": "5"}], "body.weeks.0.week_start"),
        ([{"week_start": str(week(0)), "orders": "-5"}], "body.weeks.0.orders"),
        ([{"week_start": str(week(0)), "orders": "many"}], "body.weeks.0.orders"),
        ([{"week_start": str(week(0)), "orders": "5"}, {"week_start": str(week(0)), "orders": "6"}], "body.weeks"),
        ([], "body.weeks"),
    ],
)
async def test_bad_what_if_input_is_a_422_problem(planned: httpx.AsyncClient, weeks: list, field: str) -> None:
    found = problem(await planned.post("/v1/capacity/what-if", json={"weeks": weeks}), 422)
    assert field in [e["field"] for e in found["errors"]]
