"""The company's settings: its time zone, base currency and exchange rates, with the thresholds its customers are
classified by. One document, read by every package (ingests convert money with it, runs classify by it, days are
the zone's calendar days); edited through /v1/segmentation/config."""

import logging
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from segmentation.types import CurrencyCode
from servicekit.bounds import Amount, DayCount, TimeZoneName, bounded, days

logger = logging.getLogger("segmentation.company")
_REPORTED: set[frozenset[str]] = set()  # stored thresholds found out of bounds, by the fields refused

# From a hundred-millionth to a million: every pair of currencies in use lies within (1 EUR is about 10^5
# Iranian rials); an order converted must still be an amount (servicekit.bounds.MAX_AMOUNT, checked when stored).
ExchangeRate = bounded(Decimal, gt=0, le=1_000_000, max_digits=15, decimal_places=8)


class CompanySettings(BaseModel):
    """Where the company is and what money it counts in."""

    model_config = ConfigDict(extra="forbid")

    base_currency: CurrencyCode = Field(
        default="EUR", description="Every revenue figure is in this currency; orders are converted when stored."
    )
    exchange_rates: dict[CurrencyCode, ExchangeRate] = Field(
        default_factory=dict,
        description="Units of the base currency per unit of another currency, used when an order in it is "
        "stored; an order in a currency without a rate is refused.",
        examples=[{"USD": "0.92", "CHF": "1.05"}],
    )
    time_zone: TimeZoneName = Field(
        default="UTC",
        description="The company's IANA time zone: days (as-of, order days, weeks) are its calendar days.",
        examples=["Europe/Berlin"],
    )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


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


class Thresholds(CompanySettings):
    """The company's configuration (GET/PUT /v1/segmentation/config): its settings and every threshold of the
    classifications and predictions; the defaults are docs/domain.md's."""

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
