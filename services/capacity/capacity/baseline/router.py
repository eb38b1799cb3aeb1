"""HTTP for the baseline (the existing customers' expected demand), its backtest, and manual adjustments."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from capacity.baseline import service
from capacity.baseline.schemas import Adjustment, AdjustmentCreate, Backtest, Baseline, Forecast
from capacity.clients.segmentation import SegmentationClientDep
from capacity.resources.schemas import KEY_PATTERN
from capacity.weeks import WeekRangeDep, WeekStart
from servicekit.db import SessionDep
from servicekit.idempotency import IdempotencyKeyHeader, IdempotencyScopeDep, mark_replayed
from servicekit.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(prefix="/v1/capacity", tags=["baseline"])

ResourceKeyQuery = Annotated[str | None, Query(pattern=KEY_PATTERN, description="Only this resource.")]
IdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get(
    "/baseline",
    response_model=Baseline,
    summary="The existing customers' expected demand per resource and week, and the forecast it comes from",
    description="Refreshes the forecast from the segmentation service first when it is older than "
    "CAPACITY_BASELINE_MAX_AGE_SECONDS; when segmentation cannot be asked, the last stored forecast answers, "
    "marked `stale` with the reason.",
)
async def get_baseline(
    request: Request,
    session: SessionDep,
    segmentation: SegmentationClientDep,
    weeks: WeekRangeDep,
    resource: ResourceKeyQuery = None,
) -> Baseline:
    return await service.get_baseline(session, segmentation, request.app.state.settings, resource, weeks)


@router.post(
    "/baseline/refresh",
    response_model=Forecast,
    summary="Forecast again from the segmentation service now (a 503 when it cannot be asked)",
)
async def refresh_baseline(request: Request, session: SessionDep, segmentation: SegmentationClientDep) -> Forecast:
    return await service.refresh(session, segmentation, request.app.state.settings)


@router.get(
    "/baseline/backtest",
    response_model=Backtest,
    summary="The history method's forecast against the orders actually booked, over past weeks",
)
async def get_backtest(session: SessionDep) -> Backtest:
    return await service.get_backtest(session)


@router.post(
    "/adjustments",
    response_model=Adjustment,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": Adjustment, "description": "Replayed: the adjustment with this Idempotency-Key"}},
    summary="Add a known demand (a large order announced) to one resource's baseline in one week",
)
async def create_adjustment(
    request: Request,
    body: AdjustmentCreate,
    session: SessionDep,
    response: Response,
    idempotency_scope: IdempotencyScopeDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Adjustment:
    created, replayed = await service.create_adjustment(
        session, body, idempotency_key, request.app.state.settings, idempotency_scope=idempotency_scope
    )
    location = f"/v1/capacity/adjustments/{created.id}"
    if replayed:
        mark_replayed(response, location)
    else:
        response.headers["Location"] = location
    return created


@router.get("/adjustments", response_model=Page[Adjustment], summary="Baseline adjustments, oldest first")
async def list_adjustments(
    session: SessionDep,
    resource: ResourceKeyQuery = None,
    from_week: Annotated[WeekStart | None, Query(description="Only weeks from this one on.")] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[Adjustment]:
    return await service.list_adjustments(session, resource, from_week, cursor, limit)


@router.get("/adjustments/{adjustment_id}", response_model=Adjustment, summary="One baseline adjustment")
async def get_adjustment(adjustment_id: IdPath, session: SessionDep) -> Adjustment:
    return await service.get_adjustment(session, adjustment_id)


@router.delete(
    "/adjustments/{adjustment_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a baseline adjustment"
)
async def delete_adjustment(adjustment_id: IdPath, session: SessionDep) -> None:
    await service.delete_adjustment(session, adjustment_id)
