"""Business metrics of campaigns, read from its tables when scraped (servicekit.business_metrics): campaigns
by state, and planned against actual responses of every running campaign."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.campaigns import repository as campaigns
from campaigns.results import repository as results

# The states the table allows (its check constraint), each reported even when no campaign is in it.
STATES = ("draft", "planned", "approved", "running", "completed", "cancelled")


class CampaignsMetrics:
    """`campaigns_*` figures; see docs/operations.md."""

    def __init__(self) -> None:
        self._by_state: dict[str, int] | None = None
        self._running: list[Any] = []

    async def refresh(self, connection: AsyncConnection) -> None:
        self._by_state = await campaigns.count_by_state(connection)
        self._running = await results.responses_of_running(connection)

    def collect(self) -> Iterable[Metric]:
        if self._by_state is None:
            return
        campaigns = GaugeMetricFamily("campaigns_campaigns", "Campaigns by state.", labels=["state"])
        for state in dict.fromkeys([*STATES, *self._by_state]):
            campaigns.add_metric([state], self._by_state.get(state, 0))
        yield campaigns
        planned = GaugeMetricFamily(
            "campaigns_planned_responses",
            "Expected responses of each running campaign (its plan's forecast).",
            labels=["campaign"],
        )
        actual = GaugeMetricFamily(
            "campaigns_actual_responses",
            "Members of each running campaign who responded so far (a recorded response or an attributed order).",
            labels=["campaign"],
        )
        for campaign_id, responded, expected in self._running:
            planned.add_metric([str(campaign_id)], float(expected or 0))
            actual.add_metric([str(campaign_id)], int(responded))
        yield planned
        yield actual
