"""Reservations: what campaigns hold of the headroom, granted exactly under concurrency.

A grant claims its Idempotency-Key first (a concurrent retry waits for it and then replays), locks the row
of every resource-week it asks for (created if missing, always in the same order), computes those cells'
headroom in the same transaction, and inserts its lines. Whoever else changes what counts in a cell
(another grant, a confirmation of a hold) takes the same locks, so grants for one cell see each other: the
sum of what is held and confirmed never exceeds the headroom. A hold counts until it expires, whether or not
the sweep has marked it expired.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from capacity.baseline.service import newest_forecast
from capacity.planning import repository as planning
from capacity.reservations import repository
from capacity.reservations.errors import InsufficientCapacity, ReservationNotFound, ReservationStateConflict
from capacity.reservations.models import ReservationRow
from capacity.reservations.schemas import Reservation, ReservationCreate, ReservationLine
from capacity.resources import repository as resources
from capacity.resources.errors import UnknownResource
from capacity.settings import CapacitySettings
from capacity.weeks import check_week, current_week, iso_week
from servicekit.idempotency import IdempotencyKeyReused, fingerprint
from servicekit.pagination import Page, decode_id_cursor, encode_cursor

CENT = Decimal("0.01")


def _state(row: ReservationRow, lapsed: bool) -> str:
    return "expired" if lapsed else row.state


def to_schema(row: ReservationRow, lapsed: bool, lines: list[ReservationLine]) -> Reservation:
    state = _state(row, lapsed)
    return Reservation(
        id=row.id,
        campaign=row.campaign,
        state=state,
        allow_partial=row.allow_partial,
        partial=row.partial,
        expires_at=row.expires_at if state in ("held", "expired") else None,
        lines=lines,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _line(resource: str, week_start: Any, requested: Decimal, granted: Decimal) -> ReservationLine:
    return ReservationLine(
        resource=resource, week_start=week_start, iso_week=iso_week(week_start), requested=requested, granted=granted
    )


async def _read(session: AsyncSession, row: ReservationRow, lapsed: bool) -> Reservation:
    lines = (await repository.lines_of(session, [row.id])).get(row.id, [])
    return to_schema(row, lapsed, [_line(key, ln.week_start, ln.requested, ln.granted) for ln, key in lines])


async def _replay(session: AsyncSession, earlier: ReservationRow, body: ReservationCreate, key: str) -> Reservation:
    if earlier.request_fingerprint != fingerprint(body):
        raise IdempotencyKeyReused(key)
    found = await repository.get(session, earlier.id)
    assert found is not None
    return await _read(session, *found)


async def reserve(
    session: AsyncSession,
    body: ReservationCreate,
    idempotency_key: str | None,
    settings: CapacitySettings,
    *,
    idempotency_scope: str,
) -> tuple[Reservation, bool]:
    """Hold what the body asks for, all of it or (allow_partial) what fits; refused with what would fit.
    Returns the reservation and whether it is a replay of an earlier request with the same key."""
    if idempotency_key is not None and (
        earlier := await repository.by_key(session, idempotency_scope, idempotency_key)
    ):
        return await _replay(session, earlier, body, idempotency_key), True

    this_week = current_week(settings.time_zone)
    ids = await resources.ids_by_key(session, [line.resource for line in body.lines])
    for i, line in enumerate(body.lines):
        if line.resource not in ids:
            raise UnknownResource(line.resource, ["body", "lines", i, "resource"])
        check_week(line.week_start, this_week, settings.forecast_weeks, ["body", "lines", i, "week_start"])
    await newest_forecast(session)  # nothing to reserve against without a baseline

    hold = timedelta(seconds=body.hold_seconds or settings.reservation_hold_seconds)
    row = await repository.claim(
        session,
        {
            "campaign": body.campaign,
            "state": "held",
            "allow_partial": body.allow_partial,
            "expires_at": func.statement_timestamp() + hold,
            "idempotency_key": idempotency_key,
            "idempotency_scope": idempotency_scope,
            "request_fingerprint": fingerprint(body),
        },
    )
    if row is None:  # the same key, sent concurrently: the insert waited for that request, which committed
        assert idempotency_key is not None  # (had it rolled back, as a refusal does, this insert would have won)
        earlier = await repository.by_key(session, idempotency_scope, idempotency_key)
        assert earlier is not None, "reservations are never deleted"
        return await _replay(session, earlier, body, idempotency_key), True

    cells = sorted({(ids[line.resource], line.week_start) for line in body.lines})
    await repository.lock_weeks(session, cells)
    figures = await planning.cell_figures(session, cells)

    granted, shortfalls, would_fit = [], [], []
    for line in body.lines:
        cell = figures[(ids[line.resource], line.week_start)]
        available = max(Decimal(0), cell.headroom).quantize(CENT, ROUND_FLOOR)
        take = line.amount if line.amount <= available else (available if body.allow_partial else Decimal(0))
        granted.append(take)
        if line.amount > available:
            shortfalls.append(
                {
                    "resource": line.resource,
                    "week_start": line.week_start.isoformat(),
                    "iso_week": iso_week(line.week_start),
                    "requested": str(line.amount),
                    "available": str(available),
                }
            )
        would_fit.append(
            {
                "resource": line.resource,
                "week_start": line.week_start.isoformat(),
                "amount": str(min(line.amount, available)),
            }
        )
    if shortfalls and (not body.allow_partial or not any(granted)):
        raise InsufficientCapacity(_refusal(shortfalls, len(body.lines), body.allow_partial), shortfalls, would_fit)

    await repository.add_lines(
        session,
        [
            {
                "reservation_id": row.id,
                "resource_id": ids[line.resource],
                "week_start": line.week_start,
                "requested": line.amount,
                "granted": take,
            }
            for line, take in zip(body.lines, granted, strict=True)
        ],
    )
    if shortfalls:
        await repository.mark_partial(session, row.id)
        row.partial = True
    lines = [_line(ln.resource, ln.week_start, ln.amount, take) for ln, take in zip(body.lines, granted, strict=True)]
    return to_schema(row, False, lines), False


def _refusal(shortfalls: list[dict[str, Any]], lines: int, allow_partial: bool) -> str:
    where = "; ".join(
        f"{s['resource']} in {s['iso_week']} has {s['available']} left of {s['requested']} asked" for s in shortfalls
    )
    if allow_partial:
        return f"Nothing fits: {where}."
    return (
        f"{len(shortfalls)} of {lines} line(s) do not fit: {where}. Nothing was reserved; `would_fit` says what "
        "would, and allow_partial=true takes it."
    )


async def get_reservation(session: AsyncSession, reservation_id: int) -> Reservation:
    found = await repository.get(session, reservation_id)
    if found is None:
        raise ReservationNotFound(reservation_id)
    return await _read(session, *found)


async def list_reservations(
    session: AsyncSession, state: str | None, campaign: str | None, cursor: str | None, limit: int
) -> Page[Reservation]:
    rows = await repository.list_page(session, state, campaign, decode_id_cursor(cursor), limit)
    shown = rows[:limit]
    lines = await repository.lines_of(session, [row.id for row, _ in shown])
    items = [
        to_schema(
            row, lapsed, [_line(key, ln.week_start, ln.requested, ln.granted) for ln, key in lines.get(row.id, [])]
        )
        for row, lapsed in shown
    ]
    next_cursor = encode_cursor({"id": rows[limit - 1][0].id}) if len(rows) > limit else None
    return Page[Reservation](items=items, next_cursor=next_cursor)


async def _locked(session: AsyncSession, reservation_id: int) -> tuple[ReservationRow, str]:
    found = await repository.get(session, reservation_id, lock=True)
    if found is None:
        raise ReservationNotFound(reservation_id)
    return found[0], _state(*found)


async def confirm(session: AsyncSession, reservation_id: int) -> Reservation:
    """held -> confirmed, while the hold has not expired; confirming a confirmed one changes nothing."""
    row, state = await _locked(session, reservation_id)
    if state != "confirmed":
        if state != "held":
            raise ReservationStateConflict(reservation_id, state, "confirmed")
        # A grant that finds this hold expired must not meet it confirmed after all: take its cells' locks.
        await repository.lock_weeks(session, sorted(await repository.cells_of(session, reservation_id)))
        changed = await repository.change_state(session, reservation_id, ("held",), "confirmed", expires_at=None)
        if changed is None:
            raise ReservationStateConflict(reservation_id, "expired", "confirmed")
        row = changed
    return await _read(session, row, False)


async def release(session: AsyncSession, reservation_id: int) -> Reservation:
    """held or confirmed -> released: the capacity is free again; releasing a released one changes nothing."""
    row, state = await _locked(session, reservation_id)
    if state != "released":
        if state not in ("held", "confirmed"):
            raise ReservationStateConflict(reservation_id, state, "released")
        changed = await repository.change_state(session, reservation_id, ("held", "confirmed"), "released")
        if changed is None:  # the hold expired a moment ago
            raise ReservationStateConflict(reservation_id, "expired", "released")
        row = changed
    return await _read(session, row, False)


async def consume(session: AsyncSession, reservation_id: int) -> Reservation:
    """confirmed -> consumed: the campaign ran; its lines keep counting in their weeks (they are orders now)."""
    row, state = await _locked(session, reservation_id)
    if state != "consumed":
        if state != "confirmed":
            raise ReservationStateConflict(reservation_id, state, "consumed")
        changed = await repository.change_state(session, reservation_id, ("confirmed",), "consumed")
        assert changed is not None  # the row is locked and confirmed
        row = changed
    return await _read(session, row, False)
