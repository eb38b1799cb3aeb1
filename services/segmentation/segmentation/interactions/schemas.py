from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
    occurred_at: FactTime = Field(
        description="When it happened: RFC 3339 with a time zone, or a day alone (YYYY-MM-DD), which is stored as "
        "the start of that day (00:00) in the company's time zone (`time_zone` of /config)."
    )
    # Checked against occurred_at by the service: a day alone is a time only in the company's time zone.
    resolved_at: FactTime | None = Field(
        default=None,
        description="When it was resolved (complaints, inquiries), as occurred_at (a day alone is its start); "
        "not before occurred_at.",
    )
    subject: str | None = Field(default=None, max_length=500)


class Interaction(InteractionUpsert):
    model_config = ConfigDict(extra="ignore")  # read from rows that also carry our own id

    occurred_at: datetime = Field(description="When it happened (a day alone as the start of that day), in UTC.")
    resolved_at: datetime | None = Field(default=None, description="When it was resolved, in UTC; null while open.")
    external_id: ExternalId
    created_at: datetime
    updated_at: datetime


class InteractionFilters(BaseModel):
    customer_external_id: str | None = None
    kind: InteractionKind | None = None
    open_complaints: bool | None = None
    occurred_from: datetime | None = None
    occurred_before: datetime | None = None
