"""All SQL of the invoices."""

from typing import Any

from sqlalchemy import Row, Select, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.customers.models import CustomerRow
from segmentation.invoices.models import InvoiceRow
from segmentation.invoices.schemas import InvoiceFilters

_UPSERT_COLUMNS = (
    "customer_id",
    "order_external_id",
    "issued_on",
    "due_on",
    "paid_on",
    "amount",
    "currency",
    "dunning_level",
)


def _with_customer() -> Select[Any]:
    """Invoices as the API shows them: every column, and the customer's external id instead of ours."""
    columns = [c for c in InvoiceRow.__table__.columns if c.name != "customer_id"]
    return select(*columns, CustomerRow.external_id.label("customer_external_id")).join(
        CustomerRow, CustomerRow.id == InvoiceRow.customer_id
    )


async def upsert(session: AsyncSession, external_id: str, values: dict[str, Any]) -> tuple[int, bool]:
    """Insert or replace by external id; returns the invoice's id and whether it was new."""
    statement = insert(InvoiceRow).values(external_id=external_id, **values)
    statement = statement.on_conflict_do_update(
        index_elements=[InvoiceRow.external_id],
        set_={**{c: statement.excluded[c] for c in _UPSERT_COLUMNS}, "updated_at": literal_column("now()")},
    ).returning(InvoiceRow.id, literal_column("xmax = 0").label("inserted"))
    row = (await session.execute(statement)).one()
    return row[0], bool(row[1])


async def get_by_external_id(session: AsyncSession, external_id: str) -> Row[Any] | None:
    return (await session.execute(_with_customer().where(InvoiceRow.external_id == external_id))).one_or_none()


async def list_page(session: AsyncSession, filters: InvoiceFilters, after_id: int | None, limit: int) -> list[Row[Any]]:
    query = _with_customer()
    if filters.customer_external_id is not None:
        query = query.where(CustomerRow.external_id == filters.customer_external_id)
    if filters.open is not None:
        query = query.where(InvoiceRow.paid_on.is_(None) if filters.open else InvoiceRow.paid_on.is_not(None))
    if filters.overdue_on is not None:
        query = query.where(InvoiceRow.paid_on.is_(None), InvoiceRow.due_on < filters.overdue_on)
    if after_id is not None:
        query = query.where(InvoiceRow.id > after_id)
    return list((await session.execute(query.order_by(InvoiceRow.id).limit(limit + 1))).all())
