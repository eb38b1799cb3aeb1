"""Each customer's profile (his facts and every classification with the figures behind it), pages of them, and
the history of his classes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from segmentation.classification import repository
from segmentation.classification.bases import NotCached
from segmentation.classification.compute import HISTORY_ATTRIBUTES
from segmentation.classification.schemas import Change, Profile, ProfileFilters
from segmentation.classification.views import classifications
from segmentation.customers.errors import CustomerNotFound
from segmentation.customers.service import to_schema as customer_schema
from servicekit.db import ReadPool
from servicekit.errors import BadRequest
from servicekit.pagination import Page, decode_cursor, encode_cursor


async def get_profile(session: AsyncSession, external_id: str) -> Profile:
    found = await repository.get_classification(session, external_id)
    if found is None:
        raise CustomerNotFound(external_id)
    customer, classification, latest_run_id = found
    shown = (await classifications(session, [classification], latest_run_id))[0]
    return Profile(customer=customer_schema(customer), classification=shown)


async def read_profile(pool: ReadPool, sessions: async_sessionmaker[AsyncSession], external_id: str) -> Profile:
    """get_profile, for the hottest read: one statement on the read pool, the run, basis and model terms from
    this process's caches; only when those miss something, the whole profile again through a session."""
    found = await repository.read_classification(pool, external_id)
    if found is None:
        raise CustomerNotFound(external_id)
    customer, classification, latest_run_id = found
    try:
        shown = (await classifications(None, [classification], latest_run_id))[0]
    except NotCached:
        async with sessions() as session:
            return await get_profile(session, external_id)
    return Profile(customer=customer_schema(customer), classification=shown)


def _sort_value(sort: str, value: str | None) -> Decimal | date | None:
    if sort == "-revenue_12m":
        return Decimal(str(value))
    return date.fromisoformat(str(value)) if sort == "-last_order_on" else None


async def list_profiles(
    session: AsyncSession, filters: ProfileFilters, sort: str, cursor: str | None, limit: int
) -> Page[Profile]:
    position = decode_cursor(cursor, ("id", "sort", "value"))
    after = None
    if position is not None:
        if position["sort"] != sort or not isinstance(position["id"], int):
            raise BadRequest("The cursor belongs to another sort order or is malformed; start without it.")
        try:
            after = (_sort_value(sort, position["value"]), position["id"])
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise BadRequest("The cursor is malformed; use the next_cursor of a previous page.") from exc
    rows = await repository.profiles_page(session, filters, sort, after, limit)
    shown = await classifications(session, [k for _, k in rows[:limit]], await repository.latest_run_id(session))
    items = [Profile(customer=customer_schema(c), classification=k) for (c, _), k in zip(rows, shown, strict=False)]
    next_cursor = None
    if len(rows) > limit:
        last_customer, last = rows[limit - 1]
        value = None
        if sort == "-revenue_12m":
            value = str(last.revenue_12m if last else 0)
        elif sort == "-last_order_on":
            value = (last.last_order_on if last and last.last_order_on else date(1, 1, 1)).isoformat()
        next_cursor = encode_cursor({"id": last_customer.id, "sort": sort, "value": value})
    return Page[Profile](items=items, next_cursor=next_cursor)


async def get_history(session: AsyncSession, external_id: str) -> list[Change]:
    """The recorded changes, after the customer's first classification (a change from nothing on the day he
    was first classified: only later changes are stored)."""
    found = await repository.get_classification(session, external_id)
    if found is None:
        raise CustomerNotFound(external_id)
    customer, current, _ = found
    changes = [Change.model_validate(row) for row in await repository.history(session, customer.id)]
    if current is None:
        return changes
    # Histories from before migration 0006_lean_classifications hold the first classification as rows from null on
    # its day.
    recorded_first = {c.attribute for c in changes if c.from_value is None and c.changed_on <= current.classified_on}
    started_from = await repository.first_changes(session, customer.id)
    first = [
        Change(attribute=attribute, from_value=None, changed_on=current.classified_on, run_id=None,
               to_value=started_from[attribute] if attribute in started_from else getattr(current, attribute))
        for attribute in HISTORY_ATTRIBUTES
        if attribute not in recorded_first
    ]  # fmt: skip
    return [c for c in first if c.to_value is not None] + changes
