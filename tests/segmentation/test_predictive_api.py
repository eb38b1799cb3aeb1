"""The predictive models through the API, on CDNOW imported as orders: the summary computed in Postgres equals
the one computed from the transactions, and a fit (a job) reproduces the published estimates."""

import asyncio
import json
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import numpy as np
import pytest

from segmentation.classification import bases, predictions
from segmentation.predictive import model, repository
from segmentation.settings import SegmentationSettings
from servicekit.db import build_engine, sessionmaker_for
from tests.segmentation.conftest import TODAY

CDNOW = Path(__file__).parents[1] / "data" / "cdnow_sample.txt"
CALIBRATION_END = date(1997, 9, 30)


def cdnow_orders_csv() -> bytes:
    lines = ["external_id,customer_external_id,ordered_at,net_amount,currency"]
    for number, line in enumerate(CDNOW.read_text().splitlines()):
        customer, _, day, _, dollars = line.split()
        lines.append(f"CD-{number},{customer},{day[:4]}-{day[4:6]}-{day[6:]}T12:00:00Z,{dollars},USD")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
async def imported(client: httpx.AsyncClient) -> None:
    config = (await client.get("/v1/segmentation/config")).json()
    assert (await client.put("/v1/segmentation/config", json={**config, "base_currency": "USD"})).status_code == 200
    response = await client.post(
        "/v1/segmentation/imports/orders",
        params={"create_missing_customer": "true"},
        content=cdnow_orders_csv(),
        headers={"Content-Type": "text/csv"},
    )
    assert (response.status_code, response.json()["rows_accepted"]) == (201, 6919), response.text


async def sql_summary(db_url: str, time_zone: str = "UTC") -> model.Summary:
    """The summary the service fits on, by the customers' external ids (sorted, as model.summarise has them)."""
    engine = build_engine(SegmentationSettings(database_url=db_url), "test")
    try:
        async with sessionmaker_for(engine)() as session:
            found = await repository.summary(session, CALIBRATION_END, time_zone)
    finally:
        await engine.dispose()
    connection = await asyncpg.connect(db_url)
    try:
        external = dict(await connection.fetch("SELECT id, external_id FROM segmentation.customers"))
    finally:
        await connection.close()
    ids = np.array([external[i] for i in found.customer_ids.tolist()], dtype=str)
    order = np.argsort(ids)
    return model.Summary(ids[order], *(getattr(found, k)[order] for k in ("frequency", "recency", "age", "monetary")))


async def test_the_summary_from_sql_equals_the_one_from_the_transactions(imported: None, db_url: str) -> None:
    rows = np.loadtxt(CDNOW, dtype=str)
    days = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in rows[:, 2]], dtype="datetime64[D]")
    expected = model.summarise(rows[:, 0], days, rows[:, 4].astype(float), CALIBRATION_END)
    found = await sql_summary(db_url)
    assert found.customer_ids.tolist() == expected.customer_ids.tolist()
    for name in ("frequency", "recency", "age", "monetary"):
        np.testing.assert_allclose(getattr(found, name), getattr(expected, name), rtol=1e-12, err_msg=name)
    assert (int(found.frequency.sum()), int((found.frequency > 0).sum())) == (2457, 946)


async def test_the_fit_on_the_sql_summary_reproduces_the_paper(imported: None, db_url: str) -> None:
    found = await sql_summary(db_url)
    fit = model.fit_bgnbd(found.frequency, found.recency, found.age)
    assert (fit.params.r, fit.params.alpha, fit.params.a, fit.params.b) == pytest.approx(
        (0.243, 4.414, 0.793, 2.426), abs=1e-3
    )


async def test_days_of_the_summary_are_the_company_time_zone_days(imported: None, db_url: str) -> None:
    # Noon UTC is the same day from Berlin to Kiribati (UTC+14): 02:00 the next day there.
    in_utc, in_kiribati = await sql_summary(db_url), await sql_summary(db_url, "Pacific/Kiritimati")
    assert in_kiribati.age.tolist() == pytest.approx((in_utc.age - 1 / 7).tolist())


async def fit(client: httpx.AsyncClient, calibration_end: str | None = None) -> dict:
    return await fit_with(client, {"calibration_end": calibration_end} if calibration_end else None)


async def fit_with(client: httpx.AsyncClient, body: dict | None) -> dict:
    response = await client.post("/v1/segmentation/predictive/fits", json=body)
    assert (response.status_code, response.json()["status"]) == (202, "running"), response.text
    for _ in range(300):
        job = (await client.get(response.headers["location"])).json()
        if job["status"] != "running":
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"the fit did not end: {job}")


async def test_a_fit_job_reproduces_the_paper_and_becomes_the_model(imported: None, client: httpx.AsyncClient) -> None:
    nothing = await client.get("/v1/segmentation/predictive/model")
    assert nothing.status_code == 404
    assert nothing.headers["content-type"] == "application/problem+json"
    assert "200 customers who bought more than once" in nothing.json()["detail"]

    job = await fit(client, CALIBRATION_END.isoformat())
    assert (job["status"], job["customers"], job["repeat_customers"]) == ("succeeded", 2357, 946), job
    purchases, spend = job["purchases"], job["spend"]
    assert (purchases["r"], purchases["alpha"], purchases["a"], purchases["b"]) == pytest.approx(
        (0.243, 4.414, 0.793, 2.426), abs=1e-3
    )
    assert purchases["log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    assert (spend["p"], spend["q"], spend["gamma"]) == pytest.approx((6.25, 3.74, 15.44), abs=0.01)
    assert (await client.get("/v1/segmentation/predictive/model")).json()["id"] == job["id"]

    too_early = await fit(client, "1997-01-31")  # a month of history: too little, said plainly
    assert too_early["status"] == "failed"
    assert "customers bought more than once; the model needs at least 200" in too_early["error"]
    assert (await client.get("/v1/segmentation/predictive/model")).json()["id"] == job["id"], "the model stays"
    listed = (await client.get("/v1/segmentation/predictive/fits")).json()
    assert [f["id"] for f in listed] == [too_early["id"], job["id"]]


async def test_a_fit_without_orders_fails_plainly_and_bad_requests_are_refused(client: httpx.AsyncClient) -> None:
    job = await fit(client)
    assert (job["status"], job["customers"], job["repeat_customers"]) == ("failed", 0, 0)
    assert "needs at least 200" in job["error"]
    bad = await client.post("/v1/segmentation/predictive/fits", json={"calibration_end": "1997-02-30"})
    assert (bad.status_code, bad.headers["content-type"]) == (422, "application/problem+json")
    missing = await client.get(f"/v1/segmentation/predictive/fits/{uuid.uuid4()}")
    assert (missing.status_code, missing.headers["content-type"]) == (404, "application/problem+json")


async def test_a_fit_with_a_holdout_compares_predicted_and_actual_repeat_purchases(
    imported: None, client: httpx.AsyncClient
) -> None:
    job = await fit_with(client, {"calibration_end": CALIBRATION_END.isoformat(), "holdout_end": "1998-06-30"})
    assert job["status"] == "succeeded", job
    holdout = job["holdout"]
    # Derived from this sample (as in test_predictive_model): 1,882 repeat purchase days in the 39 weeks after,
    # about 1,653 expected from each customer's history.
    assert (holdout["weeks"], holdout["actual_purchases"]) == (39.0, 1882.0)
    assert holdout["expected_purchases"] == pytest.approx(1653, rel=0.01)
    groups = holdout["by_calibration_purchases"]
    assert [g["calibration_purchases"] for g in groups] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert sum(g["customers"] for g in groups) == 2357
    expected = [g["expected_mean"] for g in groups]
    assert expected == sorted(expected), "who bought more before is expected to buy more after"
    assert groups[-1]["actual_mean"] > 3 * groups[0]["actual_mean"]

    refused = await client.post(
        "/v1/segmentation/predictive/fits", json={"calibration_end": "1997-09-30", "holdout_end": "1997-09-01"}
    )
    assert (refused.status_code, refused.headers["content-type"]) == (422, "application/problem+json")


async def test_a_fit_whose_process_died_ends_failed(client: httpx.AsyncClient, db_url: str) -> None:
    connection = await asyncpg.connect(db_url)
    try:  # as a process that died while fitting leaves it
        fit_id = await connection.fetchval(
            """INSERT INTO segmentation.predictive_fits (calibration_end, time_zone, started_at)
               VALUES ('2026-06-30', 'UTC', now() - interval '2 hours') RETURNING id"""
        )
    finally:
        await connection.close()
    job = (await client.get(f"/v1/segmentation/predictive/fits/{fit_id}")).json()
    assert (job["status"], job["error"]) == ("failed", "interrupted: the process fitting it stopped")


# --- Per-customer predictions, scored by full runs and ingests -----------------------------------------------

HORIZON_WEEKS = 12 * model.WEEKS_PER_MONTH


async def classify(client: httpx.AsyncClient, as_of: str) -> dict:
    response = await client.post("/v1/segmentation/runs", json={"as_of": as_of})
    assert response.status_code == 202, response.text
    for _ in range(600):
        run = (await client.get(response.headers["location"])).json()
        if run["status"] != "running":
            assert run["status"] == "succeeded", run
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"the run did not end: {run}")


async def profile(client: httpx.AsyncClient, customer: str) -> dict:
    response = await client.get(f"/v1/segmentation/customers/{customer}/profile")
    assert response.status_code == 200, response.text
    return response.json()["classification"]


def expected_predictions(job: dict, summary: model.Summary, customer: str) -> dict[str, float]:
    """What model.py gives for the customer's calibration history, with the default horizons and CLV terms."""
    at = summary.customer_ids.tolist().index(customer)
    history = [a[at : at + 1] for a in (summary.frequency, summary.recency, summary.age)]
    purchases = model.BgNbdParams(*(job["purchases"][k] for k in ("r", "alpha", "a", "b")))
    spend = model.GammaGammaParams(*(job["spend"][k] for k in ("p", "q", "gamma")))
    monetary = summary.monetary[at : at + 1]
    alive = model.probability_alive(purchases, *history)[0]
    order_value = model.expected_spend(spend, history[0], monetary)[0]
    return {
        "probability_alive": alive,
        "expected_purchases": model.expected_purchases(purchases, *history, HORIZON_WEEKS)[0],
        "expected_order_value": order_value,
        "predicted_revenue_12m": model.expected_purchases(purchases, *history, model.WEEKS_PER_YEAR)[0] * order_value,
        "clv": model.discounted_clv(
            purchases,
            spend,
            *history,
            monetary,
            horizon_weeks=36 * model.WEEKS_PER_MONTH,
            margin=0.3,
            annual_discount_rate=0.1,
        )[0],
    }


async def test_a_run_scores_every_customer_with_the_current_model(
    imported: None, client: httpx.AsyncClient, db_url: str
) -> None:
    assert (await classify(client, CALIBRATION_END.isoformat()))["model"] is None
    before = await profile(client, "00004")
    assert before["predictions"] is None, "no model yet: the rules alone"
    assert before["reasons"]["quadrant"]["potential_source"] == "revenue_12m"

    job = await fit(client, CALIBRATION_END.isoformat())
    run = await classify(client, CALIBRATION_END.isoformat())
    assert (run["model"]["fit_id"], run["model"]["purchases"]) == (
        job["id"],
        {k: job["purchases"][k] for k in ["r", "alpha", "a", "b"]},
    )
    summary = await sql_summary(db_url)
    repeat_buyers = summary.customer_ids[summary.frequency > 0]
    loyal = str(summary.customer_ids[np.argmax(summary.frequency)])
    # One-time buyers, a customer bought twice, and the most frequent one: each as model.py predicts him.
    for customer in ("00004", str(summary.customer_ids[summary.frequency == 0][0]), str(repeat_buyers[0]), loyal):
        shown = await profile(client, customer)
        predictions, want = shown["predictions"], expected_predictions(job, summary, customer)
        for name in ("probability_alive", "expected_purchases"):
            assert predictions[name] == pytest.approx(want[name], rel=1e-6, abs=1e-6), (customer, name)
        for name in ("expected_order_value", "predicted_revenue_12m", "clv"):
            assert float(predictions[name]) == pytest.approx(want[name], abs=0.006), (customer, name)
        assert (predictions["horizon_months"], predictions["clv_horizon_months"]) == (12, 36)
        assert predictions["model"]["fit_id"] == job["id"]
        assert predictions["model"]["purchases"]["r"] == job["purchases"]["r"]
        # The matrix's potential is the predicted revenue when the ERP gave no estimate.
        assert shown["potential"] == predictions["predicted_revenue_12m"]
        assert shown["reasons"]["quadrant"]["potential_source"] == "predicted_revenue_12m"
    shown = await profile(client, loyal)
    assert float(shown["predictions"]["clv"]) > 0
    # The audience stream carries the same figures, for campaigns to score members by.
    audience = await client.get("/v1/segmentation/audiences", params={"lifecycle": shown["lifecycle"]})
    members = {m["external_id"]: m for m in map(json.loads, audience.text.splitlines())}
    assert "purchase_days" not in members[loyal], "only what campaigns need"
    for name in ("probability_alive", "expected_purchases", "expected_order_value", "predicted_revenue_12m", "clv"):
        assert members[loyal][name] == shown["predictions"][name], name
    assert members[loyal]["potential"] == shown["potential"]

    # Horizons, margin and discount rate are the company's: the next run scores with the new ones.
    config = (await client.get("/v1/segmentation/config")).json()
    changed = {
        "prediction_horizon_months": 24,
        "clv_horizon_months": 12,
        "clv_margin": "0.6",
        "clv_annual_discount_rate": "0",
    }
    assert (await client.put("/v1/segmentation/config", json={**config, **changed})).status_code == 200
    await classify(client, CALIBRATION_END.isoformat())
    predictions = (await profile(client, loyal))["predictions"]
    at = summary.customer_ids.tolist().index(loyal)
    history = [a[at : at + 1] for a in (summary.frequency, summary.recency, summary.age)]
    params = model.BgNbdParams(*(job["purchases"][k] for k in ("r", "alpha", "a", "b")))
    two_years = model.expected_purchases(params, *history, 24 * model.WEEKS_PER_MONTH)[0]
    assert predictions["expected_purchases"] == pytest.approx(two_years, rel=1e-6)
    # Undiscounted over 12 months: the CLV is the margin of the predicted 12-month revenue (12 months of
    # 4.35 weeks: 52.18 weeks either way).
    assert float(predictions["clv"]) == pytest.approx(0.6 * float(predictions["predicted_revenue_12m"]), abs=0.01)
    assert (predictions["horizon_months"], predictions["clv_horizon_months"], predictions["margin"]) == (24, 12, 0.6)


async def test_an_active_customer_unlikely_to_be_alive_is_at_risk(imported: None, client: httpx.AsyncClient) -> None:
    await fit(client, CALIBRATION_END.isoformat())
    await classify(client, CALIBRATION_END.isoformat())
    at_risk = (await client.get("/v1/segmentation/profiles", params={"phase": "at_risk", "limit": 1000})).json()
    # At risk by the model alone: revenue did not fall sharply, but he stopped buying for longer than he used to.
    by_model = [
        p
        for p in at_risk["items"]
        if p["classification"]["predictions"]["probability_alive"] < 0.5
        and Decimal(p["classification"]["reasons"]["phase"]["recent_revenue"])
        > Decimal("0.5") * Decimal(p["classification"]["reasons"]["phase"]["previous_revenue"])
    ]
    assert by_model, "CDNOW has active customers whose purchase pattern says they left"
    customer = by_model[0]["customer"]["external_id"]
    reasons = by_model[0]["classification"]["reasons"]["phase"]
    assert (reasons["at_risk_probability_alive"], by_model[0]["classification"]["lifecycle"]) == ("0.5", "active")

    # The threshold is configurable: below his probability, he is no longer at risk.
    config = (await client.get("/v1/segmentation/config")).json()
    config["at_risk_probability_alive"] = str(reasons["probability_alive"] / 2)
    assert (await client.put("/v1/segmentation/config", json=config)).status_code == 200
    await classify(client, CALIBRATION_END.isoformat())
    assert (await profile(client, customer))["phase"] != "at_risk"


async def test_a_new_order_updates_the_customers_predictions_at_once(imported: None, client: httpx.AsyncClient) -> None:
    job = await fit(client, CALIBRATION_END.isoformat())
    await classify(client, CALIBRATION_END.isoformat())
    before = await profile(client, "00004")
    today = TODAY.isoformat()  # the company's day by the app's clock: its time zone is UTC here
    order = {
        "customer_external_id": "00004",
        "ordered_at": f"{today}T09:00:00Z",
        "net_amount": "20.00",
        "currency": "USD",
    }
    assert (await client.put("/v1/segmentation/orders/LIVE-1", json=order)).status_code in (200, 201)
    after = await profile(client, "00004")
    assert (after["as_of"], after["lifecycle"]) == (today, "reactivated")
    # Bought today: t_x = T, so P(alive) = 1 / (1 + a / (b + x - 1)), whatever the gap before.
    x = after["order_count"] - 1  # 00004 never bought twice on one day
    a, b = job["purchases"]["a"], job["purchases"]["b"]
    assert after["predictions"]["probability_alive"] == pytest.approx(1 / (1 + a / (b + x - 1)), rel=1e-6)
    assert after["predictions"]["probability_alive"] > before["predictions"]["probability_alive"]
    assert after["predictions"]["model"]["fit_id"] == job["id"], "ingests score with the last run's model"

    # An import scores every customer it touched the same way.
    csv = f"external_id,customer_external_id,ordered_at,net_amount,currency\nLIVE-2,00018,{today}T10:00:00Z,5.00,USD\n"
    imported_job = await client.post(
        "/v1/segmentation/imports/orders", content=csv, headers={"Content-Type": "text/csv"}
    )
    assert imported_job.json()["rows_accepted"] == 1, imported_job.text
    other = await profile(client, "00018")
    x = other["order_count"] - 1
    assert other["as_of"] == today
    assert other["predictions"]["probability_alive"] == pytest.approx(1 / (1 + a / (b + x - 1)), rel=1e-6)


async def test_prediction_settings_are_validated(client: httpx.AsyncClient) -> None:
    config = (await client.get("/v1/segmentation/config")).json()
    assert (config["prediction_horizon_months"], config["clv_horizon_months"]) == (12, 36)
    clv_and_risk = (config["clv_margin"], config["clv_annual_discount_rate"], config["at_risk_probability_alive"])
    assert clv_and_risk == ("0.30", "0.10", "0.5")
    for field, value in (("clv_margin", "1.5"), ("at_risk_probability_alive", "1"), ("prediction_horizon_months", 0)):
        refused = await client.put("/v1/segmentation/config", json={**config, field: value})
        assert (refused.status_code, refused.headers["content-type"]) == (422, "application/problem+json"), field
        assert refused.json()["errors"][0]["field"] == f"body.{field}"


async def test_weekly_purchases_forecast_what_the_customers_will_buy(imported: None, client: httpx.AsyncClient) -> None:
    params = {"from_date": "1997-09-29", "weeks": 39}
    before = await client.get("/v1/segmentation/predictive/weekly-purchases", params=params)
    assert (before.status_code, before.headers["content-type"]) == (409, "application/problem+json")

    job = await fit_with(client, {"calibration_end": CALIBRATION_END.isoformat(), "holdout_end": "1998-06-30"})
    await classify(client, CALIBRATION_END.isoformat())
    forecast = (await client.get("/v1/segmentation/predictive/weekly-purchases", params=params)).json()
    assert (forecast["fit_id"], forecast["as_of"], forecast["customers"]) == (job["id"], "1997-09-30", 2357)
    weeks = forecast["weeks"]
    assert [w["week_start"] for w in weeks[:2]] == ["1997-09-29", "1997-10-06"]
    assert (weeks[0]["iso_week"], len(weeks)) == ("1997-W40", 39)
    expected = [float(w["expected_orders"]) for w in weeks]
    # The same model, summed per week: what the holdout check expects of each customer in the 39 weeks after.
    assert sum(expected) == pytest.approx(job["holdout"]["expected_purchases"], rel=0.01)
    assert expected[1] > expected[-1] > 0, "customers drop out: fewer purchases week by week"
    assert expected[0] < expected[1], "the first week began before the run's day: only its last days count"

    not_monday = await client.get("/v1/segmentation/predictive/weekly-purchases", params={"from_date": "1997-09-30"})
    assert (not_monday.status_code, not_monday.headers["content-type"]) == (400, "application/problem+json")


async def test_a_profile_from_the_process_caches_is_the_one_read_through_a_session(
    imported: None, client: httpx.AsyncClient
) -> None:
    await fit(client, CALIBRATION_END.isoformat())
    await classify(client, CALIBRATION_END.isoformat())
    for cache in (bases.FINISHED_RUNS, bases.BASES, predictions.TERMS):
        cache.clear()
    # The caches miss the run, its basis and the model's terms: this read goes through a session and fills them.
    through_session = await client.get("/v1/segmentation/customers/00004/profile")
    assert (len(bases.FINISHED_RUNS), len(bases.BASES), len(predictions.TERMS)) == (1, 1, 1)
    from_caches = await client.get("/v1/segmentation/customers/00004/profile")
    assert from_caches.status_code == through_session.status_code == 200
    assert from_caches.json() == through_session.json()
    assert from_caches.json()["classification"]["predictions"] is not None


async def test_a_profile_as_of_a_day_scores_as_a_run_as_of_that_day(
    imported: None, client: httpx.AsyncClient, db_url: str
) -> None:
    await fit(client, CALIBRATION_END.isoformat())
    customers = sorted({line.split()[0] for line in CDNOW.read_text().splitlines()})
    day, sample = "1997-12-31", customers[::50]

    async def as_of(customer: str) -> dict:
        response = await client.get(f"/v1/segmentation/customers/{customer}/profile", params={"as_of": day})
        assert response.status_code == 200, response.text
        return response.json()

    def without_time(classification: dict) -> dict:
        return {k: v for k, v in classification.items() if k != "computed_at"}

    before = {customer: await as_of(customer) for customer in sample}
    assert {p["cut_points_from"]["source"] for p in before.values()} == {"computed"}
    run = await classify(client, day)
    for customer in sample:
        current, after = await profile(client, customer), await as_of(customer)
        assert after["cut_points_from"]["run_id"] == run["id"]
        assert without_time(before[customer]["classification"]) == without_time(current), customer
        assert without_time(after["classification"]) == without_time(current), customer
        assert current["predictions"]["model"]["fit_id"] == run["model"]["fit_id"]
    connection = await asyncpg.connect(db_url)
    try:  # terms nobody tabulated: a read as of a day computes its customer's and stores none
        await connection.execute("DELETE FROM segmentation.prediction_terms")
        for customer in sample[:10]:
            assert without_time((await as_of(customer))["classification"]) == without_time(
                await profile(client, customer)
            ), customer
        assert await connection.fetchval("SELECT count(*) FROM segmentation.prediction_terms") == 0
    finally:
        await connection.close()
