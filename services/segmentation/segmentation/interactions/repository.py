"""All SQL of the interactions."""

from typing import Any

from sqlalchemy import Row, Select, and_, literal_column, not_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.customers.models import CustomerRow
from segmentation.interactions.models import InteractionRow
from segmentation.interactions.schemas import InteractionFilters

_UPSERT_COLUMNS = ("customer_id", "kind", "channel", "occurred_at", "resolved_at", "subject")
_OPEN_COMPLAINT = and_(InteractionRow.kind == "complaint", InteractionRow.resolved_at.is_(None))


def _with_customer() -> Select[Any]:
    """Interactions as the API shows them: every column, and the customer's external id instead of ours."""
    columns = [c for c in InteractionRow.__table__.columns if c.name != "customer_id"]
    return select(*columns, CustomerRow.external_id.label("customer_external_id")).join(
        CustomerRow, CustomerRow.id == InteractionRow.customer_id
    )


async def upsert(session: AsyncSession, external_id: str, values: dict[str, Any]) -> tuple[int, bool]:
    """Insert or replace by external id; returns the interaction's id and whether it was new."""
    statement = insert(InteractionRow).values(external_id=external_id, **values)
    statement = statement.on_conflict_do_update(
        index_elements=[InteractionRow.external_id],
        set_={**{c: statement.excluded[c] for c in _UPSERT_COLUMNS}, "updated_at": literal_column("now()")},
    ).returning(InteractionRow.id, literal_column("xmax = 0").label("inserted"))
    row = (await session.execute(statement)).one()
    return row[0], bool(row[1])


async def get_by_external_id(session: AsyncSession, external_id: str) -> Row[Any] | None:
    return (await session.execute(_with_customer().where(InteractionRow.external_id == external_id))).one_or_none()


async def list_page(
    session: AsyncSession, filters: InteractionFilters, after_id: int | None, limit: int
) -> list[Row[Any]]:
    query = _with_customer()
    if filters.customer_external_id is not None:
        query = query.where(CustomerRow.external_id == filters.customer_external_id)
    if filters.kind is not None:
        query = query.where(InteractionRow.kind == filters.kind)
    if filters.open_complaints is not None:
        query = query.where(_OPEN_COMPLAINT if filters.open_complaints else not_(_OPEN_COMPLAINT))
    if filters.occurred_from is not None:
        query = query.where(InteractionRow.occurred_at >= filters.occurred_from)
    if filters.occurred_before is not None:
        query = query.where(InteractionRow.occurred_at < filters.occurred_before)
    if after_id is not None:
        query = query.where(InteractionRow.id > after_id)
    return list((await session.execute(query.order_by(InteractionRow.id).limit(limit + 1))).all())
