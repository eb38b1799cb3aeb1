"""Each customer's profile (his facts and every classification with the figures behind it), pages of them, the
history of his classes; his classification as of any day, and as a back-dated run found it."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from segmentation.classification import compute, daycuts, repository
from segmentation.classification.bases import Basis, NotCached, bases
from segmentation.classification.compute import HISTORY_ATTRIBUTES, CutPoints
from segmentation.classification.errors import RunNotFound
from segmentation.classification.schemas import Change, CutPointsFrom, Profile, ProfileFilters
from segmentation.classification.views import classifications, present
from segmentation.company.repository import load_thresholds
from segmentation.company.schemas import Thresholds
from segmentation.company.service import today
from segmentation.customers.errors import CustomerNotFound
from segmentation.customers.service import to_schema as customer_schema
from segmentation.predictive import service as predictive
from segmentation.predictive.scoring import ScoringModel
from servicekit.db import ReadPool
from servicekit.errors import BadRequest, NotFound, Unprocessable
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


async def get_profile_as_of(sessions: async_sessionmaker[AsyncSession], external_id: str, as_of: date) -> Profile:
    """The customer classified as of `as_of` (not after today), stored nowhere: what depends on him alone from
    his facts; what depends on the whole base from the cut points of that day, a run's (with its thresholds
    and model) or, without one, those kept for the day and the current thresholds and model, computed first
    if the facts changed since or nobody asked before. Read-only transactions, one connection at a time."""
    async with sessions() as session, session.begin():
        await session.execute(_READ_ONLY)
        customer = await repository.customer_by_external_id(session, external_id)
        if customer is None:
            raise CustomerNotFound(external_id)
        current = await load_thresholds(session)
        if as_of > (until := today(current)):
            raise Unprocessable(
                f"as_of {as_of} is after today ({until} in {current.time_zone}): the facts of days to come are not "
                "known yet.",
                field=["query", "as_of"],
            )
        run = await repository.run_as_of(session, as_of)
        kept: daycuts.Kept | None = None
        if run is not None and run.cut_points is not None:
            t, model = Thresholds.stored(run.thresholds), ScoringModel.from_json(run.model)
            cut = CutPoints.from_json(run.cut_points)
            source = CutPointsFrom(source="run", as_of=as_of, run_id=run.id, computed_at=None)
        else:
            t, fit = current, await predictive.newest_model(session)
            model = ScoringModel.of(fit, t) if fit else None
            kept = await daycuts.find(session, as_of, daycuts.basis_key(t, model))
    if run is None or run.cut_points is None:
        if kept is None:  # computed in a transaction of its own, with this one's connection back in the pool
            kept = await daycuts.keep(sessions, as_of, t, model)
        cut = kept.cut
        source = CutPointsFrom(source="computed", as_of=as_of, run_id=None, computed_at=kept.computed_at)
    async with sessions() as session, session.begin():
        await session.execute(_READ_ONLY)
        row = SimpleNamespace(**await compute.classify_one(session, customer.id, as_of, t, cut, model))
        shown = (await present(session, [(row, as_of, Basis(t, cut, model))]))[0]
    return Profile(customer=customer_schema(customer), classification=shown, cut_points_from=source)


_READ_ONLY = text("SET TRANSACTION READ ONLY")  # a read as of a day changes nothing stored


async def run_profiles(
    session: AsyncSession, run_id: uuid.UUID, external_id: str | None, cursor: str | None, limit: int
) -> Page[Profile]:
    """Customers as a back-dated run classified them: one (`external_id`) or a page, in customer id order."""
    run = await repository.get_run(session, run_id)
    if run is None:
        raise RunNotFound(run_id)
    if not run.back_dated or run.status != "succeeded":
        raise NotFound(
            f"Run {run_id} keeps no classifications of its own: only a back-dated run that succeeded does. A run "
            "that was not back-dated wrote the current classifications (the customers' profiles)."
        )
    position = decode_cursor(cursor, ("id",))
    if position is not None and not isinstance(position["id"], int):
        raise BadRequest("The cursor is malformed; use the next_cursor of a previous page.")
    after = position["id"] if position else None
    rows = await repository.past_classifications(session, run_id, external_id, after, limit + 1)
    if external_id is not None and not rows:
        if await repository.customer_by_external_id(session, external_id) is None:
            raise CustomerNotFound(external_id)
        raise NotFound(
            f"Run {run_id} keeps no classification of customer {external_id} (no longer kept, or he was "
            "not a customer yet)."
        )
    found = await bases(session, {row.basis_id for _, row in rows[:limit] if row.basis_id})
    shown = await present(session, [(row, row.as_of, found[row.basis_id]) for _, row in rows[:limit]])
    items = [Profile(customer=customer_schema(c), classification=k) for (c, _), k in zip(rows, shown, strict=False)]
    next_cursor = encode_cursor({"id": rows[limit - 1][0].id}) if len(rows) > limit else None
    return Page[Profile](items=items, next_cursor=next_cursor)


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
        Change(
            attribute=attribute,
            from_value=None,
            changed_on=current.classified_on,
            run_id=None,
            to_value=started_from[attribute] if attribute in started_from else getattr(current, attribute),
        )
        for attribute in HISTORY_ATTRIBUTES
        if attribute not in recorded_first
    ]
    return [c for c in first if c.to_value is not None] + changes
