from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from segmentation.types import Amount, CurrencyCode, ExternalId, FactDate

DunningLevel = Annotated[int, Field(ge=0, le=9, description="Highest dunning level reached, 0 (none) to 9.")]


class InvoiceUpsert(BaseModel):
    """An invoice as the ERP sends it; PUT replaces every field. Unpaid while paid_on is null."""

    model_config = ConfigDict(extra="forbid")

    customer_external_id: ExternalId = Field(description="The ERP's id of the invoiced customer.")
    order_external_id: ExternalId | None = Field(
        default=None, description="The ERP's id of the order, if any; not checked, the invoice may arrive first."
    )
    issued_on: FactDate
    due_on: FactDate = Field(description="Payment due date; not before issued_on.")
    paid_on: FactDate | None = Field(default=None, description="When it was paid in full; null while open.")
    amount: Amount = Field(description="Gross invoice amount, a decimal string.")
    currency: CurrencyCode
    dunning_level: DunningLevel = 0

    # Field validators rather than a model validator, so that the 422 names the field (body.due_on).
    @field_validator("due_on")
    @classmethod
    def _due_not_before_issue(cls, due_on: date, info: ValidationInfo) -> date:
        issued_on = info.data.get("issued_on")
        if issued_on is not None and due_on < issued_on:
            raise ValueError(f"due_on {due_on} is before issued_on {issued_on}")
        return due_on

    @field_validator("paid_on")
    @classmethod
    def _paid_not_before_issue(cls, paid_on: date | None, info: ValidationInfo) -> date | None:
        issued_on = info.data.get("issued_on")
        if paid_on is not None and issued_on is not None and paid_on < issued_on:
            raise ValueError(f"paid_on {paid_on} is before issued_on {issued_on}")
        return paid_on


class Invoice(InvoiceUpsert):
    model_config = ConfigDict(extra="ignore")  # read from rows that also carry our own id

    external_id: ExternalId
    created_at: datetime
    updated_at: datetime


class InvoiceFilters(BaseModel):
    customer_external_id: str | None = None
    open: bool | None = None
    overdue_on: date | None = None
