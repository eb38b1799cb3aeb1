from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from capacity.baseline.schemas import Forecast
from capacity.resources.schemas import MAX_UNITS, to_cents
from capacity.weeks import WeekStart
from servicekit.bounds import bounded


class HeadroomWeek(BaseModel):
    resource: str
    week_start: date
    iso_week: str
    capacity: Decimal = Field(description="The regular weekly capacity after the exceptions touching the week.")
    baseline: Decimal = Field(description="Existing customers' expected demand (GET /baseline).")
    reserve: Decimal = Field(description="capacity x reserve_share, kept for existing customers.")
    held: Decimal = Field(description="Reservations held and not expired.")
    confirmed: Decimal
    consumed: Decimal
    headroom: Decimal = Field(description="capacity - baseline - reserve - held - confirmed - consumed; may be < 0.")
    acquisition_limit: int | None = Field(
        description="floor(max(headroom, 0) / new_customer_weekly_load): new customers that fit; null when a new "
        "customer does not load this resource."
    )


class Headroom(BaseModel):
    baseline: Forecast
    weeks: list[HeadroomWeek]


class AcquisitionWeek(BaseModel):
    week_start: date
    iso_week: str
    limit: int | None = Field(description="The smallest limit of any resource; null: no resource limits.")
    binding_resource: str | None = Field(description="The resource with the smallest limit.")


class AcquisitionLimit(BaseModel):
    """How many new customers fit: each takes its weekly load of every resource in every week of the range."""

    baseline: Forecast
    from_week: date
    to_week: date
    limit: int | None = Field(description="The smallest weekly limit in the range; null: no resource limits.")
    binding_resource: str | None
    binding_week: date | None
    weeks: list[AcquisitionWeek]


class UtilisationWeek(BaseModel):
    resource: str
    week_start: date
    iso_week: str
    capacity: Decimal
    demand: Decimal = Field(description="baseline + held + confirmed + consumed")
    utilisation: Decimal | None = Field(description="demand / capacity (1.0 = 100 %); null when capacity is 0.")
    backlog: Decimal = Field(
        description="Demand not served by the end of the week, carried from week to week from this week on."
    )
    extra_lead_time_weeks: Decimal | None = Field(
        description="backlog / the regular weekly capacity: how much later orders of the week are served."
    )
    extra_lead_time_days: int | None = Field(description="The same in days, rounded up.")
    delayed: bool = Field(description="There is a backlog: tell the customers ordering this week about the delay.")


class Utilisation(BaseModel):
    baseline: Forecast
    weeks: list[UtilisationWeek]


Orders = Annotated[
    bounded(Decimal, ge=0, le=MAX_UNITS, max_digits=14, decimal_places=2, examples=["40"]), AfterValidator(to_cents)
]


class PlannedWeek(BaseModel):
    model_config = ConfigDict(extra="forbid")

    week_start: WeekStart
    orders: Orders = Field(description="Extra orders the campaign is expected to bring that week.")


class WhatIfRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weeks: list[PlannedWeek] = Field(min_length=1, max_length=104)

    @field_validator("weeks")
    @classmethod
    def _each_week_once(cls, weeks: list[PlannedWeek]) -> list[PlannedWeek]:
        if len({week.week_start for week in weeks}) != len(weeks):
            raise ValueError("Name each week once.")
        return weeks


class WhatIfResource(BaseModel):
    resource: str
    needed: Decimal = Field(description="orders x the resource's load_per_order")
    available: Decimal = Field(description="max(headroom, 0)")


class WhatIfWeek(BaseModel):
    week_start: date
    iso_week: str
    orders: Decimal
    fitting_orders: Decimal = Field(description="The most of those orders every resource has room for.")
    fits: bool
    binding_resource: str | None = Field(description="The resource that limits, when not all fit.")
    resources: list[WhatIfResource]


class ReservationLineSuggestion(BaseModel):
    resource: str
    week_start: date
    amount: Decimal


class WhatIf(BaseModel):
    """Whether a planned campaign fits, and how much of it: nothing is reserved."""

    baseline: Forecast
    fits: bool
    orders: Decimal
    fitting_orders: Decimal
    fitting_share: Decimal | None = Field(description="fitting_orders / orders; null for no orders.")
    weeks: list[WhatIfWeek]
    reservation_lines: list[ReservationLineSuggestion] = Field(
        description="What to reserve (POST /v1/capacity/reservations) for the orders that fit."
    )
