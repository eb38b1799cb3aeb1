from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from capacity.resources.schemas import MAX_UNITS, ResourceKey, Text200, to_cents
from capacity.weeks import WeekStart
from servicekit.bounds import bounded

HoldSeconds = bounded(int, ge=1, le=7 * 86400, unit="seconds")
ReservationState = Literal["held", "confirmed", "released", "consumed", "expired"]
PositiveUnits = Annotated[
    bounded(Decimal, gt=0, le=MAX_UNITS, max_digits=14, decimal_places=2, examples=["12.50"]), AfterValidator(to_cents)
]


class LineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource: ResourceKey
    week_start: WeekStart
    amount: PositiveUnits = Field(description="Units of the resource the campaign expects to need that week.")


class ReservationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaign: Text200 = Field(description="Whose reservation: the campaign's id or name.", examples=["campaign-42"])
    lines: list[LineRequest] = Field(min_length=1, max_length=500)
    allow_partial: bool = Field(
        default=False, description="Take what fits of each line instead of being refused when one does not fit."
    )
    hold_seconds: HoldSeconds | None = Field(
        default=None, description="Hold this long unless confirmed (default: the service's)."
    )

    @field_validator("lines")
    @classmethod
    def _each_cell_once(cls, lines: list[LineRequest]) -> list[LineRequest]:
        cells = [(line.resource, line.week_start) for line in lines]
        if len(set(cells)) != len(cells):
            raise ValueError("Name each resource and week once.")
        return lines


class ReservationLine(BaseModel):
    resource: str
    week_start: date
    iso_week: str
    requested: Decimal
    granted: Decimal = Field(description="What the reservation holds: all of requested, or (partial) what fitted.")


class Reservation(BaseModel):
    id: int
    campaign: str
    state: ReservationState = Field(
        description="held (counts until expires_at) -> confirmed -> consumed; released or expired free the capacity."
    )
    allow_partial: bool
    partial: bool = Field(description="At least one line was granted less than requested.")
    expires_at: datetime | None = Field(description="When a hold lapses unless confirmed; null once confirmed.")
    lines: list[ReservationLine]
    created_at: datetime
    updated_at: datetime
