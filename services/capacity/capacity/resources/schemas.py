from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from servicekit.bounds import Day, Share, bounded

KEY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
ResourceKey = Annotated[str, StringConstraints(pattern=KEY_PATTERN), Field(examples=["assembly-hours"])]
AbcClass = Literal["A", "B", "C"]


def to_cents(value: Decimal) -> Decimal:
    """Two places, as every amount is answered ("60" is read as 60.00)."""
    return value.quantize(Decimal("0.01"))


# The columns' numeric(14, 2) and numeric(14, 4): a larger value is a 422 naming the range, not an overflow.
MAX_UNITS = Decimal("999999999999.99")
MAX_LOAD = Decimal("9999999999.9999")
Units = Annotated[
    bounded(Decimal, ge=0, le=MAX_UNITS, max_digits=14, decimal_places=2, examples=["120.00"]), AfterValidator(to_cents)
]
"""An amount of a resource's unit, as a decimal string with at most two places."""
SignedUnits = Annotated[
    bounded(Decimal, ge=-MAX_UNITS, le=MAX_UNITS, max_digits=14, decimal_places=2, examples=["-24.00"]),
    AfterValidator(to_cents),
]
Load = bounded(Decimal, ge=0, le=MAX_LOAD, max_digits=14, decimal_places=4, examples=["1.5"])
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class ResourcePut(BaseModel):
    """A resource as the company describes it; a field left out goes back to its default."""

    model_config = ConfigDict(extra="forbid")

    name: Text200
    unit: Text200 = Field(description="What one unit of capacity is.", examples=["service hours"])
    weekly_capacity: Units = Field(description="Units available in a regular week.")
    load_per_order: Load = Field(description="Units one order of an existing customer takes, by default.")
    load_per_order_by_abc: dict[AbcClass, Load] = Field(
        default={},
        description="Units one order takes for customers of an ABC class (segmentation's), where it differs.",
        examples=[{"A": "4.0"}],
    )
    reserve_share: Share = Field(
        default=Decimal("0.10"), description="Share of each week's capacity kept for existing customers."
    )
    new_customer_weekly_load: Load = Field(
        description="Units one newly won customer takes per week; 0: acquisition is not limited by this resource."
    )


class Resource(BaseModel):
    """Something the company can only deliver so much of per week: hours, units, slots."""

    key: ResourceKey = Field(description="Stable slug, e.g. assembly-hours.")
    name: str
    unit: str = Field(description="What one unit of capacity is.", examples=["service hours"])
    weekly_capacity: Units = Field(description="Units available in a regular week, as a decimal string.")
    load_per_order: Load
    load_per_order_by_abc: dict[AbcClass, Load]
    reserve_share: Share
    new_customer_weekly_load: Load
    created_at: datetime
    updated_at: datetime


class CapacityExceptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource: ResourceKey
    starts_on: Day
    ends_on: Day = Field(description="Inclusive; at most a year after starts_on.")
    capacity: Units | None = Field(
        default=None, description="The capacity of each week touched, instead of the regular."
    )
    delta: SignedUnits | None = Field(
        default=None,
        description="Added to the capacity of each week touched: negative for a holiday, positive for an extra shift.",
    )
    reason: Text200 = Field(examples=["Christmas shutdown"])

    @model_validator(mode="after")
    def _one_change_over_a_real_range(self) -> "CapacityExceptionCreate":
        if (self.capacity is None) == (self.delta is None):
            raise ValueError("Give either capacity (the week's capacity) or delta (added to it), not both.")
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on.")
        if self.ends_on - self.starts_on > timedelta(days=366):
            raise ValueError("An exception spans at most a year.")
        return self


class CapacityException(BaseModel):
    id: int
    resource: ResourceKey
    starts_on: date
    ends_on: date
    first_week: date = Field(description="The Monday of the first week it changes.")
    last_week: date = Field(description="The Monday of the last week it changes.")
    capacity: Units | None
    delta: SignedUnits | None
    reason: str
    created_at: datetime
