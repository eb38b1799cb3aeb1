"""HTTP for execution and measurement: contacts and responses from mail and CRM tools, attribution of
segmentation's orders, and the results against the plan."""

from fastapi import APIRouter, Request

from campaigns.campaigns.router import CampaignIdPath
from campaigns.clients.segmentation import SegmentationClientDep
from campaigns.results import service
from campaigns.results.schemas import ContactsIn, Recorded, ResponsesIn, Results
from servicekit.db import SessionDep

router = APIRouter(prefix="/v1/campaigns/campaigns/{campaign_id}", tags=["results"])


@router.post(
    "/contacts",
    response_model=Recorded,
    summary="Record contacts of members (running or completed campaigns); all or nothing",
)
async def record_contacts(campaign_id: CampaignIdPath, body: ContactsIn, session: SessionDep) -> Recorded:
    return await service.record_contacts(session, campaign_id, body)


@router.post(
    "/responses",
    response_model=Recorded,
    summary="Record responses of contacted members (a reply, an appointment, a redeemed incentive); all or nothing",
)
async def record_responses(campaign_id: CampaignIdPath, body: ResponsesIn, session: SessionDep) -> Recorded:
    return await service.record_responses(session, campaign_id, body)


@router.post(
    "/attribution",
    response_model=Results,
    summary="Attribute segmentation's booked orders within the window after each contact; answers the results",
)
async def attribute_orders(
    request: Request, campaign_id: CampaignIdPath, session: SessionDep, segmentation: SegmentationClientDep
) -> Results:
    return await service.run_attribution(session, campaign_id, request.app.state.settings, segmentation)


@router.get(
    "/results",
    response_model=Results,
    summary="Planned against actual: contacts, responses, orders, revenue, contribution, cost, ROI; reactivated",
)
async def get_results(campaign_id: CampaignIdPath, session: SessionDep) -> Results:
    return await service.results(session, campaign_id)
