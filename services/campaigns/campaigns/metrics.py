"""Business metrics of campaigns, read from its tables when scraped (servicekit.business_metrics).

Campaigns by state. Planned against actual response needs the contacts and responses the service does not
record yet; its gauges belong here once it does (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.campaigns.models import CampaignRow

# The states the table allows (its check constraint), each reported even when no campaign is in it.
STATES = ("draft", "planned", "approved", "running", "completed", "cancelled")


class CampaignsMetrics:
    """`campaigns_*` figures; see docs/operations.md."""

    def __init__(self) -> None:
        self._by_state: dict[str, int] | None = None

    async def refresh(self, connection: AsyncConnection) -> None:
        rows = await connection.execute(select(CampaignRow.state, func.count()).group_by(CampaignRow.state))
        self._by_state = {state: int(count) for state, count in rows}

    def collect(self) -> Iterable[Metric]:
        if self._by_state is None:
            return
        campaigns = GaugeMetricFamily("campaigns_campaigns", "Campaigns by state.", labels=["state"])
        for state in dict.fromkeys([*STATES, *self._by_state]):
            campaigns.add_metric([state], self._by_state.get(state, 0))
        yield campaigns
