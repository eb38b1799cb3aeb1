"""All SQL of the campaigns domain: campaigns, their history of states."""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from campaigns.campaigns.models import CampaignEventRow, CampaignRow
from campaigns.campaigns.schemas import CampaignFilters


async def get(session: AsyncSession, campaign_id: int, *, lock: bool = False) -> CampaignRow | None:
    """The campaign; with `lock`, its row locked until the transaction ends (changes happen one at a time)."""
    query = select(CampaignRow).where(CampaignRow.id == campaign_id).execution_options(populate_existing=True)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def claim(session: AsyncSession, values: dict[str, Any]) -> CampaignRow | None:
    """A new campaign; None when its idempotency key is taken (after waiting for the request that took it)."""
    statement = insert(CampaignRow).values(**values).on_conflict_do_nothing().returning(CampaignRow)
    return (await session.execute(statement)).scalar_one_or_none()


async def by_key(session: AsyncSession, scope: str, idempotency_key: str) -> CampaignRow | None:
    return await session.scalar(
        select(CampaignRow).where(
            CampaignRow.idempotency_scope == scope, CampaignRow.idempotency_key == idempotency_key
        )
    )


async def update_fields(session: AsyncSession, campaign_id: int, values: dict[str, Any]) -> CampaignRow:
    statement = (
        update(CampaignRow)
        .where(CampaignRow.id == campaign_id)
        .values(**values, updated_at=func.statement_timestamp())
        .returning(CampaignRow)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(statement)).scalar_one()


async def add_event(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(CampaignEventRow).values(**values))


async def events_of(session: AsyncSession, campaign_ids: Iterable[int]) -> dict[int, list[CampaignEventRow]]:
    query = (
        select(CampaignEventRow)
        .where(CampaignEventRow.campaign_id.in_(set(campaign_ids)))
        .order_by(CampaignEventRow.campaign_id, CampaignEventRow.id)
    )
    found: dict[int, list[CampaignEventRow]] = {}
    for row in await session.scalars(query):
        found.setdefault(row.campaign_id, []).append(row)
    return found


def _filtered(filters: CampaignFilters) -> Select[tuple[CampaignRow]]:
    query = select(CampaignRow)
    if filters.state is not None:
        query = query.where(CampaignRow.state == filters.state)
    if filters.kind is not None:
        query = query.where(CampaignRow.kind == filters.kind)
    return query


async def list_page(
    session: AsyncSession, filters: CampaignFilters, after_id: int | None, limit: int
) -> list[CampaignRow]:
    """Up to limit + 1 rows in id order after `after_id` (the extra row says there is a next page)."""
    query = _filtered(filters)
    if after_id is not None:
        query = query.where(CampaignRow.id > after_id)
    return list(await session.scalars(query.order_by(CampaignRow.id).limit(limit + 1)))


async def count_by_state(session: AsyncSession | AsyncConnection) -> dict[str, int]:
    rows = await session.execute(select(CampaignRow.state, func.count()).group_by(CampaignRow.state))
    return {state: int(count) for state, count in rows}
