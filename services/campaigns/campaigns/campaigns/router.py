"""HTTP for campaigns: create (Idempotency-Key), read, list, change, and the steps of their life: plan,
approve (capacity gating), start, complete, cancel. Each step says who did it (`by`, else the API key)."""

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request, Response, status

from campaigns.actors import CallerDep
from campaigns.audience import service as planning
from campaigns.campaigns import service
from campaigns.campaigns.schemas import (
    Campaign,
    CampaignCreate,
    CampaignFilters,
    CampaignKind,
    CampaignState,
    CampaignUpdate,
    CompleteRequest,
    StartRequest,
    Transition,
)
from campaigns.clients.capacity import CapacityClientDep
from campaigns.clients.segmentation import SegmentationClientDep
from campaigns.gating import service as gating
from campaigns.results import service as execution
from servicekit.db import SessionDep
from servicekit.errors import Problem
from servicekit.idempotency import IdempotencyKeyHeader, IdempotencyScopeDep, mark_replayed
from servicekit.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(prefix="/v1/campaigns/campaigns", tags=["campaigns"])

# Bounded to Postgres bigint so an absurd id is a 422, not a database error.
CampaignIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="The campaign's id.")]


def _problem(description: str) -> dict[str, object]:
    return {"model": Problem, "content": {"application/problem+json": {}}, "description": description}


_STATE = {409: _problem("campaign-state: not possible in the campaign's state")}
_UPSTREAM = {
    502: _problem("A service answered with garbage"),
    503: _problem("A service (segmentation or capacity) is unavailable: nothing changed"),
    504: _problem("A service did not answer in time: nothing changed"),
}
TransitionBody = Annotated[Transition | None, Body()]


@router.post(
    "",
    response_model=Campaign,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": Campaign, "description": "Replayed: the campaign created with this Idempotency-Key"}},
    summary="Create a campaign (a draft): kind, channel, schedule, audience rules, incentives, budget, costs",
)
async def create_campaign(
    request: Request,
    body: CampaignCreate,
    session: SessionDep,
    response: Response,
    caller: CallerDep,
    idempotency_scope: IdempotencyScopeDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Campaign:
    campaign, replayed = await service.create_campaign(
        session, body, idempotency_key, caller, request.app.state.settings, idempotency_scope=idempotency_scope
    )
    location = f"/v1/campaigns/campaigns/{campaign.id}"
    if replayed:
        mark_replayed(response, location)
    else:
        response.headers["Location"] = location
    return campaign


@router.get("/{campaign_id}", response_model=Campaign, summary="One campaign, with its plan and history")
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


@router.patch(
    "/{campaign_id}",
    response_model=Campaign,
    responses=_STATE,
    summary="Change a draft or planned campaign (a planned one goes back to draft: plan it again)",
)
async def update_campaign(
    campaign_id: CampaignIdPath, body: CampaignUpdate, session: SessionDep, caller: CallerDep
) -> Campaign:
    return await service.update_campaign(session, campaign_id, body, caller)


@router.post(
    "/{campaign_id}/plan",
    response_model=Campaign,
    responses={**_STATE, **_UPSTREAM},
    summary="Freeze the audience from segmentation, scored and ranked, with exclusions per rule and the forecast",
)
async def plan_campaign(
    request: Request,
    campaign_id: CampaignIdPath,
    session: SessionDep,
    segmentation: SegmentationClientDep,
    capacity: CapacityClientDep,
    caller: CallerDep,
    body: TransitionBody = None,
) -> Campaign:
    body = body or Transition()
    settings = request.app.state.settings
    return await planning.plan_campaign(
        session, campaign_id, settings, segmentation, capacity, body.by or caller, body.note
    )


@router.post(
    "/{campaign_id}/approve",
    response_model=Campaign,
    responses={
        409: _problem("capacity-refused (with fitting_share and what binds), or campaign-state"),
        **_UPSTREAM,
    },
    summary="Approve: reserve the expected extra demand at capacity (trimming the audience to fit, or refused)",
)
async def approve_campaign(
    request: Request,
    campaign_id: CampaignIdPath,
    session: SessionDep,
    capacity: CapacityClientDep,
    caller: CallerDep,
    body: TransitionBody = None,
) -> Campaign:
    body = body or Transition()
    return await gating.approve(
        session, campaign_id, request.app.state.settings, capacity, body.by or caller, body.note
    )


@router.post(
    "/{campaign_id}/start",
    response_model=Campaign,
    responses=_STATE,
    summary="Start an approved campaign (by default every member counts as contacted now)",
)
async def start_campaign(
    campaign_id: CampaignIdPath,
    session: SessionDep,
    caller: CallerDep,
    body: Annotated[StartRequest | None, Body()] = None,
) -> Campaign:
    body = body or StartRequest()
    return await execution.start(session, campaign_id, body.contacts, body.by or caller, body.note)


@router.post(
    "/{campaign_id}/complete",
    response_model=Campaign,
    responses={**_STATE, **_UPSTREAM},
    summary="Complete a running campaign: orders attributed, reservation consumed, results added to the priors",
)
async def complete_campaign(
    request: Request,
    campaign_id: CampaignIdPath,
    session: SessionDep,
    segmentation: SegmentationClientDep,
    capacity: CapacityClientDep,
    caller: CallerDep,
    body: Annotated[CompleteRequest | None, Body()] = None,
) -> Campaign:
    body = body or CompleteRequest()
    return await execution.complete(
        session,
        campaign_id,
        request.app.state.settings,
        segmentation,
        capacity,
        body.attribute,
        body.by or caller,
        body.note,
    )


@router.post(
    "/{campaign_id}/cancel",
    response_model=Campaign,
    responses={**_STATE, **_UPSTREAM},
    summary="Cancel a campaign that is not completed; its reservation at capacity is released",
)
async def cancel_campaign(
    campaign_id: CampaignIdPath,
    session: SessionDep,
    capacity: CapacityClientDep,
    caller: CallerDep,
    body: TransitionBody = None,
) -> Campaign:
    body = body or Transition()
    return await execution.cancel(session, campaign_id, capacity, body.by or caller, body.note)
