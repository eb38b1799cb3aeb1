"""HTTP for suggestions: what to do now, each with its forecast and whether capacity allows it."""

from fastapi import APIRouter, Request

from campaigns.clients.capacity import CapacityClientDep
from campaigns.clients.segmentation import SegmentationClientDep
from campaigns.suggestions import service
from campaigns.suggestions.schemas import Suggestions
from servicekit.db import SessionDep

router = APIRouter(prefix="/v1/campaigns/suggestions", tags=["suggestions"])


@router.get(
    "",
    response_model=Suggestions,
    summary="What to do now: reactivation, second order, loyalty; each with its forecast and capacity check",
    description="Each runs four ISO weeks ending on a Sunday: from today (in the company's time zone) when today is "
    "Monday to Thursday, else from the next Monday.",
)
async def get_suggestions(
    request: Request, session: SessionDep, segmentation: SegmentationClientDep, capacity: CapacityClientDep
) -> Suggestions:
    return await service.suggest(session, request.app.state.settings, segmentation, capacity)
