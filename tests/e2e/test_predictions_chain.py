"""The predictive chain through the gateway with every service running: CDNOW imported as orders, a fit, a
run that scores every customer, the predictions in a profile, and capacity's baseline from them."""

import time
from pathlib import Path

import httpx

from gateway.keys.schemas import Scope
from tests.e2e.conftest import Stack

CDNOW = Path(__file__).parents[1] / "data" / "cdnow_sample.txt"


def until_done(client: httpx.Client, location: str) -> dict:
    for _ in range(600):
        job = client.get(location).json()
        if job["status"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError(job)


def test_a_fit_scores_every_customer_and_feeds_capacity(stack: Stack) -> None:
    auth = {"Authorization": f"Bearer {stack.new_key(Scope.write)}"}
    lines = ["external_id,customer_external_id,ordered_at,net_amount,currency"]
    for number, line in enumerate(CDNOW.read_text().splitlines()):
        customer, _, day, _, dollars = line.split()
        lines.append(f"CD-{number},{customer},{day[:4]}-{day[4:6]}-{day[6:]}T12:00:00Z,{dollars},USD")
    with httpx.Client(base_url=stack.gateway.url, headers=auth, timeout=60) as client:
        config = client.get("/v1/segmentation/config").json()
        assert client.put("/v1/segmentation/config", json={**config, "base_currency": "USD"}).status_code == 200
        imported = client.post(
            "/v1/segmentation/imports/orders",
            params={"create_missing_customer": "true"},
            content="\n".join(lines) + "\n",
            headers={"Content-Type": "text/csv"},
        )
        assert imported.json()["rows_accepted"] == 6919, imported.text

        fit = until_done(
            client,
            client.post("/v1/segmentation/predictive/fits", json={"calibration_end": "1997-09-30"}).headers["location"],
        )
        assert fit["status"] == "succeeded", fit
        run = until_done(client, client.post("/v1/segmentation/runs", json={"as_of": "1997-09-30"}).headers["location"])
        assert (run["status"], run["model"]["fit_id"]) == ("succeeded", fit["id"])

        profile = client.get("/v1/segmentation/customers/00004/profile").json()["classification"]
        predictions = profile["predictions"]
        assert predictions["model"]["fit_id"] == fit["id"]
        assert 0 < predictions["probability_alive"] <= 1
        assert profile["potential"] == predictions["predicted_revenue_12m"]

        weekly = client.get("/v1/segmentation/predictive/weekly-purchases", params={"from_date": "1997-09-29"})
        assert (weekly.status_code, weekly.json()["fit_id"]) == (200, fit["id"])
        resource = {
            "name": "Shipping",
            "unit": "parcels",
            "weekly_capacity": "1000",
            "load_per_order": "1",
            "new_customer_weekly_load": "2",
        }
        assert client.put("/v1/capacity/resources/e2e-shipping", json=resource).status_code == 201
        forecast = client.post("/v1/capacity/baseline/refresh")
        assert (forecast.status_code, forecast.json()["source"]) == (200, "predictive"), forecast.text
