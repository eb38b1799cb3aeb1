"""All SQL of resources, their loads per ABC class, and their capacity exceptions."""

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from capacity.resources.models import CapacityExceptionRow, GroupLoadRow, ResourceRow


async def get_by_key(session: AsyncSession, key: str) -> ResourceRow | None:
    return await session.scalar(select(ResourceRow).where(ResourceRow.key == key))


async def ids_by_key(session: AsyncSession, keys: Iterable[str]) -> dict[str, int]:
    """The ids of those of `keys` that name a resource."""
    rows = await session.execute(select(ResourceRow.key, ResourceRow.id).where(ResourceRow.key.in_(set(keys))))
    return {key: resource_id for key, resource_id in rows}


async def list_page(session: AsyncSession, after_id: int | None, limit: int) -> list[ResourceRow]:
    """Up to limit + 1 rows in id order after `after_id` (the extra row says there is a next page)."""
    query = select(ResourceRow)
    if after_id is not None:
        query = query.where(ResourceRow.id > after_id)
    return list(await session.scalars(query.order_by(ResourceRow.id).limit(limit + 1)))


async def upsert(session: AsyncSession, key: str, values: dict[str, Any]) -> tuple[ResourceRow, bool]:
    """Create or replace the resource with `key`; True when it was created."""
    statement = (
        insert(ResourceRow)
        .values(key=key, **values)
        .on_conflict_do_update(index_elements=[ResourceRow.key], set_={**values, "updated_at": literal_column("now()")})
        .returning(ResourceRow, literal_column("xmax = 0"))  # xmax 0: no older version, so inserted
        .execution_options(populate_existing=True)
    )
    row, created = (await session.execute(statement)).one()
    return row, created


async def replace_group_loads(session: AsyncSession, resource_id: int, loads: dict[str, Decimal]) -> None:
    await session.execute(delete(GroupLoadRow).where(GroupLoadRow.resource_id == resource_id))
    if loads:
        rows = [{"resource_id": resource_id, "abc_class": abc, "load_per_order": load} for abc, load in loads.items()]
        await session.execute(insert(GroupLoadRow), rows)


async def group_loads(session: AsyncSession, resource_ids: Iterable[int]) -> dict[int, dict[str, Decimal]]:
    rows = await session.scalars(select(GroupLoadRow).where(GroupLoadRow.resource_id.in_(set(resource_ids))))
    found: dict[int, dict[str, Decimal]] = {}
    for row in rows:
        found.setdefault(row.resource_id, {})[row.abc_class] = row.load_per_order
    return found


# --- capacity exceptions --------------------------------------------------------------------------


async def create_exception(session: AsyncSession, values: dict[str, Any]) -> CapacityExceptionRow | None:
    """A new exception; None when its idempotency key is taken."""
    statement = insert(CapacityExceptionRow).values(**values).on_conflict_do_nothing().returning(CapacityExceptionRow)
    return (await session.execute(statement)).scalar_one_or_none()


async def exception_by_key(session: AsyncSession, scope: str, idempotency_key: str) -> CapacityExceptionRow | None:
    return await session.scalar(
        select(CapacityExceptionRow).where(
            CapacityExceptionRow.idempotency_scope == scope, CapacityExceptionRow.idempotency_key == idempotency_key
        )
    )


async def get_exception(session: AsyncSession, exception_id: int) -> tuple[CapacityExceptionRow, str] | None:
    query = (
        select(CapacityExceptionRow, ResourceRow.key)
        .join(ResourceRow, ResourceRow.id == CapacityExceptionRow.resource_id)
        .where(CapacityExceptionRow.id == exception_id)
    )
    row = (await session.execute(query)).one_or_none()
    return (row[0], row[1]) if row else None


async def list_exceptions(
    session: AsyncSession, resource_id: int | None, after_id: int | None, limit: int
) -> list[tuple[CapacityExceptionRow, str]]:
    query = select(CapacityExceptionRow, ResourceRow.key).join(
        ResourceRow, ResourceRow.id == CapacityExceptionRow.resource_id
    )
    if resource_id is not None:
        query = query.where(CapacityExceptionRow.resource_id == resource_id)
    if after_id is not None:
        query = query.where(CapacityExceptionRow.id > after_id)
    rows = await session.execute(query.order_by(CapacityExceptionRow.id).limit(limit + 1))
    return [(row[0], row[1]) for row in rows]


async def delete_exception(session: AsyncSession, exception_id: int) -> bool:
    result = await session.execute(delete(CapacityExceptionRow).where(CapacityExceptionRow.id == exception_id))
    return result.rowcount == 1  # type: ignore[attr-defined]
