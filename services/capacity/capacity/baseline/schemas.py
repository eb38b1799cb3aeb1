from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from capacity.resources.schemas import ResourceKey, SignedUnits, Text200
from capacity.weeks import WeekStart


class BacktestWeek(BaseModel):
    week_start: date
    iso_week: str
    forecast: Decimal = Field(description="Orders the method expected, made at the origin.")
    actual: int = Field(description="Orders booked.")
    error: Decimal = Field(description="forecast - actual")


class BacktestSummary(BaseModel):
    """The history method as if it had run `origin`: its forecast against the orders booked since."""

    method: Literal["history"]
    origin: date = Field(description="The week it would have run in.")
    history_weeks: int
    mae: Decimal = Field(description="Mean absolute error, orders per week.")
    bias: Decimal = Field(description="Mean of forecast - actual: positive when it expected too many.")
    wape: Decimal | None = Field(
        description="Sum of absolute errors over the orders booked (0.12 = 12 %); null when none were booked."
    )


class Backtest(BacktestSummary):
    forecast_id: int
    weeks: list[BacktestWeek]


class Forecast(BaseModel):
    """The forecast the baseline is built from: existing customers' expected orders per week."""

    id: int
    computed_at: datetime
    source: Literal["predictive", "history"] = Field(
        description="predictive: segmentation's BG/NBD model; history: the mean of recent weeks."
    )
    method: str = Field(description="How the expected orders were found, with the figures.")
    first_week: date
    weeks: int
    history_first_week: date
    history_last_week: date
    customers: int = Field(description="Customers segmentation knew when the forecast was made.")
    fit_id: str | None = Field(description="The predictive fit used (source predictive).")
    fitted_at: datetime | None
    stale: bool = Field(description="Older than CAPACITY_BASELINE_MAX_AGE_SECONDS: it could not be refreshed.")
    stale_reason: str | None
    backtest: BacktestSummary | None


class BaselineWeek(BaseModel):
    resource: str
    week_start: date
    iso_week: str
    expected_orders: Decimal = Field(description="Existing customers' expected orders in the week.")
    load_per_order: Decimal = Field(description="Units per order: the default, mixed by ABC-class shares.")
    adjustments: Decimal = Field(description="Manual adjustments of the week, in units.")
    baseline: Decimal = Field(description="max(0, expected_orders x load_per_order + adjustments), cents up.")


class Baseline(BaseModel):
    forecast: Forecast
    weeks: list[BaselineWeek]


def _not_zero(value: Decimal) -> Decimal:
    if value == 0:
        raise ValueError("An adjustment of 0 changes nothing.")
    return value


class AdjustmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource: ResourceKey
    week_start: WeekStart
    amount: Annotated[SignedUnits, AfterValidator(_not_zero)] = Field(
        description="Units added to the week's baseline (negative: less), e.g. a large order announced."
    )
    reason: Text200 = Field(examples=["Framework order Müller GmbH, 40 units"])


class Adjustment(BaseModel):
    id: int
    resource: str
    week_start: date
    iso_week: str
    amount: Decimal
    reason: str
    created_at: datetime
