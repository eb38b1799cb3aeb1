"""HTTP for campaigns: read one, list with cursor pagination (writing comes later)."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from campaigns.campaigns import service
from campaigns.campaigns.schemas import Campaign, CampaignFilters, CampaignKind, CampaignState
from servicekit.db import SessionDep
from servicekit.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(prefix="/v1/campaigns/campaigns", tags=["campaigns"])

# Bounded to Postgres bigint so an absurd id is a 422, not a database error.
CampaignIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="The campaign's id.")]


@router.get("/{campaign_id}", response_model=Campaign, summary="One campaign")
async def get_campaign(campaign_id: CampaignIdPath, session: SessionDep) -> Campaign:
    return await service.get_campaign(session, campaign_id)


@router.get("", response_model=Page[Campaign], summary="Campaigns, oldest first, a page at a time")
async def list_campaigns(
    session: SessionDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    state: Annotated[CampaignState | None, Query()] = None,
    kind: Annotated[CampaignKind | None, Query()] = None,
) -> Page[Campaign]:
    filters = CampaignFilters(state=state, kind=kind)
    return await service.list_campaigns(session, filters, cursor, limit)
