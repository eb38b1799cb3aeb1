from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from segmentation.types import ExternalId, FactTime

InteractionKind = Literal["inquiry", "lead", "visit", "call", "meeting", "event", "complaint", "survey", "other"]
InteractionChannel = Literal["email", "phone", "post", "visit", "event", "web", "other"]


class InteractionUpsert(BaseModel):
    """A contact with a customer as the ERP or CRM sends it; PUT replaces every field.

    A complaint without resolved_at is an open complaint.
    """

    model_config = ConfigDict(extra="forbid")

    customer_external_id: ExternalId = Field(description="The ERP's id of the customer.")
    kind: InteractionKind
    channel: InteractionChannel
    occurred_at: FactTime = Field(description="When it happened, RFC 3339 with a time zone.")
    resolved_at: FactTime | None = Field(
        default=None, description="When it was resolved (complaints, inquiries); not before occurred_at."
    )
    subject: str | None = Field(default=None, max_length=500)

    # A field validator rather than a model validator, so that the 422 names the field (body.resolved_at).
    @field_validator("resolved_at")
    @classmethod
    def _resolved_not_before_occurred(cls, resolved_at: datetime | None, info: ValidationInfo) -> datetime | None:
        occurred_at = info.data.get("occurred_at")
        if resolved_at is not None and occurred_at is not None and resolved_at < occurred_at:
            raise ValueError(f"resolved_at {resolved_at.isoformat()} is before occurred_at {occurred_at.isoformat()}")
        return resolved_at


class Interaction(InteractionUpsert):
    model_config = ConfigDict(extra="ignore")  # read from rows that also carry our own id

    external_id: ExternalId
    created_at: datetime
    updated_at: datetime


class InteractionFilters(BaseModel):
    customer_external_id: str | None = None
    kind: InteractionKind | None = None
    open_complaints: bool | None = None
    occurred_from: datetime | None = None
    occurred_before: datetime | None = None
