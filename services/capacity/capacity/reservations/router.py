"""HTTP for reservations: hold capacity for a campaign, then confirm, release or consume it."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from capacity.reservations import service
from capacity.reservations.errors import InsufficientCapacity
from capacity.reservations.schemas import Reservation, ReservationCreate, ReservationState
from servicekit.db import SessionDep
from servicekit.errors import Problem
from servicekit.idempotency import IdempotencyKeyHeader, IdempotencyScopeDep, mark_replayed
from servicekit.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(prefix="/v1/capacity/reservations", tags=["reservations"])

ReservationIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="The reservation's id.")]
_CONFLICT = {409: {"model": Problem, "content": {"application/problem+json": {}}, "description": "Conflict"}}


@router.post(
    "",
    response_model=Reservation,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": Reservation, "description": "Replayed: the reservation made with this Idempotency-Key"},
        409: {
            "model": Problem,
            "content": {"application/problem+json": {}},
            "description": f"{InsufficientCapacity.type}: refused, with `shortfalls` and `would_fit`; or no baseline",
        },
    },
    summary="Hold capacity for a campaign per resource and week: all of it, what fits (allow_partial), or refused",
)
async def create_reservation(
    request: Request,
    body: ReservationCreate,
    session: SessionDep,
    response: Response,
    idempotency_scope: IdempotencyScopeDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Reservation:
    reservation, replayed = await service.reserve(
        session, body, idempotency_key, request.app.state.settings, idempotency_scope=idempotency_scope
    )
    location = f"/v1/capacity/reservations/{reservation.id}"
    if replayed:
        mark_replayed(response, location)
    else:
        response.headers["Location"] = location
    return reservation


@router.get("", response_model=Page[Reservation], summary="Reservations, oldest first, by state or campaign")
async def list_reservations(
    session: SessionDep,
    state: Annotated[ReservationState | None, Query()] = None,
    campaign: Annotated[str | None, Query(max_length=200)] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[Reservation]:
    return await service.list_reservations(session, state, campaign, cursor, limit)


@router.get("/{reservation_id}", response_model=Reservation, summary="One reservation")
async def get_reservation(reservation_id: ReservationIdPath, session: SessionDep) -> Reservation:
    return await service.get_reservation(session, reservation_id)


@router.post(
    "/{reservation_id}/confirm",
    response_model=Reservation,
    responses=_CONFLICT,
    summary="Confirm a hold before it expires: it counts until released or consumed",
)
async def confirm_reservation(reservation_id: ReservationIdPath, session: SessionDep) -> Reservation:
    return await service.confirm(session, reservation_id)


@router.post(
    "/{reservation_id}/release",
    response_model=Reservation,
    responses=_CONFLICT,
    summary="Give a held or confirmed reservation back: its capacity is free again",
)
async def release_reservation(reservation_id: ReservationIdPath, session: SessionDep) -> Reservation:
    return await service.release(session, reservation_id)


@router.post(
    "/{reservation_id}/consume",
    response_model=Reservation,
    responses=_CONFLICT,
    summary="Mark a confirmed reservation used by its campaign (it keeps counting in its weeks)",
)
async def consume_reservation(reservation_id: ReservationIdPath, session: SessionDep) -> Reservation:
    return await service.consume(session, reservation_id)
