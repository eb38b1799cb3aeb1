"""All SQL of the orders."""

from typing import Any

from sqlalchemy import Row, Select, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.customers.models import CustomerRow
from segmentation.orders.models import OrderRow
from segmentation.orders.schemas import OrderFilters

_UPSERT_COLUMNS = ("customer_id", "ordered_at", "net_amount", "currency", "contribution_margin", "status")


def _with_customer() -> Select[Any]:
    """Orders as the API shows them: every column, and the customer's external id instead of ours."""
    columns = [c for c in OrderRow.__table__.columns if c.name != "customer_id"]
    return select(*columns, CustomerRow.external_id.label("customer_external_id")).join(
        CustomerRow, CustomerRow.id == OrderRow.customer_id
    )


async def upsert(session: AsyncSession, external_id: str, values: dict[str, Any]) -> tuple[int, bool]:
    """Insert or replace by external id; returns the order's id and whether it was new."""
    statement = insert(OrderRow).values(external_id=external_id, **values)
    statement = statement.on_conflict_do_update(
        index_elements=[OrderRow.external_id],
        set_={**{c: statement.excluded[c] for c in _UPSERT_COLUMNS}, "updated_at": literal_column("now()")},
    ).returning(OrderRow.id, literal_column("xmax = 0").label("inserted"))
    row = (await session.execute(statement)).one()
    return row[0], bool(row[1])


async def get_by_external_id(session: AsyncSession, external_id: str) -> Row[Any] | None:
    return (await session.execute(_with_customer().where(OrderRow.external_id == external_id))).one_or_none()


async def list_page(session: AsyncSession, filters: OrderFilters, after_id: int | None, limit: int) -> list[Row[Any]]:
    query = _with_customer()
    if filters.customer_external_id is not None:
        query = query.where(CustomerRow.external_id == filters.customer_external_id)
    if filters.status is not None:
        query = query.where(OrderRow.status == filters.status)
    if filters.ordered_from is not None:
        query = query.where(OrderRow.ordered_at >= filters.ordered_from)
    if filters.ordered_before is not None:
        query = query.where(OrderRow.ordered_at < filters.ordered_before)
    if after_id is not None:
        query = query.where(OrderRow.id > after_id)
    return list((await session.execute(query.order_by(OrderRow.id).limit(limit + 1))).all())
