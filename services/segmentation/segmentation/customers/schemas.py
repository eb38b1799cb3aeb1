from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from segmentation.types import Amount, CurrencyCode, ExternalId, FactDate

AttributeValue = str | int | float | bool | None


class Money(BaseModel):
    """An amount of money: a decimal string (two places at most) with its ISO 4217 currency."""

    model_config = ConfigDict(extra="forbid")

    amount: Amount
    currency: CurrencyCode


class Consent(BaseModel):
    """Marketing consent per channel; absent means no consent."""

    model_config = ConfigDict(extra="forbid")

    email: bool = False
    phone: bool = False
    post: bool = False


class CustomerUpsert(BaseModel):
    """A customer as the ERP sends it; PUT replaces every field."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True)]
    kind: Literal["b2b", "b2c"]
    first_contact_on: FactDate | None = Field(default=None, description="First contact with the company.")
    revenue_potential: Money | None = Field(
        default=None, description="Estimated yearly revenue potential (ERP or salesperson); else predicted."
    )
    key_account: bool = Field(default=False, description="Key account as flagged by the ERP.")
    consent: Consent = Field(default_factory=Consent)
    attributes: dict[Annotated[str, StringConstraints(max_length=100)], AttributeValue] = Field(
        default_factory=dict, max_length=100, description="Free attributes (at most 100 keys)."
    )


class Customer(CustomerUpsert):
    external_id: ExternalId
    kind: Literal["b2b", "b2c"] | None = Field(description="Null only while auto_created.")  # type: ignore[assignment]
    auto_created: bool = Field(
        default=False, description="Made by an order for an unknown customer; the ERP has not sent it yet."
    )
    created_at: datetime
    updated_at: datetime


class CustomerFilters(BaseModel):
    kind: Literal["b2b", "b2c"] | None = None
    key_account: bool | None = None
    updated_since: datetime | None = None
