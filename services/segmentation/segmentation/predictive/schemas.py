import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    calibration_end: date | None = Field(
        default=None, description="Fit on the orders up to this day (default: today in the company's time zone)."
    )


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
    error: str | None = Field(description="Why the fit failed, e.g. too little history; the previous model stays.")
    started_at: datetime
    finished_at: datetime | None
