from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from campaigns.types import ZStage
from servicekit.bounds import AwareTime

MemberId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: MemberId
    contacted_at: AwareTime | None = Field(default=None, description="When (default: now).")


class ContactsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contacts: list[ContactIn] = Field(min_length=1, max_length=10_000)

    @field_validator("contacts")
    @classmethod
    def _each_once(cls, contacts: list[ContactIn]) -> list[ContactIn]:
        if len({c.external_id for c in contacts}) != len(contacts):
            raise ValueError("Name each member once.")
        return contacts


class ResponseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: MemberId
    responded_at: AwareTime | None = Field(default=None, description="When (default: now).")
    response: Literal["reply", "appointment", "redeemed", "visit", "survey", "other"] = "reply"


class ResponsesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    responses: list[ResponseIn] = Field(min_length=1, max_length=10_000)

    @field_validator("responses")
    @classmethod
    def _each_once(cls, responses: list[ResponseIn]) -> list[ResponseIn]:
        if len({r.external_id for r in responses}) != len(responses):
            raise ValueError("Name each member once.")
        return responses


class Recorded(BaseModel):
    recorded: int


class Figures(BaseModel):
    """Money in the campaign's currency."""

    contacts: int
    responses: Decimal
    response_rate: Decimal | None = Field(description="responses / contacts")
    orders: Decimal
    revenue: Decimal
    contribution: Decimal
    cost: Decimal
    net: Decimal = Field(description="contribution - cost")
    roi: Decimal | None = Field(description="net / cost; null without cost.")


class GroupResult(BaseModel):
    z_stage: ZStage
    planned_contacts: int
    planned_responses: Decimal
    contacts: int
    responses: int


class Attribution(BaseModel):
    attributed_at: datetime
    window_days: int
    orders_from: datetime | None = Field(description="Orders read from here (the first contact) ...")
    orders_before: datetime | None = Field(description="... to before here (now, or the last contact + window).")
    orders_read: int = Field(description="Booked orders of contacted members segmentation returned in that time.")
    orders_attributed: int


class Results(BaseModel):
    """A campaign measured against its plan."""

    campaign_id: int
    state: str
    currency: str
    attribution_window_days: int
    planned: Figures | None = Field(description="From the plan's forecast (after capacity trimming).")
    actual: Figures
    by_z_stage: list[GroupResult]
    reactivated: int | None = Field(
        description="Reactivation campaigns: lapsed members who bought after their contact (list them with "
        "GET .../members?outcome=reactivated); null for other kinds."
    )
    orders_in_other_currencies: int = Field(description="Attributed orders not in the campaign's currency: not summed.")
    last_attribution: Attribution | None
