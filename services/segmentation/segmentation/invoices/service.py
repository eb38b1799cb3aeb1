"""Invoices: upserted by the ERP's id, always belonging to a known (or auto-created) customer."""

from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.facts import upsert_fact
from segmentation.invoices import repository
from segmentation.invoices.errors import InvoiceNotFound
from segmentation.invoices.schemas import Invoice, InvoiceFilters, InvoiceUpsert
from servicekit.pagination import Page, decode_id_cursor, id_page


def to_schema(row: Row[Any]) -> Invoice:
    return Invoice.model_validate(row._mapping)


async def upsert_invoice(
    session: AsyncSession, external_id: str, data: InvoiceUpsert, *, create_missing_customer: bool
) -> tuple[Invoice, bool]:
    created = await upsert_fact(
        session, repository.facts, external_id, data, create_missing_customer=create_missing_customer
    )
    return await get_invoice(session, external_id), created


async def get_invoice(session: AsyncSession, external_id: str) -> Invoice:
    found = await repository.facts.get(session, external_id)
    if found is None:
        raise InvoiceNotFound(external_id)
    return to_schema(found)


async def list_invoices(
    session: AsyncSession, filters: InvoiceFilters, cursor: str | None, limit: int
) -> Page[Invoice]:
    rows = await repository.list_page(session, filters, decode_id_cursor(cursor), limit)
    return id_page(rows, limit, to_schema)
