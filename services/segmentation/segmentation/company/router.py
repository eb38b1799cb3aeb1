"""HTTP for the company's configuration: its settings and the thresholds of the classifications."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from segmentation.company import service
from segmentation.company.schemas import Thresholds
from segmentation.orderdays import index as day_index
from servicekit.db import SessionDep

router = APIRouter(prefix="/v1/segmentation", tags=["classification"])


@router.get("/config", response_model=Thresholds, summary="The classification thresholds")
async def get_config(session: SessionDep) -> Thresholds:
    return await service.get_thresholds(session)


@router.put("/config", response_model=Thresholds, summary="Replace the classification thresholds")
async def put_config(request: Request, body: Thresholds) -> Thresholds:
    if await service.put_thresholds(request.app.state.sessionmaker, body):
        day_index.start_following_zone(request.app)
    return body


MERGE_PATCH = "application/merge-patch+json"


@router.patch(
    "/config",
    response_model=Thresholds,
    summary="Change some thresholds (JSON Merge Patch, RFC 7396): what the body names, the rest as it was",
    description='Send only what changes, e.g. `{"lapsed_after_days": 400, "exchange_rates": {"USD": null}}`: a '
    "member replaces the stored one, `null` restores its default (or removes a currency's rate), an object is merged "
    f"member by member. Content type `{MERGE_PATCH}` (or `application/json`). The result must be a valid "
    "configuration as a whole; a bad value is a 422 naming it, and nothing is changed.",
)
async def patch_config(request: Request, body: Annotated[dict[str, Any], Body(media_type=MERGE_PATCH)]) -> Thresholds:
    thresholds, zone_changed = await service.patch_thresholds(request.app.state.sessionmaker, body)
    if zone_changed:
        day_index.start_following_zone(request.app)
    return thresholds
