"""All SQL of reservations: claiming a key, locking resource-weeks, lines, state changes, the sweep."""

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import and_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from capacity.db import SCHEMA
from capacity.reservations.models import ReservationLineRow, ReservationRow
from capacity.resources.models import ResourceRow
from servicekit.sql import SQL, ident

_SCHEMA = ident(SCHEMA)

# A hold past its expiry that no sweep has marked yet is expired all the same.
_LAPSED = and_(ReservationRow.state == "held", ReservationRow.expires_at <= text("statement_timestamp()"))


async def claim(session: AsyncSession, values: dict[str, Any]) -> ReservationRow | None:
    """A new reservation; None when its idempotency key is taken (after waiting for the request that took it)."""
    statement = insert(ReservationRow).values(**values).on_conflict_do_nothing().returning(ReservationRow)
    return (await session.execute(statement)).scalar_one_or_none()


async def by_key(session: AsyncSession, scope: str, idempotency_key: str) -> ReservationRow | None:
    return await session.scalar(
        select(ReservationRow).where(
            ReservationRow.idempotency_scope == scope, ReservationRow.idempotency_key == idempotency_key
        )
    )


async def lock_weeks(session: AsyncSession, cells: Sequence[tuple[int, date]]) -> None:
    """Lock the row of each (resource id, week), creating those that are missing, in one statement and in one
    order, so that two requests never wait for each other in a circle. Held until the transaction ends."""
    await session.execute(
        SQL("""
            INSERT INTO {schema}.resource_weeks (resource_id, week_start, last_reserved_at)
            SELECT c.resource_id, c.week_start, statement_timestamp()
            FROM unnest(CAST(:resource_ids AS bigint[]), CAST(:weeks AS date[])) AS c(resource_id, week_start)
            ORDER BY c.resource_id, c.week_start
            ON CONFLICT (resource_id, week_start) DO UPDATE SET last_reserved_at = EXCLUDED.last_reserved_at""")
        .format(schema=_SCHEMA)
        .clause,
        {"resource_ids": [cell[0] for cell in cells], "weeks": [cell[1] for cell in cells]},
    )


async def add_lines(session: AsyncSession, lines: list[dict[str, Any]]) -> None:
    await session.execute(insert(ReservationLineRow), lines)


async def mark_partial(session: AsyncSession, reservation_id: int) -> None:
    await session.execute(update(ReservationRow).where(ReservationRow.id == reservation_id).values(partial=True))


async def get(session: AsyncSession, reservation_id: int, *, lock: bool = False) -> tuple[ReservationRow, bool] | None:
    """The reservation and whether it is a lapsed hold; with `lock`, its row locked for a change of state."""
    query = select(ReservationRow, _LAPSED).where(ReservationRow.id == reservation_id)
    if lock:
        query = query.with_for_update(of=ReservationRow)
    row = (await session.execute(query.execution_options(populate_existing=True))).one_or_none()
    return (row[0], row[1]) if row else None


async def lines_of(session: AsyncSession, reservation_ids: Iterable[int]) -> dict[int, list[Any]]:
    query = (
        select(ReservationLineRow, ResourceRow.key)
        .join(ResourceRow, ResourceRow.id == ReservationLineRow.resource_id)
        .where(ReservationLineRow.reservation_id.in_(set(reservation_ids)))
        .order_by(ReservationLineRow.reservation_id, ResourceRow.key, ReservationLineRow.week_start)
    )
    found: dict[int, list[Any]] = {}
    for line, key in await session.execute(query):
        found.setdefault(line.reservation_id, []).append((line, key))
    return found


async def cells_of(session: AsyncSession, reservation_id: int) -> list[tuple[int, date]]:
    query = select(ReservationLineRow.resource_id, ReservationLineRow.week_start).where(
        ReservationLineRow.reservation_id == reservation_id
    )
    return [(row[0], row[1]) for row in await session.execute(query)]


async def list_page(
    session: AsyncSession, state: str | None, campaign: str | None, after_id: int | None, limit: int
) -> list[tuple[ReservationRow, bool]]:
    query = select(ReservationRow, _LAPSED)
    if state == "held":
        query = query.where(ReservationRow.state == "held", ~_LAPSED)
    elif state == "expired":
        query = query.where((ReservationRow.state == "expired") | _LAPSED)
    elif state is not None:
        query = query.where(ReservationRow.state == state)
    if campaign is not None:
        query = query.where(ReservationRow.campaign == campaign)
    if after_id is not None:
        query = query.where(ReservationRow.id > after_id)
    rows = await session.execute(query.order_by(ReservationRow.id).limit(limit + 1))
    return [(row[0], row[1]) for row in rows]


async def change_state(
    session: AsyncSession, reservation_id: int, from_states: tuple[str, ...], to_state: str, **values: Any
) -> ReservationRow | None:
    """Move the reservation on; None when it is in none of `from_states` (a hold counts only unexpired)."""
    statement = (
        update(ReservationRow)
        .where(ReservationRow.id == reservation_id, ReservationRow.state.in_(from_states), ~_LAPSED)
        .values(state=to_state, updated_at=text("statement_timestamp()"), **values)
        .returning(ReservationRow)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def expire_holds(session: AsyncSession) -> int:
    """Mark the holds past their expiry expired; rows another transaction holds are left for the next sweep."""
    result = await session.execute(
        SQL("""
            UPDATE {schema}.reservations SET state = 'expired', updated_at = statement_timestamp()
            WHERE id IN (SELECT id FROM {schema}.reservations
                         WHERE state = 'held' AND expires_at <= statement_timestamp()
                         FOR UPDATE SKIP LOCKED)""")
        .format(schema=_SCHEMA)
        .clause
    )
    return result.rowcount  # type: ignore[attr-defined]
