"""Business gauges, brought up to date on every scrape of /metrics: this week's utilisation and headroom per
resource, and the age of the baseline forecast."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from capacity.baseline import repository as baseline
from capacity.planning import repository
from capacity.settings import CapacitySettings
from capacity.weeks import current_week

logger = logging.getLogger("capacity.metrics")

UTILISATION = Gauge(
    "capacity_utilisation_ratio",
    "This week's demand (baseline and reservations) over its capacity, per resource (1 = 100 %).",
    ["resource"],
)
HEADROOM = Gauge(
    "capacity_headroom_units",
    "This week's headroom for acquisition per resource, in the resource's unit (negative: overbooked).",
    ["resource"],
)
BASELINE_AGE = Gauge("capacity_baseline_age_seconds", "Age of the newest baseline forecast in seconds (NaN: none yet).")

REFRESH_TIMEOUT_SECONDS = 2.0


async def refresh_gauges(sessions: async_sessionmaker[AsyncSession], settings: CapacitySettings) -> None:
    this_week = current_week(settings.time_zone)
    async with sessions() as session:
        cells = await repository.grid(session, None, this_week, this_week, this_week)
        newest = await baseline.newest(session)
    UTILISATION.clear()
    HEADROOM.clear()
    for cell in cells:
        if cell.utilisation is not None:
            UTILISATION.labels(cell.resource).set(float(cell.utilisation))
        if cell.headroom is not None:
            HEADROOM.labels(cell.resource).set(float(cell.headroom))
    BASELINE_AGE.set((datetime.now(UTC) - newest.computed_at).total_seconds() if newest else math.nan)


class GaugeRefreshMiddleware:
    """Refreshes the gauges before /metrics is rendered; on a database problem the last values are served."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/metrics":
            state = scope["app"].state
            try:
                async with asyncio.timeout(REFRESH_TIMEOUT_SECONDS):
                    await refresh_gauges(state.sessionmaker, state.settings)
            except Exception as exc:  # metrics must answer even when the database does not
                logger.warning("capacity gauges not refreshed: %s", type(exc).__name__)
        await self.app(scope, receive, send)
