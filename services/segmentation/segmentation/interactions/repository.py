"""All SQL of the interactions."""

from typing import Any

from sqlalchemy import Row, and_, not_
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.facts import CustomerFactTable
from segmentation.interactions.models import InteractionRow
from segmentation.interactions.schemas import InteractionFilters

facts = CustomerFactTable(InteractionRow)

_OPEN_COMPLAINT = and_(InteractionRow.kind == "complaint", InteractionRow.resolved_at.is_(None))


async def list_page(
    session: AsyncSession, filters: InteractionFilters, after_id: int | None, limit: int
) -> list[Row[Any]]:
    query = facts.select()
    if filters.kind is not None:
        query = query.where(InteractionRow.kind == filters.kind)
    if filters.open_complaints is not None:
        query = query.where(_OPEN_COMPLAINT if filters.open_complaints else not_(_OPEN_COMPLAINT))
    if filters.occurred_from is not None:
        query = query.where(InteractionRow.occurred_at >= filters.occurred_from)
    if filters.occurred_before is not None:
        query = query.where(InteractionRow.occurred_at < filters.occurred_before)
    return await facts.page(session, query, filters.customer_external_id, after_id, limit)
