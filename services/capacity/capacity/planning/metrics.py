"""Business metrics of capacity, read from its tables when scraped (servicekit.business_metrics): this week's
utilisation and headroom per resource, and the age of the baseline forecast."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from capacity.baseline import repository as baseline
from capacity.planning import repository
from capacity.weeks import current_week


class CapacityMetrics:
    """`capacity_*` figures; see docs/operations.md."""

    def __init__(self, time_zone: str) -> None:
        self.time_zone = time_zone
        self._cells: list[Any] | None = None
        self._computed_at: datetime | None = None

    async def refresh(self, connection: AsyncConnection) -> None:
        this_week = current_week(self.time_zone)
        session = AsyncSession(bind=connection)  # the planning queries take a session
        try:
            self._cells = await repository.grid(session, None, this_week, this_week, this_week)
            newest = await baseline.newest(session)
        finally:
            await session.close()
        self._computed_at = newest.computed_at if newest else None

    def collect(self) -> Iterable[Metric]:
        if self._cells is None:
            return
        utilisation = GaugeMetricFamily(
            "capacity_utilisation_ratio",
            "This week's demand (baseline and reservations) over its capacity, per resource (1 = 100 %).",
            labels=["resource"],
        )
        headroom = GaugeMetricFamily(
            "capacity_headroom_units",
            "This week's headroom for acquisition per resource, in the resource's unit (negative: overbooked).",
            labels=["resource"],
        )
        for cell in self._cells:
            if cell.utilisation is not None:
                utilisation.add_metric([cell.resource], float(cell.utilisation))
            if cell.headroom is not None:
                headroom.add_metric([cell.resource], float(cell.headroom))
        age = (datetime.now(UTC) - self._computed_at).total_seconds() if self._computed_at else math.nan
        yield utilisation
        yield headroom
        yield GaugeMetricFamily(
            "capacity_baseline_age_seconds", "Age of the newest baseline forecast in seconds (NaN: none yet).", age
        )
