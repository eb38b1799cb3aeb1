"""The reads and bookkeeping of classifications: runs, profiles, history, reports.

The classifying SQL itself is in compute.py.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, and_, bindparam, exists, extract, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from segmentation.classification.models import (
    BasisRow,
    ClassificationChangeRow,
    ClassificationRow,
    PastClassificationRow,
    RunRow,
)
from segmentation.classification.schemas import ProfileFilters
from segmentation.company.schemas import Thresholds
from segmentation.customers.models import CustomerRow
from segmentation.db import SCHEMA
from segmentation.interactions.models import InteractionRow
from segmentation.orders.models import OrderRow
from servicekit.db import ReadPool, ReadStatement
from servicekit.sql import SQL, ident


async def create_run(session: AsyncSession, as_of: date, thresholds: Thresholds) -> RunRow:
    row = RunRow(as_of=as_of, thresholds=thresholds.model_dump(mode="json"))
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> RunRow | None:
    return await session.get(RunRow, run_id)


async def latest_succeeded_run(session: AsyncSession) -> RunRow | None:
    return await session.scalar(select(RunRow).where(RunRow.id == _latest_run_id().scalar_subquery()))


async def run_as_of(session: AsyncSession, as_of: date) -> RunRow | None:
    """The newest succeeded run as of `as_of`, back-dated or not."""
    query = (
        select(RunRow)
        .where(RunRow.status == "succeeded", RunRow.as_of == as_of)
        .order_by(RunRow.finished_at.desc())
        .limit(1)
    )
    return await session.scalar(query)


async def past_classifications(
    session: AsyncSession, run_id: uuid.UUID, external_id: str | None, after_id: int | None, limit: int
) -> list[tuple[CustomerRow, PastClassificationRow]]:
    """A back-dated run's classifications with their customers: of one customer, or up to `limit` in customer
    id order after `after_id`."""
    query = (
        select(CustomerRow, PastClassificationRow)
        .join(PastClassificationRow, PastClassificationRow.customer_id == CustomerRow.id)
        .where(PastClassificationRow.run_id == run_id)
    )
    if external_id is not None:
        query = query.where(CustomerRow.external_id == external_id)
    if after_id is not None:
        query = query.where(CustomerRow.id > after_id)
    return [(row[0], row[1]) for row in await session.execute(query.order_by(CustomerRow.id).limit(limit))]


async def customer_by_external_id(session: AsyncSession, external_id: str) -> CustomerRow | None:
    return await session.scalar(select(CustomerRow).where(CustomerRow.external_id == external_id))


async def list_runs(session: AsyncSession, limit: int) -> list[RunRow]:
    return list(await session.scalars(select(RunRow).order_by(RunRow.started_at.desc()).limit(limit)))


async def set_progress(session: AsyncSession, run_id: uuid.UUID, phase: str, progress: int) -> None:
    await session.execute(update(RunRow).where(RunRow.id == run_id).values(phase=phase, progress=progress))


async def finish_run(session: AsyncSession, run_id: uuid.UUID, **values: Any) -> None:
    await session.execute(
        update(RunRow).where(RunRow.id == run_id).values(finished_at=text("clock_timestamp()"), **values)
    )


async def history(session: AsyncSession, customer_id: int) -> list[ClassificationChangeRow]:
    query = (
        select(ClassificationChangeRow)
        .where(ClassificationChangeRow.customer_id == customer_id)
        .order_by(ClassificationChangeRow.changed_on, ClassificationChangeRow.id)
    )
    return list(await session.scalars(query))


_CHANGES = ident(SCHEMA, "classification_changes")
_FIRST_CHANGES = SQL("""
    SELECT DISTINCT ON (attribute) attribute, from_value FROM {changes}
    WHERE customer_id = :customer_id ORDER BY attribute, changed_on, id""").format(changes=_CHANGES)


async def first_changes(session: AsyncSession, customer_id: int) -> dict[str, str | None]:
    """Per attribute, the state before the customer's first recorded change of it."""
    result = await session.execute(_FIRST_CHANGES.clause, {"customer_id": customer_id})
    return {row[0]: row[1] for row in result}


# The days flows compare, each bound by its name: the names of its CTEs (_state_on), and the parameter.
_FLOW_DAYS = {"from_date": SQL(":from_date"), "to_date": SQL(":to_date")}


def _state_on(attribute: str, day: str) -> tuple[SQL, SQL, SQL]:
    """(CTEs, their joins, expression): each classified customer's `attribute` on the day `day` (a key of
    _FLOW_DAYS), null before his first classification. Only changes are recorded: before the first change the
    state is what that change started from, and without any change it is the current one."""
    last, next_ = ident(f"last_{day}"), ident(f"next_{day}")
    ctes = SQL("""
        {last} AS (SELECT DISTINCT ON (customer_id) customer_id, to_value FROM {changes} WHERE attribute = {attribute}
            AND changed_on <= {day} ORDER BY customer_id, changed_on DESC, id DESC),
        {next} AS (SELECT DISTINCT ON (customer_id) customer_id, from_value FROM {changes} WHERE attribute = {attribute}
            AND changed_on > {day} ORDER BY customer_id, changed_on, id)""").format(
        last=last, next=next_, changes=_CHANGES, attribute=attribute, day=_FLOW_DAYS[day]
    )
    joins = SQL("LEFT JOIN {last} USING (customer_id) LEFT JOIN {next} USING (customer_id)").format(
        last=last, next=next_
    )
    state = SQL("""CASE WHEN {last}.customer_id IS NOT NULL THEN {last}.to_value
                     WHEN c.classified_on > {day} THEN NULL
                     WHEN {next}.customer_id IS NOT NULL THEN {next}.from_value
                     ELSE c.{column}::text END""").format(
        last=last, next=next_, day=_FLOW_DAYS[day], column=ident(attribute)
    )
    return ctes, joins, state


async def flows(
    session: AsyncSession, attribute: str, from_date: date, to_date: date
) -> list[tuple[str | None, str | None, int]]:
    """Per pair of states: customers in the first on `from_date` and in the second on `to_date`."""
    assert attribute in ("lifecycle", "z_stage", "abc", "quadrant")
    from_ctes, from_joins, from_state = _state_on(attribute, "from_date")
    to_ctes, to_joins, to_state = _state_on(attribute, "to_date")
    statement = SQL("""
        WITH {from_ctes}, {to_ctes}
        SELECT from_state, to_state, count(*) FROM (
            SELECT {from_state} AS from_state, {to_state} AS to_state
            FROM {classifications} c {from_joins} {to_joins}) s
        WHERE from_state IS DISTINCT FROM to_state
        GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2""").format(
        from_ctes=from_ctes,
        to_ctes=to_ctes,
        from_state=from_state,
        to_state=to_state,
        classifications=ident(SCHEMA, "classifications"),
        from_joins=from_joins,
        to_joins=to_joins,
    )
    result = await session.execute(statement.clause, {"from_date": from_date, "to_date": to_date})
    return [(row[0], row[1], int(row[2])) for row in result]


SUMMARY_ATTRIBUTES = ("lifecycle", "z_stage", "abc", "quadrant", "payment", "phase")


async def summary(session: AsyncSession) -> list[tuple[str | None, str | None, int, Decimal, date | None]]:
    """(attribute, state, customers, revenue, newest as_of) per state of each attribute, and one total row."""
    grouping = SQL(", ").join(SQL("({})").format(ident(a)) for a in SUMMARY_ATTRIBUTES)
    which = SQL(" ").join(SQL("WHEN GROUPING({}) = 0 THEN {}").format(ident(a), a) for a in SUMMARY_ATTRIBUTES)
    state = SQL(" ").join(SQL("WHEN GROUPING({0}) = 0 THEN {0}::text").format(ident(a)) for a in SUMMARY_ATTRIBUTES)
    statement = SQL("""
        SELECT CASE {which} END, CASE {state} END, count(*), coalesce(sum(revenue_12m), 0),
               greatest(max(as_of), (SELECT as_of FROM {runs} WHERE status = 'succeeded' AND NOT back_dated
                                     ORDER BY finished_at DESC LIMIT 1))
        FROM {classifications} GROUP BY GROUPING SETS ({grouping}, ())""").format(
        which=which,
        state=state,
        grouping=grouping,
        runs=ident(SCHEMA, "runs"),
        classifications=ident(SCHEMA, "classifications"),
    )
    result = await session.execute(statement.clause)
    return [(r[0], r[1], int(r[2]), r[3], r[4]) for r in result]


_SORT_KEYS = {
    "-revenue_12m": func.coalesce(ClassificationRow.revenue_12m, 0),
    "-last_order_on": func.coalesce(ClassificationRow.last_order_on, date(1, 1, 1)),
}


def _matching(filters: ProfileFilters, query: Select[Any]) -> Select[Any]:
    """`query` (over customers left-joined to their classification) narrowed to the filters."""
    for attribute in ("lifecycle", "z_stage", "abc", "quadrant", "payment", "phase"):
        wanted = getattr(filters, attribute)
        if wanted:
            query = query.where(getattr(ClassificationRow, attribute).in_(wanted))
    if filters.key_account is not None:  # the classification's flag; the ERP's until the first run
        query = query.where(
            func.coalesce(ClassificationRow.key_account, CustomerRow.key_account) == filters.key_account
        )
    if filters.min_revenue_12m is not None:
        query = query.where(ClassificationRow.revenue_12m >= filters.min_revenue_12m)
    if filters.max_revenue_12m is not None:
        query = query.where(ClassificationRow.revenue_12m <= filters.max_revenue_12m)
    if filters.last_order_from is not None:
        query = query.where(ClassificationRow.last_order_on >= filters.last_order_from)
    if filters.last_order_before is not None:
        query = query.where(ClassificationRow.last_order_on < filters.last_order_before)
    for channel in filters.consent:
        query = query.where(getattr(CustomerRow, f"consent_{channel}").is_(True))
    return query


def _customers_with_classification(*columns: Any) -> Select[Any]:
    return (
        select(*columns)
        .select_from(CustomerRow)
        .outerjoin(ClassificationRow, ClassificationRow.customer_id == CustomerRow.id)
    )


async def profiles_page(
    session: AsyncSession, filters: ProfileFilters, sort: str, after: tuple[Any, int] | None, limit: int
) -> list[tuple[CustomerRow, ClassificationRow | None]]:
    """Up to limit + 1 customers with their classification, filtered, in `sort` order after `after`."""
    query = _matching(filters, _customers_with_classification(CustomerRow, ClassificationRow))
    key = _SORT_KEYS.get(sort)
    if key is None:
        if after is not None:
            query = query.where(CustomerRow.id > after[1])
        query = query.order_by(CustomerRow.id)
    else:
        if after is not None:
            query = query.where(or_(key < after[0], and_(key == after[0], CustomerRow.id > after[1])))
        query = query.order_by(key.desc(), CustomerRow.id)
    return [(row[0], row[1]) for row in await session.execute(query.limit(limit + 1))]


_OPEN_COMPLAINT = (
    exists()
    .where(
        InteractionRow.customer_id == CustomerRow.id,
        InteractionRow.kind == "complaint",
        InteractionRow.resolved_at.is_(None),
    )
    .label("open_complaint")
)


# Read with each audience member to compute his predictions, and not passed on as they are.
PREDICTION_INPUTS = ("customer_id", "purchase_days", "repeat_spend", "first_order_on", "as_of", "computed_at")


def audience_query(filters: ProfileFilters) -> Select[Any]:
    """What campaigns need of each member: ids, consent, every classification, value figures, open complaints,
    and the PREDICTION_INPUTS."""
    return _matching(
        filters,
        _customers_with_classification(
            CustomerRow.id.label("customer_id"),
            ClassificationRow.purchase_days,
            ClassificationRow.repeat_spend,
            ClassificationRow.first_order_on,
            ClassificationRow.as_of,
            ClassificationRow.computed_at,
            CustomerRow.external_id,
            CustomerRow.kind,
            CustomerRow.consent_email,
            CustomerRow.consent_phone,
            CustomerRow.consent_post,
            ClassificationRow.lifecycle,
            ClassificationRow.z_stage,
            ClassificationRow.abc,
            ClassificationRow.quadrant,
            ClassificationRow.payment,
            ClassificationRow.phase,
            func.coalesce(ClassificationRow.key_account, CustomerRow.key_account).label("key_account"),
            ClassificationRow.order_count,
            ClassificationRow.revenue_12m,
            ClassificationRow.average_order_value,
            ClassificationRow.potential,
            ClassificationRow.last_order_on,
            _OPEN_COMPLAINT,
        ),
    ).order_by(CustomerRow.id)


async def count_matching(session: AsyncSession, filters: ProfileFilters) -> int:
    return int(await session.scalar(_matching(filters, _customers_with_classification(func.count()))) or 0)


async def weekly_orders(
    session: AsyncSession, filters: ProfileFilters, start: datetime, end: datetime, time_zone: str
) -> list[Any]:
    """Booked orders per ISO week (Monday, in `time_zone`) of the matching customers, from `start` to before `end`."""
    members = _matching(filters, _customers_with_classification(CustomerRow.id)).subquery()
    week = func.date_trunc("week", func.timezone(time_zone, OrderRow.ordered_at)).label("week")
    query = (
        select(week, func.count(), func.sum(OrderRow.net_amount))
        .where(
            OrderRow.customer_id.in_(select(members.c.id)),
            OrderRow.status == "booked",
            OrderRow.ordered_at >= start,
            OrderRow.ordered_at < end,
        )
        .group_by(week)
        .order_by(week)
    )
    return list(await session.execute(query))


def _latest_run_id() -> Select[Any]:
    """The newest successful full run's id, of those that wrote the current classifications (not back-dated):
    that run confirmed every classification computed before its snapshot."""
    return (
        select(RunRow.id)
        .where(RunRow.status == "succeeded", RunRow.back_dated.is_(False))
        .order_by(RunRow.finished_at.desc())
        .limit(1)
    )


# Built once: on the hottest read (a profile) building the statement cost as much as running it.
_CLASSIFICATION_BY_EXTERNAL_ID = _customers_with_classification(
    CustomerRow, ClassificationRow, _latest_run_id().scalar_subquery()
).where(CustomerRow.external_id == bindparam("external_id"))


async def get_classification(
    session: AsyncSession, external_id: str
) -> tuple[CustomerRow, ClassificationRow | None, uuid.UUID | None] | None:
    """The customer, his classification and the latest run's id, in one round trip."""
    found = await session.execute(_CLASSIFICATION_BY_EXTERNAL_ID, {"external_id": external_id})
    row = found.one_or_none()
    return (row[0], row[1], row[2]) if row else None


_PROFILE_READ = ReadStatement(_CLASSIFICATION_BY_EXTERNAL_ID)
_CUSTOMER_COLUMNS = [column.key for column in CustomerRow.__table__.columns]
_CLASSIFICATION_COLUMNS = [column.key for column in ClassificationRow.__table__.columns]


async def read_classification(
    pool: ReadPool, external_id: str
) -> tuple[SimpleNamespace, SimpleNamespace | None, uuid.UUID | None] | None:
    """As get_classification, on the read pool: the rows as plain objects with the ORM rows' attributes."""
    record = await pool.fetchrow(_PROFILE_READ, external_id=external_id)
    if record is None:
        return None
    values = list(record.values())  # the customer's columns, the classification's, the latest run's id
    split = len(_CUSTOMER_COLUMNS)
    customer = SimpleNamespace(**dict(zip(_CUSTOMER_COLUMNS, values[:split], strict=True)))
    stored = dict(zip(_CLASSIFICATION_COLUMNS, values[split:-1], strict=True))
    classification = SimpleNamespace(**stored) if stored["customer_id"] is not None else None
    return customer, classification, values[-1]


async def latest_run_id(session: AsyncSession) -> uuid.UUID | None:
    return await session.scalar(_latest_run_id())


async def bases(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, BasisRow]:
    if not ids:
        return {}
    return {row.id: row for row in await session.scalars(select(BasisRow).where(BasisRow.id.in_(ids)))}


async def customers_by_classes(connection: AsyncConnection) -> list[tuple[str, str, str, str | None, int]]:
    """(lifecycle, z_stage, abc, quadrant, customers) over every stored classification."""
    c = ClassificationRow
    found = await connection.execute(
        select(c.lifecycle, c.z_stage, c.abc, c.quadrant, func.count()).group_by(
            c.lifecycle, c.z_stage, c.abc, c.quadrant
        )
    )
    return [tuple(row) for row in found]  # type: ignore[misc]


async def runs_by_status(connection: AsyncConnection) -> dict[str, int]:
    found = await connection.execute(select(RunRow.status, func.count()).group_by(RunRow.status))
    return {status: int(n) for status, n in found}


async def last_run_times(connection: AsyncConnection) -> tuple[float, float] | None:
    """(started, finished) of the newest successful run that wrote the current classifications, Unix time."""
    found = await connection.execute(
        select(extract("epoch", RunRow.started_at), extract("epoch", RunRow.finished_at))
        .where(RunRow.status == "succeeded", RunRow.back_dated.is_(False), RunRow.finished_at.is_not(None))
        .order_by(RunRow.finished_at.desc())
        .limit(1)
    )
    newest = found.first()
    return (float(newest[0]), float(newest[1])) if newest else None
