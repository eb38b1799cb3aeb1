"""Rules of resources: upserts with their loads per ABC class, and dated capacity exceptions."""

from collections.abc import Sequence
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from capacity.resources import repository
from capacity.resources.errors import CapacityExceptionNotFound, ResourceNotFound, UnknownResource
from capacity.resources.models import CapacityExceptionRow, ResourceRow
from capacity.resources.schemas import CapacityException, CapacityExceptionCreate, Resource, ResourcePut
from servicekit.clock import week_of
from servicekit.errors import Unprocessable
from servicekit.idempotency import IdempotencyKeyReused, fingerprint
from servicekit.pagination import Page, decode_id_cursor, encode_cursor, id_page


def to_schema(row: ResourceRow, loads: dict[str, object]) -> Resource:
    return Resource.model_validate(
        {**{c: getattr(row, c) for c in Resource.model_fields if hasattr(row, c)}, "load_per_order_by_abc": loads}
    )


async def get_resource(session: AsyncSession, key: str) -> Resource:
    row = await repository.get_by_key(session, key)
    if row is None:
        raise ResourceNotFound(key)
    loads = await repository.group_loads(session, [row.id])
    return to_schema(row, loads.get(row.id, {}))


async def list_resources(session: AsyncSession, cursor: str | None, limit: int) -> Page[Resource]:
    after_id = decode_id_cursor(cursor)
    rows = await repository.list_page(session, after_id, limit)
    loads = await repository.group_loads(session, [row.id for row in rows])
    return id_page(rows, limit, lambda row: to_schema(row, loads.get(row.id, {})))


async def put_resource(session: AsyncSession, key: str, body: ResourcePut) -> tuple[Resource, bool]:
    values = body.model_dump(exclude={"load_per_order_by_abc"})
    row, created = await repository.upsert(session, key, values)
    await repository.replace_group_loads(session, row.id, body.load_per_order_by_abc)
    loads = await repository.group_loads(session, [row.id])
    return to_schema(row, loads.get(row.id, {})), created


async def resource_id(session: AsyncSession, key: str, field: list[str | int]) -> int:
    """The id of the resource a body or filter names; a 422 naming the field when there is none."""
    found = await repository.ids_by_key(session, [key])
    if key not in found:
        raise UnknownResource(key, field)
    return found[key]


# --- capacity exceptions --------------------------------------------------------------------------


def exception_schema(row: CapacityExceptionRow, resource_key: str) -> CapacityException:
    return CapacityException(
        id=row.id,
        resource=resource_key,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        first_week=week_of(row.starts_on),
        last_week=week_of(row.ends_on),
        capacity=row.capacity,
        delta=row.delta,
        reason=row.reason,
        created_at=row.created_at,
    )


async def create_exception(
    session: AsyncSession,
    body: CapacityExceptionCreate,
    idempotency_key: str | None,
    this_week: date,
    *,
    idempotency_scope: str,
) -> tuple[CapacityException, bool]:
    """The new exception, or for a reused Idempotency-Key the one it created and True."""
    rid = await resource_id(session, body.resource, ["body", "resource"])
    if body.ends_on < this_week:
        raise Unprocessable(
            f"The exception ends before this week (which starts {this_week}).", field=["body", "ends_on"]
        )
    values = body.model_dump(exclude={"resource"}) | {
        "resource_id": rid,
        "idempotency_key": idempotency_key,
        "idempotency_scope": idempotency_scope,
        "request_fingerprint": fingerprint(body),
    }
    row = await repository.create_exception(session, values)
    if row is None:
        assert idempotency_key is not None
        earlier = await repository.exception_by_key(session, idempotency_scope, idempotency_key)
        if earlier is None:  # deleted meanwhile: the key is free again
            return await create_exception(
                session, body, idempotency_key, this_week, idempotency_scope=idempotency_scope
            )
        if earlier.request_fingerprint != values["request_fingerprint"]:
            raise IdempotencyKeyReused(idempotency_key)
        return exception_schema(earlier, body.resource), True
    return exception_schema(row, body.resource), False


async def get_exception(session: AsyncSession, exception_id: int) -> CapacityException:
    found = await repository.get_exception(session, exception_id)
    if found is None:
        raise CapacityExceptionNotFound(exception_id)
    return exception_schema(*found)


async def list_exceptions(
    session: AsyncSession, resource_key: str | None, cursor: str | None, limit: int
) -> Page[CapacityException]:
    rid = await resource_id(session, resource_key, ["query", "resource"]) if resource_key else None
    rows = await repository.list_exceptions(session, rid, decode_id_cursor(cursor), limit)
    return _page(rows, limit)


def _page(rows: Sequence[tuple[CapacityExceptionRow, str]], limit: int) -> Page[CapacityException]:
    next_cursor = encode_cursor({"id": rows[limit - 1][0].id}) if len(rows) > limit else None
    return Page[CapacityException](items=[exception_schema(*row) for row in rows[:limit]], next_cursor=next_cursor)


async def delete_exception(session: AsyncSession, exception_id: int) -> None:
    if not await repository.delete_exception(session, exception_id):
        raise CapacityExceptionNotFound(exception_id)
