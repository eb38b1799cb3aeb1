"""HTTP for classifications: segmentation runs, each customer's profile, reports and audiences."""

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from segmentation.classification import audience, profiles, reports, runs
from segmentation.classification.schemas import (
    AbcClass,
    Change,
    FlowReport,
    Lifecycle,
    Payment,
    Phase,
    Profile,
    ProfileFilters,
    ProfileSort,
    Quadrant,
    Run,
    RunRequest,
    Summary,
    WeeklyOrders,
    ZStage,
)
from segmentation.types import ExternalIdPath
from servicekit.app import keep_until_shutdown
from servicekit.bounds import Day, Total
from servicekit.db import SessionDep
from servicekit.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(prefix="/v1/segmentation", tags=["classification"])


@router.post(
    "/runs",
    response_model=Run,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Classify every customer (as of a day); poll the run for its status",
)
async def start_run(request: Request, response: Response, body: RunRequest | None = None) -> Run:
    run, task = await runs.start_run(request.app.state.sessionmaker, body.as_of if body else None)
    keep_until_shutdown(request.app, task)
    response.headers["Location"] = f"/v1/segmentation/runs/{run.id}"
    return run


@router.get("/runs", response_model=list[Run], summary="Recent runs, newest first")
async def list_runs(session: SessionDep, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[Run]:
    return await runs.list_runs(session, limit)


@router.get("/runs/{run_id}", response_model=Run, summary="One run")
async def get_run(run_id: uuid.UUID, session: SessionDep) -> Run:
    return await runs.get_run(session, run_id)


@router.get(
    "/runs/{run_id}/profiles",
    response_model=Page[Profile],
    summary="Customers as a back-dated run classified them, a page at a time (by customer)",
)
async def list_run_profiles(
    run_id: uuid.UUID, session: SessionDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[Profile]:
    return await profiles.run_profiles(session, run_id, None, cursor, limit)


@router.get(
    "/runs/{run_id}/customers/{external_id}/profile",
    response_model=Profile,
    summary="A customer as a back-dated run classified him",
)
async def get_run_profile(run_id: uuid.UUID, external_id: ExternalIdPath, session: SessionDep) -> Profile:
    return (await profiles.run_profiles(session, run_id, external_id, None, 1)).items[0]


@router.get(
    "/customers/{external_id}/profile",
    response_model=Profile,
    summary="A customer with every classification and the figures behind each (as of any day with as_of)",
)
async def get_profile(
    external_id: ExternalIdPath,
    request: Request,
    as_of: Annotated[
        Day | None,
        Query(description="Classify as of this day (not after today in the company's time zone), storing nothing."),
    ] = None,
) -> Response:
    state = request.app.state
    if as_of is not None:
        profile = await profiles.get_profile_as_of(state.sessionmaker, external_id, as_of)
    else:  # the hottest read: on the read pool, serialised once (FastAPI would dump to Python and then to JSON)
        profile = await profiles.read_profile(state.read_pool, state.sessionmaker, external_id)
    return Response(profile.model_dump_json(by_alias=True), media_type="application/json")


@router.get(
    "/customers/{external_id}/history",
    response_model=list[Change],
    summary="Every change of the customer's lifecycle, Z-stage, ABC class and quadrant, oldest first",
)
async def get_history(external_id: ExternalIdPath, session: SessionDep) -> list[Change]:
    return await profiles.get_history(session, external_id)


@router.get(
    "/reports/flows",
    response_model=FlowReport,
    summary="How many customers moved between states from one day to another (e.g. Z2 to Z3, active to lapsed)",
)
async def flow_report(
    session: SessionDep,
    attribute: Annotated[Literal["lifecycle", "z_stage", "abc", "quadrant"], Query()],
    from_date: Annotated[Day, Query()],
    to_date: Annotated[Day, Query()],
) -> FlowReport:
    return await reports.flow_report(session, attribute, from_date, to_date)


@router.get(
    "/reports/summary",
    response_model=Summary,
    summary="Customers and revenue per lifecycle, Z-stage, ABC class, quadrant, payment and relationship phase",
)
async def summary(session: SessionDep) -> Summary:
    return await reports.get_summary(session)


def profile_filters(
    lifecycle: Annotated[list[Lifecycle], Query()] = [],  # noqa: B006 - FastAPI copies query defaults
    z_stage: Annotated[list[ZStage], Query()] = [],  # noqa: B006
    abc: Annotated[list[AbcClass], Query()] = [],  # noqa: B006
    quadrant: Annotated[list[Quadrant], Query()] = [],  # noqa: B006
    payment: Annotated[list[Payment], Query()] = [],  # noqa: B006
    phase: Annotated[list[Phase], Query()] = [],  # noqa: B006
    key_account: Annotated[bool | None, Query()] = None,
    min_revenue_12m: Annotated[Total | None, Query()] = None,
    max_revenue_12m: Annotated[Total | None, Query()] = None,
    last_order_from: Annotated[Day | None, Query()] = None,
    last_order_before: Annotated[Day | None, Query()] = None,
    consent: Annotated[
        list[Literal["email", "phone", "post"]], Query(description="Consent on every channel named.")
    ] = [],  # noqa: B006
) -> ProfileFilters:
    """The same filters for profile lists, audiences and weekly orders: several values of one are OR'ed."""
    return ProfileFilters(
        lifecycle=lifecycle,
        z_stage=z_stage,
        abc=abc,
        quadrant=quadrant,
        payment=payment,
        phase=phase,
        key_account=key_account,
        min_revenue_12m=min_revenue_12m,
        max_revenue_12m=max_revenue_12m,
        last_order_from=last_order_from,
        last_order_before=last_order_before,
        consent=consent,
    )


FiltersDep = Annotated[ProfileFilters, Depends(profile_filters)]


@router.get(
    "/profiles",
    response_model=Page[Profile],
    summary="Customers with their classifications, filtered by any of them, sorted, a page at a time",
)
async def list_profiles(
    session: SessionDep,
    filters: FiltersDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    sort: Annotated[ProfileSort, Query(description="id (oldest first), -revenue_12m or -last_order_on")] = "id",
) -> Page[Profile]:
    return await profiles.list_profiles(session, filters, sort, cursor, limit)


@router.get(
    "/audiences",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "One JSON object per customer"}},
    summary="The matching customers as an NDJSON stream, with what campaigns score them by",
)
async def stream_audience(request: Request, filters: FiltersDep) -> StreamingResponse:
    lines = audience.audience_lines(request.app.state.sessionmaker, filters)
    # The first batch before the status line: a query that fails is a problem response, not a cut-off stream.
    first = await anext(lines, b"")

    async def stream() -> AsyncIterator[bytes]:
        yield first
        async for chunk in lines:
            yield chunk

    return StreamingResponse(stream(), media_type="application/x-ndjson")


@router.get(
    "/reports/weekly-orders",
    response_model=WeeklyOrders,
    summary="Booked orders and their amounts per ISO week for the matching customers (the capacity baseline)",
)
async def weekly_orders(
    session: SessionDep,
    filters: FiltersDep,
    from_date: Annotated[Day, Query()],
    to_date: Annotated[Day, Query(description="Exclusive.")],
) -> WeeklyOrders:
    return await reports.weekly_orders(session, filters, from_date, to_date)
