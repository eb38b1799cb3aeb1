"""All SQL of the resources domain."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from capacity.resources.models import ResourceRow


async def get_by_key(session: AsyncSession, key: str) -> ResourceRow | None:
    return await session.scalar(select(ResourceRow).where(ResourceRow.key == key))


async def list_page(session: AsyncSession, after_id: int | None, limit: int) -> list[ResourceRow]:
    """Up to limit + 1 rows in id order after `after_id` (the extra row says there is a next page)."""
    query = select(ResourceRow)
    if after_id is not None:
        query = query.where(ResourceRow.id > after_id)
    return list(await session.scalars(query.order_by(ResourceRow.id).limit(limit + 1)))
