from datetime import date

from pydantic import BaseModel, Field

from campaigns.audience.schemas import CapacityCheck
from campaigns.campaigns.schemas import CampaignCreate
from campaigns.forecast.schemas import Forecast
from campaigns.types import CampaignKind, Channel


class Suggestion(BaseModel):
    """A campaign worth running now, scored like a plan (nothing is stored) and checked against capacity."""

    kind: CampaignKind
    channel: Channel
    title: str
    why: str = Field(description="The seed's advice behind it, and who it is for.")
    considered: int = Field(description="Customers segmentation's audience returned.")
    members: int = Field(description="Members the campaign would contact.")
    excluded: dict[str, int] = Field(description="Members left out per rule.")
    forecast: Forecast
    capacity: CapacityCheck
    campaign: CampaignCreate = Field(description="The campaign as a body for POST /v1/campaigns/campaigns.")


class Suggestions(BaseModel):
    as_of: date
    suggestions: list[Suggestion] = Field(description="Best expected net first; those without members left out.")
    without_members: list[str] = Field(description="Titles of suggestions nobody qualifies for right now.")
