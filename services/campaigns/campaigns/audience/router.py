"""HTTP for a campaign's frozen audience: its members page by page (best first), and the export for mail and
CRM tools (CSV or NDJSON, with each member's personal incentive)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from campaigns.audience import service
from campaigns.audience.schemas import ExclusionRule, Member
from campaigns.campaigns.router import CampaignIdPath
from servicekit.db import SessionDep
from servicekit.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(prefix="/v1/campaigns/campaigns/{campaign_id}", tags=["audiences"])

Outcome = Literal["contacted", "responded", "bought", "reactivated"]


@router.get(
    "/members",
    response_model=Page[Member],
    summary="The campaign's audience as frozen at planning: included best first, then those left out, and why",
)
async def list_members(
    campaign_id: CampaignIdPath,
    session: SessionDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    included: Annotated[bool | None, Query(description="true: the audience; false: those left out.")] = None,
    excluded_by: Annotated[ExclusionRule | None, Query(description="Left out by this rule.")] = None,
    outcome: Annotated[
        Outcome | None,
        Query(
            description="contacted; responded (a response or an order); bought (an attributed order); "
            "reactivated (lapsed at planning, then bought)."
        ),
    ] = None,
) -> Page[Member]:
    return await service.list_members(session, campaign_id, included, excluded_by, outcome, cursor, limit)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}, "application/x-ndjson": {}}, "description": "One line per member"},
        409: {"description": "campaign-state: only approved, running and completed campaigns are exported"},
    },
    summary="The audience for mail and CRM tools, best first, with each member's personal incentive and code",
)
async def export_audience(
    request: Request,
    campaign_id: CampaignIdPath,
    session: SessionDep,
    format: Annotated[Literal["csv", "ndjson"], Query()] = "csv",
) -> StreamingResponse:
    row = await service.exportable(session, campaign_id)
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    filename = f"campaign-{row.id}.{format}"
    return StreamingResponse(
        service.export_lines(request.app.state.sessionmaker, row, format),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
