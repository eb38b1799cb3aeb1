from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field

from campaigns.types import CampaignKind, Channel, ZStage


class Posterior(BaseModel):
    """The response rate of one group for one kind and channel: Beta(alpha, beta), the prior updated with the
    company's own results."""

    kind: CampaignKind
    channel: Channel
    z_stage: ZStage
    prior: Decimal = Field(description="The prior response rate of the Z-stage (seed 003).")
    prior_strength: int = Field(description="The prior's weight in contacts.")
    campaigns: int = Field(description="Completed campaigns measured.")
    contacts: int
    exposure: Decimal = Field(description="Contacts weighted by the probability alive used in the prediction.")
    responses: int
    alpha: Decimal = Field(description="prior x strength + responses")
    beta: Decimal = Field(description="(1 - prior) x strength + exposure - responses")
    mean: Decimal = Field(description="alpha / (alpha + beta): P(response) before the probability alive.")
    sd: Decimal = Field(description="The posterior's standard deviation.")


class WeekForecast(BaseModel):
    week_start: date
    expected_orders: Decimal


class GroupForecast(BaseModel):
    z_stage: ZStage
    members: int
    p_response: Decimal = Field(description="The group's posterior mean for the campaign's kind and channel.")
    expected_responses: Decimal
    expected_revenue: Decimal


class Forecast(BaseModel):
    """What the included members are expected to bring, from their scores: money in the campaign's currency."""

    members: int = Field(description="Members to contact.")
    expected_responses: Decimal = Field(description="sum of P(response)")
    expected_orders: Decimal = Field(description="One order per response.")
    expected_revenue: Decimal = Field(description="sum of P(response) x order value")
    expected_contribution: Decimal = Field(description="sum of P(response) x order value x contribution margin")
    contact_cost: Decimal
    incentive_cost: Decimal = Field(description="Expected: per-contact incentives in full, per-response ones x P.")
    expected_cost: Decimal = Field(description="contact_cost + incentive_cost")
    expected_net: Decimal = Field(description="expected_contribution - expected_cost")
    roi: Decimal | None = Field(description="expected_net / expected_cost; null without cost.")
    by_z_stage: list[GroupForecast]
    weeks: list[WeekForecast] = Field(description="Expected orders per ISO week, spread evenly over the schedule.")
