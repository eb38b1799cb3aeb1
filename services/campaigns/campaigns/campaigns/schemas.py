from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

CampaignKind = Literal["reactivation", "second_order", "nurture", "loyalty", "complaint_recovery", "acquisition"]
Channel = Literal["email", "phone", "post", "visit", "event"]
CampaignState = Literal["draft", "planned", "approved", "running", "completed", "cancelled"]


class Campaign(BaseModel):
    """A campaign: whom it is for (kind), how it reaches them (channel), and where it stands (state)."""

    id: int
    name: str
    kind: CampaignKind
    channel: Channel
    state: CampaignState
    starts_on: date | None = Field(description="First day of the campaign, when planned.")
    ends_on: date | None = Field(description="Last day of the campaign (not before starts_on), when planned.")
    created_at: datetime
    updated_at: datetime


class CampaignFilters(BaseModel):
    state: CampaignState | None = None
    kind: CampaignKind | None = None
