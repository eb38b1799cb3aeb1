from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from campaigns.forecast.schemas import Forecast, Posterior

EXCLUSION_RULES = (
    "probability_alive_below_minimum",
    "recent_contact",
    "no_consent",
    "open_complaint",
    "no_open_complaint",
    "contact_cap",
    "prepayment_only",
    "not_eligible_for_incentive",
    "negative_expected_value",
    "size_limit",
    "budget",
    "capacity",
)
"""Why a member is left out, in the order the rules are applied: each member counts for the first that applies."""
ExclusionRule = Literal[EXCLUSION_RULES]  # type: ignore[valid-type]


class CapacityCheck(BaseModel):
    """Whether capacity can take the campaign's expected orders (what-if; nothing reserved)."""

    checked: bool = Field(description="False when capacity could not be asked; `detail` says why.")
    fits: bool | None = None
    fitting_share: Decimal | None = Field(
        default=None, description="The share of the expected orders that fits in its tightest week (1 = all)."
    )
    binding_week: date | None = None
    binding_resource: str | None = None
    detail: str


class Approval(BaseModel):
    """What capacity gating did at approval."""

    outcome: Literal["fits", "trimmed", "no_load"] = Field(
        description="fits: reserved in full; trimmed: the audience was cut to what fits; no_load: no resource is "
        "loaded by orders, nothing to reserve."
    )
    fitting_share: Decimal = Field(description="The share of the planned expected orders capacity can take.")
    members_before: int
    members_trimmed: int = Field(description="Members cut, lowest expected value first.")
    expected_orders_before: Decimal
    expected_orders_after: Decimal
    binding_week: date | None = None
    binding_resource: str | None = None
    detail: str


class Plan(BaseModel):
    """The frozen audience of a campaign: rules, counts, the response model and the forecast."""

    version: int = Field(description="Counts the plans of the campaign (each re-plan freezes anew).")
    planned_at: datetime
    as_of: date = Field(description="The planning day in the company's time zone.")
    segmentation_filters: dict[str, Any] = Field(description="The audience filters sent to segmentation.")
    considered: int = Field(description="Customers segmentation's audience returned.")
    included: int
    excluded: dict[str, int] = Field(
        description="Members left out per rule (EXCLUSION_RULES order; each counted once)."
    )
    negative_value_kept: int = Field(description="Members with a negative expected value kept by the override.")
    response_model: list[Posterior] = Field(description="P(response) per Z-stage for the campaign's kind and channel.")
    forecast: Forecast
    forecast_before_capacity: Forecast | None = Field(
        default=None, description="The forecast before approval trimmed the audience to capacity."
    )
    capacity: CapacityCheck | None = Field(description="The what-if check at planning.")
    approval: Approval | None = None


class Member(BaseModel):
    """One customer of a campaign's audience: his frozen features, score, and what happened."""

    external_id: str
    included: bool
    excluded_by: str | None
    rank: int | None = Field(description="Place by expected value among the members no hard rule left out.")
    z_stage: str | None
    lifecycle: str | None
    p_response: Decimal
    order_value: Decimal
    expected_contribution: Decimal
    contact_cost: Decimal
    incentive: str | None
    incentive_cost: Decimal = Field(description="Expected incentive cost (per response: x P(response)).")
    expected_value: Decimal
    personal_code: str | None
    contacted_at: datetime | None
    responded_at: datetime | None
    response: str | None
    features: dict[str, Any] = Field(description="The member's audience line from segmentation, as frozen.")
