"""HTTP for the incentive catalogue: upsert by key (the loyalty rule checked), read, list."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from campaigns.incentives import service
from campaigns.incentives.schemas import Incentive, IncentivePut
from campaigns.types import KEY_PATTERN
from servicekit.db import SessionDep
from servicekit.errors import Problem
from servicekit.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(prefix="/v1/campaigns/incentives", tags=["incentives"])

KeyPath = Annotated[str, Path(pattern=KEY_PATTERN, description="The incentive's key, e.g. loyalty-10.")]


@router.put(
    "/{key}",
    response_model=Incentive,
    responses={
        201: {"model": Incentive, "description": "Created"},
        409: {
            "model": Problem,
            "content": {"application/problem+json": {}},
            "description": "loyalty-rule: existing customers would get less than new customers for the same offer",
        },
    },
    summary="Create or replace an incentive: value, cost, eligibility; refused if it breaks the loyalty rule",
)
async def put_incentive(key: KeyPath, body: IncentivePut, session: SessionDep, response: Response) -> Incentive:
    incentive, created = await service.put_incentive(session, key, body)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return incentive


@router.get("/{key}", response_model=Incentive, summary="One incentive")
async def get_incentive(key: KeyPath, session: SessionDep) -> Incentive:
    return await service.get_incentive(session, key)


@router.get("", response_model=Page[Incentive], summary="Incentives, oldest first, a page at a time")
async def list_incentives(
    session: SessionDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    active: Annotated[bool | None, Query()] = None,
    offer: Annotated[str | None, Query(pattern=KEY_PATTERN)] = None,
) -> Page[Incentive]:
    return await service.list_incentives(session, cursor, limit, active, offer)
