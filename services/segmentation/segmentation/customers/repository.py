"""All SQL of the customers domain."""

from typing import Any

from sqlalchemy import Select, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.customers.models import CustomerRow
from segmentation.customers.schemas import CustomerFilters

_UPSERT_COLUMNS = (
    "name",
    "kind",
    "first_contact_on",
    "revenue_potential",
    "revenue_potential_currency",
    "key_account",
    "consent_email",
    "consent_phone",
    "consent_post",
    "attributes",
    "auto_created",
)


async def upsert(session: AsyncSession, external_id: str, values: dict[str, Any]) -> tuple[CustomerRow, bool]:
    """Insert or replace by external id in one statement; returns the row and whether it was new."""
    statement = insert(CustomerRow).values(external_id=external_id, **values)
    statement = statement.on_conflict_do_update(
        index_elements=[CustomerRow.external_id],
        set_={**{c: statement.excluded[c] for c in _UPSERT_COLUMNS}, "updated_at": literal_column("now()")},
    ).returning(CustomerRow, literal_column("xmax = 0").label("inserted"))
    row = (await session.execute(statement)).one()
    return row[0], bool(row[1])


async def get_by_external_id(session: AsyncSession, external_id: str) -> CustomerRow | None:
    return await session.scalar(select(CustomerRow).where(CustomerRow.external_id == external_id))


def _filtered(filters: CustomerFilters) -> Select[tuple[CustomerRow]]:
    query = select(CustomerRow)
    if filters.kind is not None:
        query = query.where(CustomerRow.kind == filters.kind)
    if filters.key_account is not None:
        query = query.where(CustomerRow.key_account == filters.key_account)
    if filters.updated_since is not None:
        query = query.where(CustomerRow.updated_at >= filters.updated_since)
    return query


async def list_page(
    session: AsyncSession, filters: CustomerFilters, after_id: int | None, limit: int
) -> list[CustomerRow]:
    """Up to limit + 1 rows in id order after `after_id` (the extra row says there is a next page)."""
    query = _filtered(filters)
    if after_id is not None:
        query = query.where(CustomerRow.id > after_id)
    return list(await session.scalars(query.order_by(CustomerRow.id).limit(limit + 1)))


async def id_for_external_id(session: AsyncSession, external_id: str, *, create_missing: bool) -> int | None:
    """The customer's id; with `create_missing`, an auto-created customer is made for an unknown id."""
    found = await session.scalar(select(CustomerRow.id).where(CustomerRow.external_id == external_id))
    if found is not None or not create_missing:
        return found
    statement = (
        insert(CustomerRow)
        .values(external_id=external_id, name=external_id, auto_created=True)
        .on_conflict_do_update(index_elements=[CustomerRow.external_id], set_={"external_id": external_id})
        .returning(CustomerRow.id)
    )
    return (await session.execute(statement)).scalar_one()
