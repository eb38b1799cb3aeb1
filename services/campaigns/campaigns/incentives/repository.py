"""All SQL of the incentive catalogue."""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from campaigns.incentives.models import IncentiveRow


async def get_by_key(session: AsyncSession, key: str) -> IncentiveRow | None:
    return await session.scalar(select(IncentiveRow).where(IncentiveRow.key == key))


async def by_keys(session: AsyncSession, keys: Iterable[str]) -> dict[str, IncentiveRow]:
    rows = await session.scalars(select(IncentiveRow).where(IncentiveRow.key.in_(set(keys))))
    return {row.key: row for row in rows}


async def lock_offers(session: AsyncSession, offers: Iterable[str]) -> None:
    """Changes to the incentives of one offer happen one after another (the loyalty rule compares them)."""
    for offer in sorted(set(offers)):
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('campaigns.offer:' || :o))"), {"o": offer})


async def active_of_offer(session: AsyncSession, offer: str) -> list[IncentiveRow]:
    query = select(IncentiveRow).where(IncentiveRow.offer == offer, IncentiveRow.active).order_by(IncentiveRow.key)
    return list(await session.scalars(query.execution_options(populate_existing=True)))


async def upsert(session: AsyncSession, key: str, values: dict[str, Any]) -> tuple[IncentiveRow, bool]:
    """Create or replace the incentive with `key`; True when it was created."""
    statement = (
        insert(IncentiveRow)
        .values(key=key, **values)
        .on_conflict_do_update(index_elements=[IncentiveRow.key], set_={**values, "updated_at": func.now()})
        .returning(IncentiveRow, literal_column("xmax = 0"))
        .execution_options(populate_existing=True)
    )
    row, created = (await session.execute(statement)).one()
    return row, created


async def list_page(
    session: AsyncSession, after_id: int | None, limit: int, active: bool | None, offer: str | None
) -> list[IncentiveRow]:
    query = select(IncentiveRow)
    if active is not None:
        query = query.where(IncentiveRow.active == active)
    if offer is not None:
        query = query.where(IncentiveRow.offer == offer)
    if after_id is not None:
        query = query.where(IncentiveRow.id > after_id)
    return list(await session.scalars(query.order_by(IncentiveRow.id).limit(limit + 1)))
