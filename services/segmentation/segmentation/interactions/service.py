"""Interactions: upserted by the ERP's id, always belonging to a known (or auto-created) customer."""

from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.company.repository import load_thresholds
from segmentation.facts import upsert_fact
from segmentation.interactions import repository
from segmentation.interactions.errors import InteractionNotFound
from segmentation.interactions.schemas import Interaction, InteractionFilters, InteractionUpsert
from segmentation.types import is_day, start_of_day
from servicekit.errors import Unprocessable
from servicekit.pagination import Page, decode_id_cursor, id_page


def to_schema(row: Row[Any]) -> Interaction:
    return Interaction.model_validate(row._mapping)


async def upsert_interaction(
    session: AsyncSession, external_id: str, data: InteractionUpsert, *, create_missing_customer: bool
) -> tuple[Interaction, bool]:
    if is_day(data.occurred_at) or is_day(data.resolved_at):
        zone = (await load_thresholds(session)).zone
        data = data.model_copy(
            update={"occurred_at": start_of_day(data.occurred_at, zone),
                    "resolved_at": data.resolved_at and start_of_day(data.resolved_at, zone)}
        )  # fmt: skip
    if data.resolved_at is not None and data.resolved_at < data.occurred_at:
        occurred, resolved = data.occurred_at.isoformat(), data.resolved_at.isoformat()
        raise Unprocessable(f"resolved_at {resolved} is before occurred_at {occurred}", field=["body", "resolved_at"])
    created = await upsert_fact(
        session, repository.facts, external_id, data, create_missing_customer=create_missing_customer
    )
    return await get_interaction(session, external_id), created


async def get_interaction(session: AsyncSession, external_id: str) -> Interaction:
    found = await repository.facts.get(session, external_id)
    if found is None:
        raise InteractionNotFound(external_id)
    return to_schema(found)


async def list_interactions(
    session: AsyncSession, filters: InteractionFilters, cursor: str | None, limit: int
) -> Page[Interaction]:
    rows = await repository.list_page(session, filters, decode_id_cursor(cursor), limit)
    return id_page(rows, limit, to_schema)
