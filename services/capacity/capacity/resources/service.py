"""Rules of the resources domain: mapping between the API shape and rows, paging."""

from sqlalchemy.ext.asyncio import AsyncSession

from capacity.resources import repository
from capacity.resources.errors import ResourceNotFound
from capacity.resources.models import ResourceRow
from capacity.resources.schemas import Resource
from servicekit.pagination import Page, decode_id_cursor, id_page


def to_schema(row: ResourceRow) -> Resource:
    return Resource.model_validate(row, from_attributes=True)


async def get_resource(session: AsyncSession, key: str) -> Resource:
    row = await repository.get_by_key(session, key)
    if row is None:
        raise ResourceNotFound(key)
    return to_schema(row)


async def list_resources(session: AsyncSession, cursor: str | None, limit: int) -> Page[Resource]:
    after_id = decode_id_cursor(cursor)
    rows = await repository.list_page(session, after_id, limit)
    return id_page(rows, limit, to_schema)
