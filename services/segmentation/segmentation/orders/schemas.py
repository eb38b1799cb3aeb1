from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from segmentation.types import Amount, CurrencyCode, ExternalId, FactTime, SignedAmount

OrderStatus = Literal["booked", "cancelled", "returned"]


class OrderUpsert(BaseModel):
    """An order as the ERP sends it; PUT replaces every field. Only booked orders count as revenue."""

    model_config = ConfigDict(extra="forbid")

    customer_external_id: ExternalId = Field(description="The ERP's id of the customer who ordered.")
    ordered_at: FactTime = Field(
        description="When it was ordered: RFC 3339 with a time zone, or a day alone (YYYY-MM-DD), which is stored "
        "as the start of that day (00:00) in the company's time zone (`time_zone` of /config)."
    )
    net_amount: Amount = Field(description="Net order value, a decimal string.")
    currency: CurrencyCode
    contribution_margin: SignedAmount | None = Field(default=None, description="Contribution margin, if known.")
    status: OrderStatus = "booked"


class Order(OrderUpsert):
    model_config = ConfigDict(extra="ignore")  # built from rows, which carry internal columns too

    ordered_at: datetime = Field(description="When it was ordered (a day alone as the start of that day), in UTC.")
    external_id: ExternalId
    created_at: datetime
    updated_at: datetime


class OrderFilters(BaseModel):
    customer_external_id: str | None = None
    status: OrderStatus | None = None
    ordered_from: datetime | None = None
    ordered_before: datetime | None = None
