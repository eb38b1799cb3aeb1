"""All SQL of the campaigns domain."""

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaigns.campaigns.models import CampaignRow
from campaigns.campaigns.schemas import CampaignFilters


async def get(session: AsyncSession, campaign_id: int) -> CampaignRow | None:
    return await session.get(CampaignRow, campaign_id)


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
