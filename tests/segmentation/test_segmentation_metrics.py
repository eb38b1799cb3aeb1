"""The business figures ops and the dashboard read from /metrics: customers by class, imported rows, runs."""

import time
from datetime import datetime
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from segmentation.main import create_app
from segmentation.settings import SegmentationSettings
from servicekit.testing import app_client
from tests.segmentation.conftest import NOW, TODAY
from tests.segmentation.test_classification import AS_OF, classify, customer, order

CUSTOMERS_CSV = b"""\
external_id,name,kind
K-1,Kunde 1,b2b
K-2,Kunde 2,b2x
K-3,Kunde 3,b2c
"""


def samples(metrics: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == name
    ]


def value(metrics: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` that carry `labels`."""
    found = [v for sample_labels, v in samples(metrics, name) if labels.items() <= sample_labels.items()]
    assert found, f"no {name} with {labels}"
    return sum(found)


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text


@pytest.fixture
async def client(db_url: str) -> Any:
    # No cache, so that each scrape sees what the test just did.
    app = create_app(SegmentationSettings(database_url=db_url, log_json=False, metrics_cache_seconds=0, fixed_now=NOW))
    async with app_client(app) as client:
        yield client


async def test_customers_are_counted_by_every_classification(client: httpx.AsyncClient) -> None:
    for external_id, days in {"NEW": [10], "ACTIVE": [200, 100], "LAPSED": [400], "LOYAL": [300, 200, 100]}.items():
        await customer(client, external_id)
        for d in days:
            await order(client, external_id, d, "1000.00")
    await customer(client, "PROSPECT")
    await classify(client, AS_OF)

    metrics = await scrape(client)
    by = {
        label: {
            key: value(metrics, "segmentation_customers", **{label: key})
            for key in {s[label] for s, _ in samples(metrics, "segmentation_customers")}
        }
        for label in ("lifecycle", "z_stage", "abc", "quadrant")
    }
    assert by["lifecycle"] == {"new": 1, "active": 2, "lapsed": 1, "prospect": 1}
    assert by["z_stage"] == {"Z0": 1, "Z2": 2, "Z3": 1, "Z4": 1}
    assert sum(by["abc"].values()) == 5
    assert by["quadrant"]["none"] == 2, "prospect and lapsed customers are outside the value matrix"
    # One series per combination: a lapsed first-time buyer is both at once.
    assert value(metrics, "segmentation_customers", lifecycle="lapsed", z_stage="Z2") == 1


async def test_imported_rows_are_counted_as_accepted_or_rejected(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    assert value(before, "segmentation_import_rows_total", entity="orders", outcome="rejected") == 0
    assert value(before, "segmentation_imports", entity="customers", status="succeeded") == 0

    response = await client.post(
        "/v1/segmentation/imports/customers", content=CUSTOMERS_CSV, headers={"Content-Type": "text/csv"}
    )
    assert response.json()["rows_rejected"] == 1
    failed = await client.post(
        "/v1/segmentation/imports/orders", content=b"external_id,nonsense\n", headers={"Content-Type": "text/csv"}
    )
    assert failed.status_code == 422

    metrics = await scrape(client)
    assert value(metrics, "segmentation_import_rows_total", entity="customers", outcome="accepted") == 2
    assert value(metrics, "segmentation_import_rows_total", entity="customers", outcome="rejected") == 1
    assert value(metrics, "segmentation_imports", entity="customers", status="succeeded") == 1
    assert value(metrics, "segmentation_imports", entity="orders", status="failed") == 1


async def test_the_last_successful_run_says_how_old_the_classifications_are(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    assert not samples(before, "segmentation_last_run_age_seconds"), "no run yet: no age to report"
    assert value(before, "segmentation_runs_total", status="succeeded") == 0

    await customer(client, "K-1")
    await order(client, "K-1", 5)
    run = await classify(client, TODAY)
    metrics = await scrape(client)

    assert value(metrics, "segmentation_runs_total", status="succeeded") == 1
    assert value(metrics, "segmentation_runs_in_progress") == 0
    finished = value(metrics, "segmentation_last_run_success_timestamp_seconds")
    assert abs(finished - time.time()) < 60
    assert finished == pytest.approx(datetime.fromisoformat(run["finished_at"]).timestamp(), abs=0.01)
    assert 0 <= value(metrics, "segmentation_last_run_age_seconds") < 60
    took = datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])
    assert value(metrics, "segmentation_last_run_duration_seconds") == pytest.approx(took.total_seconds(), abs=0.01)


async def test_figures_are_cached_between_scrapes(db_url: str) -> None:
    app = create_app(SegmentationSettings(database_url=db_url, log_json=False, metrics_cache_seconds=300))
    async with app_client(app) as client:
        assert not samples(await scrape(client), "segmentation_customers")
        await customer(client, "K-1")
        await classify(client, AS_OF)
        assert not samples(await scrape(client), "segmentation_customers"), "read again only after 300 s"
