from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from campaigns.audience.schemas import Plan
from campaigns.types import (
    AbcClass,
    CampaignKind,
    CampaignState,
    Channel,
    ConsentChannel,
    Currency,
    Key,
    Lifecycle,
    Money,
    Payment,
    Phase,
    Quadrant,
    Share,
    Text200,
    ZStage,
    within_campaign_length,
)
from servicekit.bounds import Day, DayCount, bounded, days

__all__ = ["CampaignKind", "CampaignState", "Channel"]

Actor = str | None
SizeLimit = bounded(int, ge=1, le=10_000_000)
AttributionDays = days(le=365)
DaysAgo = days(ge=0, le=36500)
CapacityPolicy = Literal["trim", "refuse"]


class AudienceRules(BaseModel):
    """Whom the campaign is for, by segmentation's classifications (several values of one OR'ed, different ones
    AND'ed), plus rules the campaigns service applies itself. A classification left open takes the kind's
    default: reactivation lapsed, second_order Z2, nurture Z1, loyalty Z4, acquisition Z0."""

    model_config = ConfigDict(extra="forbid")

    lifecycle: list[Lifecycle] = []
    z_stage: list[ZStage] = []
    abc: list[AbcClass] = []
    quadrant: list[Quadrant] = []
    payment: list[Payment] = []
    phase: list[Phase] = []
    key_account: bool | None = None
    min_revenue_12m: Money | None = None
    max_revenue_12m: Money | None = None
    last_order_from: Day | None = None
    last_order_before: Day | None = None
    last_order_days_ago_min: DaysAgo | None = Field(
        default=None, description="Last order at least this many days before the planning day."
    )
    last_order_days_ago_max: DaysAgo | None = Field(
        default=None, description="Last order at most this many days before the planning day."
    )
    consent: list[ConsentChannel] = Field(
        default=[], description="Consent on every channel named (the campaign's own channel is always checked)."
    )
    min_probability_alive: Share | None = Field(
        default=None, description="Only members at least this likely still to buy (members without a model pass)."
    )
    no_contact_days: DayCount | None = Field(
        default=None, description="Only members without any interaction or campaign contact lately."
    )

    @model_validator(mode="after")
    def _ranges(self) -> "AudienceRules":
        if (
            self.last_order_days_ago_min is not None
            and self.last_order_days_ago_max is not None
            and self.last_order_days_ago_max < self.last_order_days_ago_min
        ):
            raise ValueError("last_order_days_ago_max must not be below last_order_days_ago_min.")
        if (
            self.min_revenue_12m is not None
            and self.max_revenue_12m is not None
            and self.max_revenue_12m < self.min_revenue_12m
        ):
            raise ValueError("max_revenue_12m must not be below min_revenue_12m.")
        return self


def _unique(keys: list[str]) -> list[str]:
    if len(set(keys)) != len(keys):
        raise ValueError("Name each incentive once.")
    return keys


class CampaignFields(BaseModel):
    """What a planner sets on a campaign."""

    model_config = ConfigDict(extra="forbid")

    name: Text200
    kind: CampaignKind
    channel: Channel
    description: str | None = Field(default=None, max_length=2000)
    starts_on: Day | None = Field(default=None, description="First day of contacts; needed to plan.")
    ends_on: Day | None = Field(
        default=None, description="Last day of contacts (not before starts_on, at most three years after)."
    )
    audience: AudienceRules = Field(default_factory=AudienceRules)
    incentives: list[Key] = Field(
        default=[],
        max_length=10,
        description="Incentive keys in order of preference: each member gets the first he is eligible for; with "
        "incentives named, a member eligible for none is left out.",
    )
    currency: Currency = "EUR"
    budget: Money | None = Field(default=None, description="Most the campaign may cost (contacts and incentives).")
    cost_per_contact: Money = Field(default=Decimal("0.00"), description="Cost of contacting one member.")
    contribution_margin: Share | None = Field(
        default=None, description="Share of an order's value that is contribution (default: the service's, 0.30)."
    )
    assumed_order_value: Money | None = Field(
        default=None, description="Order value assumed for members without one (prospects and leads)."
    )
    size_limit: SizeLimit | None = Field(default=None, description="Most members, best first.")
    include_negative_value: bool = Field(
        default=False, description="Keep members whose expected value is negative (the planner's override)."
    )
    capacity_policy: CapacityPolicy = Field(
        default="trim",
        description="At approval, when capacity cannot take all expected orders: trim (cut the audience, lowest "
        "expected value first) or refuse.",
    )
    attribution_window_days: AttributionDays | None = Field(
        default=None, description="Orders this many days after a contact count (default 60)."
    )

    _unique_incentives = field_validator("incentives")(_unique)

    # A field validator rather than a model validator, so that the 422 names the field (body.ends_on).
    @field_validator("ends_on")
    @classmethod
    def _schedule(cls, ends_on: date | None, info: ValidationInfo) -> date | None:
        within_campaign_length(info.data.get("starts_on"), ends_on, "ends_on")
        return ends_on


class CampaignCreate(CampaignFields):
    by: str | None = Field(default=None, max_length=200, description="Who creates it (default: the API key).")


class CampaignUpdate(BaseModel):
    """Fields to change; a planned campaign goes back to draft (its frozen audience is dropped)."""

    model_config = ConfigDict(extra="forbid")

    name: Text200 | None = None
    channel: Channel | None = None
    description: str | None = Field(default=None, max_length=2000)
    starts_on: Day | None = None
    ends_on: Day | None = None
    audience: AudienceRules | None = None
    incentives: list[Key] | None = Field(default=None, max_length=10)
    budget: Money | None = None
    cost_per_contact: Money | None = None
    contribution_margin: Share | None = None
    assumed_order_value: Money | None = None
    size_limit: SizeLimit | None = None
    include_negative_value: bool | None = None
    capacity_policy: CapacityPolicy | None = None
    attribution_window_days: AttributionDays | None = None
    by: str | None = Field(default=None, max_length=200)

    _unique_incentives = field_validator("incentives")(lambda keys: keys if keys is None else _unique(keys))


class Transition(BaseModel):
    """Who moves the campaign on, and why."""

    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(default=None, max_length=200, description="Who (default: the API key that called).")
    note: str | None = Field(default=None, max_length=2000)


class StartRequest(Transition):
    contacts: Literal["all", "recorded"] = Field(
        default="all",
        description="all: every member counts as contacted now (a mailing); recorded: only contacts sent to "
        "POST .../contacts (calls, visits).",
    )


class CompleteRequest(Transition):
    attribute: bool = Field(
        default=True, description="Attribute the orders so far before completing (asks segmentation)."
    )


class ReservedLine(BaseModel):
    resource: str
    week_start: date
    amount: Decimal


class CampaignReservation(BaseModel):
    """The campaign's reservation at the capacity service."""

    id: int
    campaign: str = Field(description="The name capacity knows the campaign by: campaign-<id>.")
    state: str = Field(description="confirmed at approval; released when cancelled; consumed when completed.")
    lines: list[ReservedLine]


class Event(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: str
    from_state: CampaignState | None
    to_state: CampaignState
    by: str
    at: datetime
    note: str | None


class Campaign(BaseModel):
    """A campaign: whom it is for (kind, audience), how it reaches them (channel), what it offers and costs, its
    plan and forecast, its reservation at capacity, and where it stands (state, with who moved it when)."""

    id: int
    name: str
    kind: CampaignKind
    channel: Channel
    state: CampaignState
    description: str | None
    starts_on: date | None = Field(description="First day of the campaign, when planned.")
    ends_on: date | None = Field(description="Last day of the campaign (not before starts_on), when planned.")
    audience: AudienceRules
    incentives: list[str]
    currency: str
    budget: Money | None
    cost_per_contact: Money
    contribution_margin: Decimal | None
    assumed_order_value: Money | None
    size_limit: int | None
    include_negative_value: bool
    capacity_policy: CapacityPolicy
    attribution_window_days: int
    plan: Plan | None = Field(
        description="Set by planning: the rules applied, members considered, included and excluded per rule, "
        "the response model, the forecast, and what approval did (docs/api.md)."
    )
    reservation: CampaignReservation | None = Field(description="Set by approval: the capacity reservation.")
    history: list[Event] = Field(description="Every change of state, oldest first: what, who, when.")
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class CampaignFilters(BaseModel):
    state: CampaignState | None = None
    kind: CampaignKind | None = None
