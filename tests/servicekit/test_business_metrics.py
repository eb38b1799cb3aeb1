"""Business metrics are read from the database when scraped, but a slow or absent database never holds up
/metrics: Prometheus then gets the figures read last, and the failure is counted."""

import time
from collections.abc import Iterable

from fastapi import FastAPI
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.db import metadata
from campaigns.main import COMPONENT_DIR
from campaigns.settings import CampaignsSettings
from servicekit.app import create_service_app
from servicekit.testing import app_client


class Answer:
    """Reads one number from the database; `sleep` makes the next reads take that long."""

    def __init__(self) -> None:
        self.sleep = 0.0
        self.reads = 0
        self.figure: float | None = None

    async def refresh(self, connection: AsyncConnection) -> None:
        self.reads += 1
        self.figure = await connection.scalar(text("SELECT 42 FROM pg_sleep(:s)"), {"s": self.sleep})

    def collect(self) -> Iterable[Metric]:
        if self.figure is not None:
            yield GaugeMetricFamily("test_answer", "The answer.", value=self.figure)


def figures(metrics: str) -> dict[str, float]:
    return {s.name: s.value for f in text_string_to_metric_families(metrics) for s in f.samples}


def app(db_url: str, collector: Answer, **settings: float) -> FastAPI:
    return create_service_app(
        name="metrics-test",
        settings=CampaignsSettings(database_url=db_url, log_json=False, **settings),
        metadata=metadata,
        component_dir=COMPONENT_DIR,
        routers=[],
        business_metrics=[collector],
    )


async def test_a_slow_database_gets_the_last_figures_within_the_timeout(db_url: str) -> None:
    answer = Answer()
    async with app_client(app(db_url, answer, metrics_cache_seconds=0, metrics_timeout_seconds=0.5)) as client:
        first = figures((await client.get("/metrics")).text)
        assert first["test_answer"] == 42
        failures = first["business_metrics_refresh_failures_total"]
        assert "process_cpu_seconds_total" in first, "next to the process-wide metrics"

        answer.sleep = 5
        started = time.monotonic()
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert time.monotonic() - started < 2, "the scrape waited for the slow query"
        slow = figures(response.text)
        assert slow["test_answer"] == 42, "the last figures read"
        assert slow["business_metrics_refresh_failures_total"] == failures + 1


async def test_figures_are_read_at_most_once_per_cache_period(db_url: str) -> None:
    answer = Answer()
    async with app_client(app(db_url, answer, metrics_cache_seconds=300)) as client:
        for _ in range(3):
            assert figures((await client.get("/metrics")).text)["test_answer"] == 42
        assert answer.reads == 1
