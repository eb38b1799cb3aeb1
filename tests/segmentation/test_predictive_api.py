"""The predictive models through the API, on CDNOW imported as orders: the summary computed in Postgres equals
the one computed from the transactions, and a fit (a job) reproduces the published estimates."""

import asyncio
import uuid
from datetime import date
from pathlib import Path

import asyncpg
import httpx
import numpy as np
import pytest

from segmentation.predictive import model, repository
from segmentation.settings import SegmentationSettings
from servicekit.db import build_engine, sessionmaker_for

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
    response = await client.post(
        "/v1/segmentation/imports/orders",
        params={"create_missing_customers": "true"},
        content=cdnow_orders_csv(),
        headers={"Content-Type": "text/csv"},
    )
    assert (response.status_code, response.json()["rows_accepted"]) == (201, 6919), response.text


async def sql_summary(db_url: str, time_zone: str = "UTC") -> model.Summary:
    engine = build_engine(SegmentationSettings(database_url=db_url), "test")
    try:
        async with sessionmaker_for(engine)() as session:
            return await repository.summary(session, CALIBRATION_END, time_zone)
    finally:
        await engine.dispose()


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
