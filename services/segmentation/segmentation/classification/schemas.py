import logging
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from segmentation.customers.schemas import Customer
from servicekit.bounds import Day

logger = logging.getLogger("segmentation.classification")
_REPORTED: set[frozenset[str]] = set()  # stored thresholds found out of bounds, by the fields refused

Lifecycle = Literal["prospect", "new", "active", "lapsed", "reactivated"]
ZStage = Literal["Z0", "Z1", "Z2", "Z3", "Z4"]
AbcClass = Literal["A", "B", "C"]
Payment = Literal["punctual", "late", "prepayment_only"]
Quadrant = Literal["top", "development", "premium", "small"]
Phase = Literal["acquisition", "onboarding", "growth", "maturity", "at_risk", "win_back"]


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: Day | None = Field(default=None, description="Classify as of this day (default: today, UTC).")


class Run(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    as_of: date
    status: Literal["running", "succeeded", "failed"]
    phase: str = Field(description="queued, features, predictions (with a model), ranking, storing, done")
    progress: int = Field(description="Percent done, by phase.")
    customers: int
    changes: int = Field(description="Changes of lifecycle, Z-stage, ABC class or quadrant this run recorded.")
    thresholds: dict[str, Any]
    cut_points: dict[str, Any] | None = Field(
        description="Where A, B and the top N end (the last customer's revenue and external id, and how many "
        "customers have that revenue: in all, and up to him) and the matrix split points; decimals as strings."
    )
    model: dict[str, Any] | None = Field(
        description="The predictive fit and terms the run scored with; null before the first successful fit."
    )
    back_dated: bool = Field(
        description="As of a day before the latest run's: its classifications are read by the run's id "
        "(/runs/{id}/profiles), the current ones and their history stay as they are. Known once it computes."
    )
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class ModelUsed(BaseModel):
    """The fit the predictions come from (GET /v1/segmentation/predictive/fits/{fit_id} has the rest)."""

    fit_id: uuid.UUID
    fitted_at: datetime
    calibration_end: date
    purchases: dict[str, float] = Field(description="BG/NBD: r, alpha, a, b.")
    spend: dict[str, float] = Field(description="Gamma-Gamma: p, q, gamma.")


class Predictions(BaseModel):
    """What the purchase and spend models expect of this customer, as of the classification's day."""

    probability_alive: float = Field(description="Probability that the customer still buys (BG/NBD).")
    expected_purchases: float = Field(description="Expected purchase days in the next horizon_months.")
    horizon_months: int
    expected_order_value: Decimal = Field(description="Expected spend per purchase (Gamma-Gamma).")
    predicted_revenue_12m: Decimal = Field(description="Expected revenue of the next 12 months.")
    clv: Decimal = Field(description="Margin of the next clv_horizon_months, discounted at annual_discount_rate.")
    clv_horizon_months: int
    margin: float
    annual_discount_rate: float
    model: ModelUsed


class Classification(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    as_of: date
    lifecycle: Lifecycle
    z_stage: ZStage
    abc: AbcClass
    key_account: bool
    payment: Payment
    quadrant: Quadrant | None = Field(description="Null for prospects and lapsed customers (not in the active base).")
    phase: Phase
    order_count: int
    revenue_12m: Decimal
    average_order_value: Decimal | None
    below_minimum_order_value: bool
    potential: Decimal | None = Field(
        description="Future revenue potential: the ERP's estimate, else the predicted 12-month revenue, else "
        "(no model) the 12-month revenue."
    )
    first_order_on: date | None
    last_order_on: date | None
    predictions: Predictions | None = Field(
        description="Null without a fitted model (POST /v1/segmentation/predictive/fits) and for prospects."
    )
    reasons: dict[str, Any] = Field(description="Per classification: the rule that applied and the figures behind it.")
    computed_at: datetime


class CutPointsFrom(BaseModel):
    """Where a classification as of a day took what depends on the whole base: the ABC ends, the top N and the
    matrix medians."""

    source: Literal["run", "computed"] = Field(
        description="run: a run as of that day (its thresholds and model too); computed: computed for that day "
        "from every customer's facts with the current thresholds and model, and kept until the facts change."
    )
    as_of: date
    run_id: uuid.UUID | None = Field(description="The run, for source run.")
    computed_at: datetime | None = Field(description="When they were computed, for source computed.")


class Profile(BaseModel):
    customer: Customer
    classification: Classification | None = Field(description="Null until the first segmentation run.")
    cut_points_from: CutPointsFrom | None = Field(
        default=None, description="Only for a classification as of a day (?as_of=): where its cut points came from."
    )


class Change(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attribute: Literal["lifecycle", "z_stage", "abc", "quadrant"]
    from_value: str | None = Field(description="Null for the first classification.")
    to_value: str | None
    changed_on: date
    run_id: uuid.UUID | None = Field(
        description="The full run that saw it; null when an ingest caused it, and for the first classification."
    )


class Flow(BaseModel):
    from_value: str | None = Field(description="The state on the first day; null: not classified yet.")
    to_value: str | None
    customers: int


class FlowReport(BaseModel):
    attribute: Literal["lifecycle", "z_stage", "abc", "quadrant"]
    from_date: date
    to_date: date
    flows: list[Flow] = Field(description="Customers whose state differs between the two days, by pair of states.")


class Bucket(BaseModel):
    customers: int
    revenue_12m: Decimal


class Summary(BaseModel):
    """Counts and 12-month revenue per state: the Z-funnel and the four-field matrix of a dashboard."""

    as_of: date | None = Field(
        description="The newest day any customer was classified as of; null before the first run."
    )
    customers: int
    revenue_12m: Decimal
    lifecycle: dict[str, Bucket]
    z_stage: dict[str, Bucket]
    abc: dict[str, Bucket]
    quadrant: dict[str, Bucket] = Field(description="The active base only: prospects and lapsed customers have none.")
    payment: dict[str, Bucket]
    phase: dict[str, Bucket] = Field(description="The relationship phases.")


ProfileSort = Literal["id", "-revenue_12m", "-last_order_on"]


class ProfileFilters(BaseModel):
    lifecycle: list[Lifecycle] = []
    z_stage: list[ZStage] = []
    abc: list[AbcClass] = []
    quadrant: list[Quadrant] = []
    payment: list[Payment] = []
    phase: list[Phase] = []
    key_account: bool | None = None
    min_revenue_12m: Decimal | None = None
    max_revenue_12m: Decimal | None = None
    last_order_from: date | None = None
    last_order_before: date | None = None
    consent: list[Literal["email", "phone", "post"]] = []


class WeekOfOrders(BaseModel):
    week_start: date = Field(description="The Monday of the ISO week.")
    iso_week: str = Field(examples=["2026-W12"])
    orders: int
    net_amount: Decimal


class WeeklyOrders(BaseModel):
    """Booked orders per week of the matching customers: the history the capacity forecast starts from."""

    from_date: date
    to_date: date
    customers: int = Field(description="Customers matching the filters.")
    weeks: list[WeekOfOrders] = Field(description="Every week of the range, also those without orders.")
