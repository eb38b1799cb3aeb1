"""Business gauges, brought up to date on every scrape of /metrics: campaigns per state, and planned against
actual responses of every running campaign."""

from __future__ import annotations

import asyncio
import logging
from typing import get_args

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from campaigns.campaigns import repository as campaigns
from campaigns.results import repository as results
from campaigns.types import CampaignState

logger = logging.getLogger("campaigns.metrics")

CAMPAIGNS = Gauge("campaigns_campaigns", "Campaigns per state.", ["state"])
PLANNED = Gauge(
    "campaigns_planned_responses", "Expected responses of each running campaign (its plan's forecast).", ["campaign"]
)
ACTUAL = Gauge(
    "campaigns_actual_responses",
    "Members of each running campaign who responded so far (a recorded response or an attributed order).",
    ["campaign"],
)

REFRESH_TIMEOUT_SECONDS = 2.0


async def refresh_gauges(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        counts = await campaigns.count_by_state(session)
        running = await results.responses_of_running(session)
    for state in get_args(CampaignState):
        CAMPAIGNS.labels(state).set(counts.get(state, 0))
    PLANNED.clear()
    ACTUAL.clear()
    for campaign_id, actual, planned in running:
        PLANNED.labels(str(campaign_id)).set(float(planned or 0))
        ACTUAL.labels(str(campaign_id)).set(int(actual))


class GaugeRefreshMiddleware:
    """Refreshes the gauges before /metrics is rendered; on a database problem the last values are served."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/metrics":
            try:
                async with asyncio.timeout(REFRESH_TIMEOUT_SECONDS):
                    await refresh_gauges(scope["app"].state.sessionmaker)
            except Exception as exc:  # metrics must answer even when the database does not
                logger.warning("campaigns gauges not refreshed: %s", type(exc).__name__)
        await self.app(scope, receive, send)
