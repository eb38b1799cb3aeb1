"""All SQL of the invoices."""

from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.facts import CustomerFactTable
from segmentation.invoices.models import InvoiceRow
from segmentation.invoices.schemas import InvoiceFilters

facts = CustomerFactTable(InvoiceRow)


async def list_page(session: AsyncSession, filters: InvoiceFilters, after_id: int | None, limit: int) -> list[Row[Any]]:
    query = facts.select()
    if filters.open is not None:
        query = query.where(InvoiceRow.paid_on.is_(None) if filters.open else InvoiceRow.paid_on.is_not(None))
    if filters.overdue_on is not None:
        query = query.where(InvoiceRow.paid_on.is_(None), InvoiceRow.due_on < filters.overdue_on)
    return await facts.page(session, query, filters.customer_external_id, after_id, limit)
