"""Response priors and forecasts.

P(response) of a member = the posterior mean of his Z-stage for the campaign's kind and channel, times his
probability alive where segmentation has one (CAMPAIGNS_SCALE_BY_PROBABILITY_ALIVE). The posterior is
Beta(n p0 + r, n (1 - p0) + e - r): p0 the Z-stage's prior (seed 003: Z0 1 %, Z1 2 %, Z2 5 %, Z3 7 %, Z4 10 %),
n the prior's weight in contacts (CAMPAIGNS_PRIOR_STRENGTH), r the responses and e the exposure (contacts, each
weighted by the probability-alive factor his prediction used) measured by the company's completed campaigns of
that kind and channel."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from campaigns.audience import repository as audience
from campaigns.forecast import repository
from campaigns.forecast.repository import as_decimal
from campaigns.forecast.schemas import Forecast, GroupForecast, Posterior, WeekForecast
from campaigns.settings import Z_STAGES, CampaignsSettings
from campaigns.types import CENT
from servicekit.clock import week_of
from servicekit.sql import SQL

P_PLACES = Decimal("0.00000001")


def posterior(
    settings: CampaignsSettings,
    kind: str,
    channel: str,
    z_stage: str,
    campaigns: int = 0,
    contacts: int = 0,
    exposure: Decimal = Decimal(0),
    responses: int = 0,
) -> Posterior:
    prior = settings.response_priors[z_stage]
    strength = settings.prior_strength
    alpha = prior * strength + responses
    beta = (1 - prior) * strength + max(exposure - responses, Decimal(0))
    total = alpha + beta
    mean = alpha / total
    sd = Decimal(math.sqrt(float(alpha * beta / (total * total * (total + 1)))))
    return Posterior(
        kind=kind,
        channel=channel,
        z_stage=z_stage,
        prior=prior,
        prior_strength=strength,
        campaigns=campaigns,
        contacts=contacts,
        exposure=exposure.quantize(Decimal("0.000001")),
        responses=responses,
        alpha=alpha.quantize(Decimal("0.000001")),
        beta=beta.quantize(Decimal("0.000001")),
        mean=mean.quantize(P_PLACES, ROUND_HALF_UP),
        sd=sd.quantize(P_PLACES, ROUND_HALF_UP),
    )


async def posteriors(
    session: AsyncSession, settings: CampaignsSettings, kind: str, channel: str
) -> dict[str, Posterior]:
    """The posterior of every Z-stage for one kind and channel."""
    found = {row[2]: row for row in await repository.observed(session, kind, channel)}
    out = {}
    for z in Z_STAGES:
        row = found.get(z)
        out[z] = (
            posterior(settings, kind, channel, z, int(row[3]), int(row[4]), as_decimal(row[5]), int(row[6]))
            if row
            else posterior(settings, kind, channel, z)
        )
    return out


async def all_posteriors(
    session: AsyncSession, settings: CampaignsSettings, kinds: list[str], channels: list[str]
) -> list[Posterior]:
    found = {(r[0], r[1], r[2]): r for r in await repository.observed(session, None, None)}
    out = []
    for kind in kinds:
        for channel in channels:
            for z in Z_STAGES:
                row = found.get((kind, channel, z))
                figures = (int(row[3]), int(row[4]), as_decimal(row[5]), int(row[6])) if row else ()
                out.append(posterior(settings, kind, channel, z, *figures))
    return out


def spread(total: Decimal, first: date, last: date) -> list[WeekForecast]:
    """`total` orders spread evenly over the days from `first` to `last` (both included), summed per ISO week;
    rounded to cents so that the weeks add up to the total (rounded)."""
    days = (last - first).days + 1
    if days <= 0:
        return []
    weeks: dict[date, int] = {}
    for offset in range(days):
        monday = week_of(first + timedelta(days=offset))
        weeks[monday] = weeks.get(monday, 0) + 1
    out, placed, seen = [], Decimal(0), 0
    target = total.quantize(CENT, ROUND_HALF_UP)
    for monday in sorted(weeks):
        seen += weeks[monday]
        upto = (total * seen / days).quantize(CENT, ROUND_HALF_UP) if seen < days else target
        out.append(WeekForecast(week_start=monday, expected_orders=upto - placed))
        placed = upto
    return out


def _cents(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(CENT, ROUND_HALF_UP)


async def build_forecast(
    session: AsyncSession,
    campaign_id: int,
    response_model: dict[str, Posterior],
    first: date,
    last: date,
    table: SQL = audience.MEMBERS,
) -> Forecast:
    """The forecast of the campaign's included members, from their stored scores."""
    rows = {row[0]: row for row in await audience.forecast_sums(session, campaign_id, table)}
    groups, totals = [], [0, Decimal(0), Decimal(0), Decimal(0), Decimal(0), Decimal(0)]
    for z in Z_STAGES:
        row = rows.get(z)
        if row is None:
            continue
        figures = [int(row[1]), *(Decimal(value or 0) for value in row[2:])]
        totals = [a + b for a, b in zip(totals, figures, strict=True)]
        groups.append(
            GroupForecast(
                z_stage=z,
                members=figures[0],
                p_response=response_model[z].mean,
                expected_responses=_cents(figures[1]),
                expected_revenue=_cents(figures[2]),
            )
        )
    members, responses, revenue, contribution, contact_cost, incentive_cost = totals
    cost = contact_cost + incentive_cost
    net = contribution - cost
    return Forecast(
        members=int(members),
        expected_responses=_cents(responses),
        expected_orders=_cents(responses),
        expected_revenue=_cents(revenue),
        expected_contribution=_cents(contribution),
        contact_cost=_cents(contact_cost),
        incentive_cost=_cents(incentive_cost),
        expected_cost=_cents(cost),
        expected_net=_cents(net),
        roi=(net / cost).quantize(Decimal("0.0001"), ROUND_HALF_UP) if cost > 0 else None,
        by_z_stage=groups,
        weeks=spread(Decimal(responses), first, last),
    )
