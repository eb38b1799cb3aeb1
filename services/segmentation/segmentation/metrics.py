"""Business metrics of segmentation, read from its tables when scraped (servicekit.business_metrics).

Customers by classification, imported rows, and the runs, each read by its package's repository. The largest
is one pass over `classifications` (figures in docs/benchmarks.md), made at most once per cache period.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import get_args

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy.ext.asyncio import AsyncConnection

from segmentation.classification import repository as classifications
from segmentation.imports import repository as imports
from segmentation.imports.fields import ENTITIES
from segmentation.imports.schemas import ImportStatus

NO_QUADRANT = "none"  # prospects and lapsed customers are outside the active base the matrix is drawn on


@dataclass
class _Figures:
    # (lifecycle, z_stage, abc, quadrant) -> customers
    customers: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    # (entity, status) -> (jobs, rows accepted, rows rejected)
    imports: dict[tuple[str, str], tuple[int, int, int]] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    last_run: tuple[float, float] | None = None  # (started, finished) of the newest successful run, Unix time


class SegmentationMetrics:
    """`segmentation_*` figures; see docs/operations.md for each."""

    def __init__(self) -> None:
        self._figures: _Figures | None = None

    async def refresh(self, connection: AsyncConnection) -> None:
        by_classes = await classifications.customers_by_classes(connection)
        self._figures = _Figures(
            customers={
                (lifecycle, z_stage, abc, quadrant or NO_QUADRANT): n
                for lifecycle, z_stage, abc, quadrant, n in by_classes
            },
            imports=await imports.rows_by_entity_and_status(connection),
            runs=await classifications.runs_by_status(connection),
            last_run=await classifications.last_run_times(connection),
        )

    def collect(self) -> Iterable[Metric]:
        figures = self._figures
        if figures is None:
            return
        customers = GaugeMetricFamily(
            "segmentation_customers",
            "Classified customers by lifecycle, target group (Z0-Z4), ABC class and value-matrix quadrant "
            "('none' outside the active base).",
            labels=["lifecycle", "z_stage", "abc", "quadrant"],
        )
        for labels, count in figures.customers.items():
            customers.add_metric(list(labels), count)
        yield customers

        # Every entity and outcome from the start, so that rate() sees the first import's rows too.
        rows = CounterMetricFamily(
            "segmentation_import_rows",
            "Rows of succeeded bulk imports, by entity and outcome: accepted (merged) or rejected (listed in the "
            "import's error report).",
            labels=["entity", "outcome"],
        )
        jobs = GaugeMetricFamily(
            "segmentation_imports",
            "Bulk import jobs on record, by entity and status (receiving and processing: running now).",
            labels=["entity", "status"],
        )
        for entity in ENTITIES:
            accepted = rejected = 0
            for status in get_args(ImportStatus):
                count, ok, bad = figures.imports.get((entity, status), (0, 0, 0))
                jobs.add_metric([entity, status], count)
                if status == "succeeded":
                    accepted, rejected = ok, bad
            rows.add_metric([entity, "accepted"], accepted)
            rows.add_metric([entity, "rejected"], rejected)
        yield rows
        yield jobs

        runs = CounterMetricFamily(
            "segmentation_runs", "Segmentation runs finished, by status (succeeded, failed).", labels=["status"]
        )
        for status in ("succeeded", "failed"):
            runs.add_metric([status], figures.runs.get(status, 0))
        yield runs
        yield GaugeMetricFamily(
            "segmentation_runs_in_progress", "Segmentation runs computing now.", value=figures.runs.get("running", 0)
        )
        if figures.last_run is not None:  # none before the first successful run
            started, finished = figures.last_run
            yield GaugeMetricFamily(
                "segmentation_last_run_duration_seconds",
                "How long the newest successful segmentation run took.",
                value=finished - started,
            )
            yield GaugeMetricFamily(
                "segmentation_last_run_success_timestamp_seconds",
                "When the newest successful segmentation run finished (Unix time).",
                value=finished,
            )
            # From the clock at scrape time, not when the figures were read: exact however long they are cached.
            yield GaugeMetricFamily(
                "segmentation_last_run_age_seconds",
                "Seconds since the newest successful segmentation run finished: how old the classifications are.",
                value=max(0.0, time.time() - finished),
            )
