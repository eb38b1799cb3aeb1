"""All SQL of the orders."""

from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.facts import CustomerFactTable
from segmentation.orders.models import OrderRow
from segmentation.orders.schemas import OrderFilters

facts = CustomerFactTable(OrderRow)


async def list_page(session: AsyncSession, filters: OrderFilters, after_id: int | None, limit: int) -> list[Row[Any]]:
    query = facts.select()
    if filters.status is not None:
        query = query.where(OrderRow.status == filters.status)
    if filters.ordered_from is not None:
        query = query.where(OrderRow.ordered_at >= filters.ordered_from)
    if filters.ordered_before is not None:
        query = query.where(OrderRow.ordered_at < filters.ordered_before)
    return await facts.page(session, query, filters.customer_external_id, after_id, limit)
