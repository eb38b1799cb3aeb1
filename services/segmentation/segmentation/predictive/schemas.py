import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from servicekit.bounds import Day


class FitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    calibration_end: Day | None = Field(
        default=None, description="Fit on the orders up to this day (default: today in the company's time zone)."
    )
    holdout_end: Day | None = Field(
        default=None,
        description="Also check the fit: predicted against actual repeat purchases after calibration_end up to "
        "this day, in total and per number of purchases in the calibration period.",
    )

    @model_validator(mode="after")
    def _holdout_after_calibration(self) -> "FitRequest":
        if self.holdout_end is not None and (self.calibration_end is None or self.holdout_end <= self.calibration_end):
            raise ValueError("holdout_end needs a calibration_end before it.")
        return self


class PurchaseModel(BaseModel):
    """BG/NBD: purchase rates ~ Gamma(r, alpha) across customers, drop-out after a purchase ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    customers: int
    converged: bool


class SpendModel(BaseModel):
    """Gamma-Gamma: spend per purchase, fitted on the customers who bought more than once."""

    p: float
    q: float
    gamma: float
    log_likelihood: float
    customers: int
    converged: bool


class HoldoutGroup(BaseModel):
    calibration_purchases: str = Field(description="Repeat purchases in the calibration period: 0 .. 6, or 7+.")
    customers: int
    actual_mean: float = Field(description="Repeat purchases (days) per customer in the holdout period.")
    expected_mean: float = Field(description="What the model expected per customer, from each one's history.")


class Holdout(BaseModel):
    """The paper's check: the model fitted up to calibration_end against what customers did afterwards."""

    weeks: float
    actual_purchases: float
    expected_purchases: float
    by_calibration_purchases: list[HoldoutGroup]


class Fit(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: Literal["running", "succeeded", "failed"]
    calibration_end: date
    time_zone: str
    customers: int | None = Field(description="Customers with a booked order by the calibration end.")
    repeat_customers: int | None = Field(description="Of those, customers who bought on more than one day.")
    purchases: PurchaseModel | None
    spend: SpendModel | None
    holdout_end: date | None
    holdout: Holdout | None
    error: str | None = Field(description="Why the fit failed, e.g. too little history; the previous model stays.")
    started_at: datetime
    finished_at: datetime | None


class PredictedWeek(BaseModel):
    week_start: date = Field(description="The Monday of the ISO week.")
    iso_week: str = Field(examples=["2026-W49"])
    expected_orders: Decimal = Field(
        description="Purchase days the customers are expected to make in the week (orders of one day are one)."
    )


class WeeklyPurchases(BaseModel):
    """What the existing customers are expected to buy per week: the capacity service's baseline."""

    fit_id: uuid.UUID
    fitted_at: datetime
    as_of: date = Field(description="The day of the run whose classifications the forecast starts from.")
    customers: int = Field(description="Customers with at least one booked order.")
    weeks: list[PredictedWeek]
