"""HTTP for planning: headroom, the acquisition limit, utilisation and lead times, and what-if."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from capacity.planning import service
from capacity.planning.schemas import AcquisitionLimit, Headroom, Utilisation, WhatIf, WhatIfRequest
from capacity.resources.schemas import KEY_PATTERN
from capacity.weeks import WeekRangeDep
from servicekit.db import SessionDep

router = APIRouter(prefix="/v1/capacity", tags=["planning"])

ResourceKeyQuery = Annotated[str | None, Query(pattern=KEY_PATTERN, description="Only this resource.")]


@router.get(
    "/headroom",
    response_model=Headroom,
    summary="Per resource and week: capacity, baseline, reserve, reservations, headroom and acquisition limit",
)
async def get_headroom(
    request: Request, session: SessionDep, weeks: WeekRangeDep, resource: ResourceKeyQuery = None
) -> Headroom:
    return await service.headroom(session, request.app.state.settings, resource, weeks)


@router.get(
    "/acquisition-limit",
    response_model=AcquisitionLimit,
    summary="How many new customers fit, per week and over the range, and which resource limits",
)
async def get_acquisition_limit(request: Request, session: SessionDep, weeks: WeekRangeDep) -> AcquisitionLimit:
    return await service.acquisition_limit(session, request.app.state.settings, weeks)


@router.get(
    "/utilisation",
    response_model=Utilisation,
    summary="Per resource and week: demand over capacity, the backlog past 100 % and the extra lead time",
)
async def get_utilisation(
    request: Request, session: SessionDep, weeks: WeekRangeDep, resource: ResourceKeyQuery = None
) -> Utilisation:
    return await service.utilisation(session, request.app.state.settings, resource, weeks)


@router.post(
    "/what-if",
    response_model=WhatIf,
    summary="Whether a planned campaign's extra orders per week fit, and how much of them; nothing is reserved",
)
async def what_if(request: Request, body: WhatIfRequest, session: SessionDep) -> WhatIf:
    return await service.what_if(session, request.app.state.settings, body)
