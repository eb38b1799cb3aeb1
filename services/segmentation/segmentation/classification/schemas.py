import logging
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo, available_timezones

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from segmentation.customers.schemas import Customer
from segmentation.types import CurrencyCode
from servicekit.bounds import Amount, Day, DayCount, bounded, days

logger = logging.getLogger("segmentation.classification")
_REPORTED: set[frozenset[str]] = set()  # stored thresholds found out of bounds, by the fields refused

Lifecycle = Literal["prospect", "new", "active", "lapsed", "reactivated"]
ZStage = Literal["Z0", "Z1", "Z2", "Z3", "Z4"]
AbcClass = Literal["A", "B", "C"]
Payment = Literal["punctual", "late", "prepayment_only"]
Quadrant = Literal["top", "development", "premium", "small"]
Phase = Literal["acquisition", "onboarding", "growth", "maturity", "at_risk", "win_back"]


# From a hundred-millionth to a million: every pair of currencies in use lies within (1 EUR is about 10^5
# Iranian rials); an order converted must still be an amount (servicekit.bounds.MAX_AMOUNT, checked when stored).
ExchangeRate = bounded(Decimal, gt=0, le=1_000_000, max_digits=15, decimal_places=8)
Ratio = bounded(Decimal, gt=0, le=1)
Count = bounded(int, ge=1, le=1_000_000)
ZeroOrMoreDays = days(ge=0)
InvoiceCount = bounded(int, ge=1, le=1000)
DunningLevel = bounded(int, ge=1, le=9)
TrendWindow = days(ge=7)
Growth = bounded(Decimal, gt=1, le=100)
OpenRatio = bounded(Decimal, gt=0, lt=1)
Months = bounded(int, ge=1, le=120, unit="months")
Rate = bounded(Decimal, ge=0, lt=1)


class Thresholds(BaseModel):
    """Every threshold of the classifications; the defaults are DOMAIN.md's."""

    model_config = ConfigDict(extra="forbid")

    new_customer_days: DayCount = Field(default=90, description="New while the first order is at most this old.")
    lapsed_after_days: DayCount = Field(default=365, description="Lapsed (Nullkunde) when the last order is older.")
    reactivation_gap_days: DayCount = Field(
        default=365, description="Reactivated: an order after a gap longer than this, within lapsed_after_days."
    )
    abc_a_share: Ratio = Field(default=Decimal("0.80"), description="A while those before hold less.")
    abc_b_share: Ratio = Field(default=Decimal("0.95"), description="B while those before hold less.")
    key_account_top_n: Count | None = Field(default=None, description="Also key accounts: the N largest.")
    key_account_min_revenue: Amount | None = Field(
        default=None, description="Also key accounts: 12-month revenue at least this."
    )
    late_average_days: ZeroOrMoreDays = Field(default=14, description="Late: invoices paid on average more days late.")
    late_overdue_invoices: InvoiceCount = Field(default=2, description="Late: this many overdue invoices in 12 months.")
    prepayment_dunning_level: DunningLevel = Field(
        default=2, description="Prepayment only: this dunning level reached."
    )
    prepayment_average_days: ZeroOrMoreDays = Field(default=45, description="Prepayment only: paid on average later.")
    minimum_order_value: Amount | None = Field(default=None, description="Flag customers ordering less on average.")
    matrix_revenue_split: Amount | None = Field(
        default=None, description="High revenue from here; else the median of the active base."
    )
    matrix_potential_split: Amount | None = Field(
        default=None, description="High potential from here; else the median of the active base."
    )
    trend_window_days: TrendWindow = Field(
        default=182, description="Revenue trend: the last window against the one before."
    )
    growth_ratio: Growth = Field(
        default=Decimal("1.2"), description="Growth: recent revenue at least this times the previous."
    )
    sharp_fall_ratio: OpenRatio = Field(
        default=Decimal("0.5"), description="At risk: recent revenue at most this times the previous."
    )
    at_risk_probability_alive: OpenRatio = Field(
        default=Decimal("0.5"),
        description="At risk: an active customer the purchase model gives a lower probability of being alive.",
    )
    prediction_horizon_months: Months = Field(
        default=12, description="Expected purchases are counted over this many months."
    )
    clv_horizon_months: Months = Field(default=36, description="The customer lifetime value's horizon.")
    clv_margin: Ratio = Field(
        default=Decimal("0.30"), description="Share of revenue that is contribution margin, for the CLV."
    )
    clv_annual_discount_rate: Rate = Field(
        default=Decimal("0.10"), description="Yearly rate the CLV discounts future margin by."
    )
    base_currency: CurrencyCode = Field(
        default="EUR", description="Every revenue figure is in this currency; orders are converted when stored."
    )
    exchange_rates: dict[CurrencyCode, ExchangeRate] = Field(
        default_factory=dict,
        description="Units of the base currency per unit of another currency, used when an order in it is "
        "stored; an order in a currency without a rate is refused.",
        examples=[{"USD": "0.92", "CHF": "1.05"}],
    )
    time_zone: str = Field(
        default="UTC",
        description="The company's IANA time zone: days (as-of, order days, weeks) are its calendar days.",
        examples=["Europe/Berlin"],
    )

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        if value not in _TIME_ZONES:
            raise ValueError("Unknown time zone; use an IANA name such as Europe/Berlin.")
        return value

    @model_validator(mode="after")
    def _reactivated_means_lapsed_before(self) -> "Thresholds":
        if self.reactivation_gap_days < self.lapsed_after_days:
            raise ValueError(
                "reactivation_gap_days must be at least lapsed_after_days: a reactivated customer had lapsed."
            )
        return self

    @classmethod
    def stored(cls, values: dict[str, Any] | None) -> "Thresholds":
        """Thresholds as stored (the config, a run's basis). A value stored before its bound existed (a trend window
        of 2^63 days, which no run could use) falls back to its default, logged as an error, so that reads, ingests
        and runs keep working until a PUT of the config repairs it; what the API accepts now always validates."""
        values = values or {}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            refused = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
            if frozenset(refused) not in _REPORTED:  # once a process, not once an ingest
                _REPORTED.add(frozenset(refused))
                logger.error("stored thresholds out of their bounds, their defaults used instead: %s", sorted(refused))
            try:
                return cls.model_validate({key: value for key, value in values.items() if key not in refused})
            except ValidationError:  # values that agree with each other only as they were
                return cls()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


_TIME_ZONES = frozenset(available_timezones())


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
    cut_points: dict[str, Any] | None = Field(description="The revenue limits of A and B and the matrix split points.")
    model: dict[str, Any] | None = Field(
        description="The predictive fit and terms the run scored with; null before the first successful fit."
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


class Profile(BaseModel):
    customer: Customer
    classification: Classification | None = Field(description="Null until the first segmentation run.")


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
