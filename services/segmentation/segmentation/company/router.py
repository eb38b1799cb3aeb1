"""HTTP for the company's configuration: its settings and the thresholds of the classifications."""

from fastapi import APIRouter, Request

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
