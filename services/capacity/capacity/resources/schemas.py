from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

KEY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
ResourceKey = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]


class Resource(BaseModel):
    """Something the company can only deliver so much of per week: hours, units, slots."""

    key: ResourceKey = Field(description="Stable slug, e.g. assembly-hours.", examples=["assembly-hours"])
    name: str
    unit: str = Field(description="What one unit of capacity is.", examples=["service hours"])
    weekly_capacity: Annotated[Decimal, Field(max_digits=14, decimal_places=2, ge=0, examples=["120.00"])] = Field(
        description="Units available in a normal week, as a decimal string."
    )
    created_at: datetime
    updated_at: datetime
