"""All SQL of the classifications: one set-based pass over every customer for a run.

Thresholds are inlined as SQL literals: they are validated ints, decimals and dates (never text), and
literals let the planner see them. Every day is a UTC calendar day.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.classification.models import ClassificationChangeRow, ClassificationRow, RunRow, SettingsRow
from segmentation.classification.schemas import ProfileFilters, Thresholds
from segmentation.customers.models import CustomerRow
from segmentation.db import SCHEMA
from segmentation.interactions.models import InteractionRow
from segmentation.orders.models import OrderRow

RUN_LOCK = "segmentation.runs"


def _sql(value: int | Decimal | date | None) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return str(int(value)) if isinstance(value, int) else f"{Decimal(value)}::numeric"


async def load_thresholds(session: AsyncSession) -> Thresholds:
    row = await session.get(SettingsRow, 1)
    return Thresholds.model_validate(row.thresholds) if row else Thresholds()


async def save_thresholds(session: AsyncSession, thresholds: Thresholds) -> None:
    values = thresholds.model_dump(mode="json")
    await session.execute(
        text(f"""
        INSERT INTO {SCHEMA}.settings (id, thresholds) VALUES (1, CAST(:t AS jsonb))
        ON CONFLICT (id) DO UPDATE SET thresholds = EXCLUDED.thresholds, updated_at = now()"""),
        {"t": json.dumps(values)},
    )


async def create_run(session: AsyncSession, as_of: date, thresholds: Thresholds) -> RunRow:
    row = RunRow(as_of=as_of, thresholds=thresholds.model_dump(mode="json"))
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> RunRow | None:
    return await session.get(RunRow, run_id)


async def list_runs(session: AsyncSession, limit: int) -> list[RunRow]:
    return list(await session.scalars(select(RunRow).order_by(RunRow.started_at.desc()).limit(limit)))


async def set_progress(session: AsyncSession, run_id: uuid.UUID, phase: str, progress: int) -> None:
    await session.execute(update(RunRow).where(RunRow.id == run_id).values(phase=phase, progress=progress))


async def finish_run(session: AsyncSession, run_id: uuid.UUID, **values: Any) -> None:
    await session.execute(update(RunRow).where(RunRow.id == run_id).values(finished_at=text("now()"), **values))


async def history(session: AsyncSession, customer_id: int) -> list[ClassificationChangeRow]:
    query = (
        select(ClassificationChangeRow)
        .where(ClassificationChangeRow.customer_id == customer_id)
        .order_by(ClassificationChangeRow.changed_on, ClassificationChangeRow.id)
    )
    return list(await session.scalars(query))


async def flows(
    session: AsyncSession, attribute: str, from_date: date, to_date: date
) -> list[tuple[str | None, str | None, int]]:
    """Per pair of states: customers in the first on `from_date` and in the second on `to_date`."""
    result = await session.execute(text(f"""
        WITH state_on_from AS (
            SELECT DISTINCT ON (customer_id) customer_id, to_value FROM {SCHEMA}.classification_changes
            WHERE attribute = :attribute AND changed_on <= :from_date ORDER BY customer_id, changed_on DESC, id DESC),
        state_on_to AS (
            SELECT DISTINCT ON (customer_id) customer_id, to_value FROM {SCHEMA}.classification_changes
            WHERE attribute = :attribute AND changed_on <= :to_date ORDER BY customer_id, changed_on DESC, id DESC)
        SELECT f.to_value, t.to_value, count(*) FROM state_on_to t LEFT JOIN state_on_from f USING (customer_id)
        WHERE f.to_value IS DISTINCT FROM t.to_value
        GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"""), {"attribute": attribute, "from_date": from_date, "to_date": to_date})  # fmt: skip
    return [(row[0], row[1], int(row[2])) for row in result]


SUMMARY_ATTRIBUTES = ("lifecycle", "z_stage", "abc", "quadrant", "payment")


async def summary(session: AsyncSession) -> list[tuple[str | None, str | None, int, Decimal, date | None]]:
    """(attribute, state, customers, revenue, newest as_of) per state of each attribute, and one total row."""
    grouping = ", ".join(f"({a})" for a in SUMMARY_ATTRIBUTES)
    which = " ".join(f"WHEN GROUPING({a}) = 0 THEN '{a}'" for a in SUMMARY_ATTRIBUTES)
    state = " ".join(f"WHEN GROUPING({a}) = 0 THEN {a}::text" for a in SUMMARY_ATTRIBUTES)
    result = await session.execute(text(f"""
        SELECT CASE {which} END, CASE {state} END, count(*), coalesce(sum(revenue_12m), 0), max(as_of)
        FROM {SCHEMA}.classifications GROUP BY GROUPING SETS ({grouping}, ())"""))  # fmt: skip
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


def audience_query(filters: ProfileFilters) -> Select[Any]:
    """What campaigns need of each member: ids, consent, every classification, value figures, open complaints."""
    return _matching(filters, _customers_with_classification(
        CustomerRow.external_id, CustomerRow.kind, CustomerRow.consent_email, CustomerRow.consent_phone,
        CustomerRow.consent_post, ClassificationRow.lifecycle, ClassificationRow.z_stage, ClassificationRow.abc,
        ClassificationRow.quadrant, ClassificationRow.payment, ClassificationRow.phase,
        func.coalesce(ClassificationRow.key_account, CustomerRow.key_account).label("key_account"),
        ClassificationRow.order_count, ClassificationRow.revenue_12m, ClassificationRow.average_order_value,
        ClassificationRow.potential, ClassificationRow.last_order_on, _OPEN_COMPLAINT,
    )).order_by(CustomerRow.id)  # fmt: skip


async def count_matching(session: AsyncSession, filters: ProfileFilters) -> int:
    return int(await session.scalar(_matching(filters, _customers_with_classification(func.count()))) or 0)


async def weekly_orders(session: AsyncSession, filters: ProfileFilters, start: date, end: date) -> list[Any]:
    """Booked orders per ISO week (Monday) of the matching customers, from `start` to before `end`."""
    members = _matching(filters, _customers_with_classification(CustomerRow.id)).subquery()
    week = func.date_trunc("week", func.timezone("UTC", OrderRow.ordered_at)).label("week")
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


async def get_classification(
    session: AsyncSession, external_id: str
) -> tuple[CustomerRow, ClassificationRow | None] | None:
    query = _customers_with_classification(CustomerRow, ClassificationRow)
    row = (await session.execute(query.where(CustomerRow.external_id == external_id))).one_or_none()
    return (row[0], row[1]) if row else None


@dataclass(frozen=True)
class CutPoints:
    """What a full run derived from the whole base; incremental updates classify against these."""

    abc_a_min_revenue: Decimal | None
    abc_b_min_revenue: Decimal | None
    key_account_top_n_min_revenue: Decimal | None
    matrix_revenue_split: Decimal
    matrix_potential_split: Decimal

    def as_json(self) -> dict[str, str | None]:
        return {k: None if v is None else str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> CutPoints:
        return cls(**{k: None if values.get(k) is None else Decimal(values[k]) for k in cls.__dataclass_fields__})


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


Step = Callable[[str, int], Awaitable[None]]


async def classify_all(
    session: AsyncSession, run_id: uuid.UUID, as_of: date, t: Thresholds, step: Step
) -> dict[str, Any]:
    """Classify every customer as of `as_of`, record what changed, replace the stored classifications.

    `step(phase, percent)` is told before each phase, for the run's progress.
    """
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": RUN_LOCK})
    await session.execute(text("SET LOCAL statement_timeout = 0"))
    # Ingests keep classifying while the run computes from the facts it read first; their newer
    # classifications must survive the run's write.
    started = await session.scalar(text("SELECT clock_timestamp()"))
    await step("features", 5)
    await session.execute(text(_features_sql(as_of, t)))
    await step("ranking", 30)
    await session.execute(text("""
        CREATE TEMP TABLE ranked ON COMMIT DROP AS
        SELECT f.*,
               coalesce(sum(revenue_12m) OVER (ORDER BY revenue_12m DESC, external_id
                                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS revenue_before,
               sum(revenue_12m) OVER () AS revenue_total,
               row_number() OVER (ORDER BY revenue_12m DESC, external_id) AS revenue_rank
        FROM features f"""))  # fmt: skip
    top_n = _sql(t.key_account_top_n)
    row = (await session.execute(text(f"""
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY revenue_12m) FILTER (WHERE in_active_base),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY potential) FILTER (WHERE in_active_base),
               min(revenue_12m) FILTER (WHERE revenue_12m > 0 AND revenue_before < {_sql(t.abc_a_share)} * revenue_total),
               min(revenue_12m) FILTER (WHERE revenue_12m > 0 AND revenue_before < {_sql(t.abc_b_share)} * revenue_total),
               min(revenue_12m) FILTER (WHERE revenue_12m > 0 AND revenue_rank <= {top_n})
        FROM ranked"""))).one()  # fmt: skip
    cut = CutPoints(
        abc_a_min_revenue=_decimal(row[2]),
        abc_b_min_revenue=_decimal(row[3]),
        key_account_top_n_min_revenue=_decimal(row[4]),
        matrix_revenue_split=t.matrix_revenue_split if t.matrix_revenue_split is not None else _decimal(row[0] or 0),
        matrix_potential_split=t.matrix_potential_split
        if t.matrix_potential_split is not None
        else _decimal(row[1] or 0),
    )
    abc = f"""CASE WHEN revenue_12m <= 0 THEN 'C'
                   WHEN revenue_before < {_sql(t.abc_a_share)} * revenue_total THEN 'A'
                   WHEN revenue_before < {_sql(t.abc_b_share)} * revenue_total THEN 'B' ELSE 'C' END"""
    top = f"coalesce(revenue_12m > 0 AND revenue_rank <= {top_n}, false)"
    await step("classifying", 40)
    await session.execute(text(_computed_sql(as_of, t, cut, abc, top)))
    await step("storing", 70)
    return {**await _store(session, run_id, since=started), "cut_points": cut.as_json()}


async def classify_some(
    session: AsyncSession, customer_ids_sql: str, as_of: date, t: Thresholds, cut: CutPoints
) -> int:
    """Classify the customers `customer_ids_sql` selects, against the cut points of the last full run.

    For the customers an ingest touched, in the ingest's own transaction: their profile is current at once.
    """
    await session.execute(text("DROP TABLE IF EXISTS features, ranked, computed"))
    await session.execute(text(_features_sql(as_of, t, only=customer_ids_sql)))
    await session.execute(text("""
        CREATE TEMP TABLE ranked ON COMMIT DROP AS
        SELECT f.*, NULL::numeric AS revenue_before, NULL::numeric AS revenue_total, NULL::bigint AS revenue_rank
        FROM features f"""))  # fmt: skip
    abc = f"""CASE WHEN revenue_12m <= 0 THEN 'C'
                   WHEN revenue_12m >= {_sql(cut.abc_a_min_revenue)} THEN 'A'
                   WHEN revenue_12m >= {_sql(cut.abc_b_min_revenue)} THEN 'B' ELSE 'C' END"""
    top = f"(revenue_12m > 0 AND coalesce(revenue_12m >= {_sql(cut.key_account_top_n_min_revenue)}, false))"
    await session.execute(text(_computed_sql(as_of, t, cut, abc, top)))
    return (await _store(session, None))["customers"]


async def last_cut_points(session: AsyncSession) -> CutPoints | None:
    """The cut points of the newest successful full run, if any."""
    values = await session.scalar(
        select(RunRow.cut_points).where(RunRow.status == "succeeded").order_by(RunRow.finished_at.desc()).limit(1)
    )
    return CutPoints.from_json(values) if values else None


async def _store(session: AsyncSession, run_id: uuid.UUID | None, since: datetime | None = None) -> dict[str, int]:
    """Record what changed against the stored classifications, then replace them with `computed`.

    With `since`, customers classified at or after it (by an ingest while this run computed from older facts)
    keep their newer classification.
    """
    params = {"run_id": str(run_id) if run_id else None, "since": since}
    newer = "(CAST(:since AS timestamptz) IS NOT NULL AND {0}.computed_at >= CAST(:since AS timestamptz))"
    changes = (await session.execute(text(f"""
        WITH recorded AS (
            INSERT INTO {SCHEMA}.classification_changes (customer_id, attribute, from_value, to_value, changed_on, run_id)
            SELECT n.customer_id, a.attribute, a.from_value, a.to_value, n.as_of, CAST(:run_id AS uuid)
            FROM computed n LEFT JOIN {SCHEMA}.classifications o ON o.customer_id = n.customer_id
            CROSS JOIN LATERAL unnest(ARRAY['lifecycle', 'z_stage', 'abc', 'quadrant'],
                                      ARRAY[o.lifecycle, o.z_stage, o.abc::text, o.quadrant],
                                      ARRAY[n.lifecycle, n.z_stage, n.abc, n.quadrant]) AS a(attribute, from_value, to_value)
            WHERE (o.lifecycle, o.z_stage, o.abc::text, o.quadrant) IS DISTINCT FROM (n.lifecycle, n.z_stage, n.abc, n.quadrant)
              AND a.from_value IS DISTINCT FROM a.to_value AND NOT coalesce({newer.format("o")}, false)
            RETURNING 1)
        SELECT count(*) FROM recorded"""), params)).scalar_one()  # fmt: skip
    columns = [c.name for c in ClassificationRow.__table__.columns if c.name not in ("customer_id", "computed_at")]
    customers = (await session.execute(text(f"""
        WITH stored AS (
            INSERT INTO {SCHEMA}.classifications AS target (customer_id, {", ".join(columns)})
            SELECT customer_id, {", ".join("CAST(:run_id AS uuid)" if c == "run_id" else c for c in columns)} FROM computed
            ON CONFLICT (customer_id) DO UPDATE SET {", ".join(f"{c} = EXCLUDED.{c}" for c in columns)}, computed_at = now()
            WHERE NOT {newer.format("target")}
            RETURNING 1)
        SELECT count(*) FROM stored"""), params)).scalar_one()  # fmt: skip
    return {"customers": customers, "changes": changes}


def _features_sql(as_of: date, t: Thresholds, only: str | None = None) -> str:
    """Per customer: order, invoice and contact figures, and the lifecycle. `only`: SQL selecting customer ids."""
    d, trend = _sql(as_of), t.trend_window_days
    subset = f"AND customer_id IN ({only})" if only else ""
    return f"""
    CREATE TEMP TABLE features ON COMMIT DROP AS
    WITH booked AS (
        SELECT customer_id, (ordered_at AT TIME ZONE 'UTC')::date AS day, net_amount
        FROM {SCHEMA}.orders WHERE status = 'booked' AND (ordered_at AT TIME ZONE 'UTC')::date <= {d} {subset}
    ),
    gaps AS (
        SELECT customer_id, day, day - lag(day) OVER (PARTITION BY customer_id ORDER BY day) AS gap FROM booked
    ),
    per_customer AS (
        SELECT customer_id, count(*) AS order_count, min(day) AS first_day, max(day) AS last_day,
               coalesce(sum(net_amount) FILTER (WHERE day > {d} - 365), 0) AS revenue_12m,
               coalesce(sum(net_amount) FILTER (WHERE day > {d} - {trend}), 0) AS recent_revenue,
               coalesce(sum(net_amount) FILTER (WHERE day <= {d} - {trend} AND day > {d} - 2 * {trend}), 0)
                   AS previous_revenue,
               round(avg(net_amount), 2) AS average_order_value
        FROM booked GROUP BY customer_id
    ),
    comeback AS (
        SELECT DISTINCT ON (customer_id) customer_id, day AS reactivated_on, gap FROM gaps
        WHERE gap > {t.reactivation_gap_days} AND {d} - day <= {t.lapsed_after_days}
        ORDER BY customer_id, day DESC
    ),
    contacts AS (
        SELECT customer_id, count(*) AS interactions FROM {SCHEMA}.interactions
        WHERE (occurred_at AT TIME ZONE 'UTC')::date <= {d} {subset} GROUP BY customer_id
    ),
    billing AS (
        SELECT customer_id, count(*) AS invoices,
               round(avg(greatest(coalesce(paid_on, {d}) - due_on, 0))
                     FILTER (WHERE paid_on IS NOT NULL OR due_on < {d}), 1) AS average_days_late,
               count(*) FILTER (WHERE issued_on > {d} - 365 AND due_on < {d}
                                  AND (paid_on IS NULL OR paid_on > due_on)) AS overdue_invoices_12m,
               max(dunning_level) AS max_dunning_level
        FROM {SCHEMA}.invoices WHERE issued_on <= {d} {subset} GROUP BY customer_id
    )
    SELECT c.id AS customer_id, c.external_id, c.key_account AS erp_key_account,
           coalesce(p.order_count, 0) AS order_count, p.first_day, p.last_day,
           coalesce(p.revenue_12m, 0) AS revenue_12m, coalesce(p.recent_revenue, 0) AS recent_revenue,
           coalesce(p.previous_revenue, 0) AS previous_revenue, p.average_order_value,
           c.revenue_potential AS potential_estimate, coalesce(c.revenue_potential, p.revenue_12m, 0) AS potential,
           cb.reactivated_on, cb.gap AS reactivation_gap, coalesce(ct.interactions, 0) AS interactions,
           coalesce(b.invoices, 0) AS invoices, b.average_days_late,
           coalesce(b.overdue_invoices_12m, 0) AS overdue_invoices_12m,
           coalesce(b.max_dunning_level, 0) AS max_dunning_level,
           CASE WHEN p.customer_id IS NULL THEN 'prospect'
                WHEN {d} - p.first_day <= {t.new_customer_days} THEN 'new'
                WHEN {d} - p.last_day > {t.lapsed_after_days} THEN 'lapsed'
                WHEN cb.customer_id IS NOT NULL THEN 'reactivated'
                ELSE 'active' END AS lifecycle,
           p.customer_id IS NOT NULL AND {d} - p.last_day <= {t.lapsed_after_days} AS in_active_base
    FROM {SCHEMA}.customers c
    LEFT JOIN per_customer p ON p.customer_id = c.id
    LEFT JOIN comeback cb ON cb.customer_id = c.id
    LEFT JOIN contacts ct ON ct.customer_id = c.id
    LEFT JOIN billing b ON b.customer_id = c.id
    {f"WHERE c.id IN ({only})" if only else ""}"""


def _computed_sql(as_of: date, t: Thresholds, cut: CutPoints, abc: str, in_top_n: str) -> str:
    """Every classification and its reasons from `ranked`; `abc` and `in_top_n` differ for full and partial runs."""
    d = _sql(as_of)
    revenue_split, potential_split = cut.matrix_revenue_split, cut.matrix_potential_split
    payment = f"""CASE WHEN max_dunning_level >= {t.prepayment_dunning_level}
                         OR average_days_late > {t.prepayment_average_days} THEN 'prepayment_only'
                       WHEN average_days_late > {t.late_average_days}
                         OR overdue_invoices_12m >= {t.late_overdue_invoices} THEN 'late'
                       ELSE 'punctual' END"""
    quadrant = f"""CASE WHEN NOT in_active_base THEN NULL
                        WHEN revenue_12m >= {_sql(revenue_split)} AND potential >= {_sql(potential_split)} THEN 'top'
                        WHEN revenue_12m >= {_sql(revenue_split)} THEN 'premium'
                        WHEN potential >= {_sql(potential_split)} THEN 'development'
                        ELSE 'small' END"""
    trend = f"""CASE WHEN previous_revenue > 0 AND recent_revenue <= {_sql(t.sharp_fall_ratio)} * previous_revenue
                     THEN 'at_risk'
                     WHEN recent_revenue > 0 AND recent_revenue >= {_sql(t.growth_ratio)} * previous_revenue
                     THEN 'growth' ELSE 'maturity' END"""
    key_account = f"""erp_key_account OR {in_top_n}
        OR ({_sql(t.key_account_min_revenue)} IS NOT NULL AND revenue_12m >= {_sql(t.key_account_min_revenue)})"""
    minimum = _sql(t.minimum_order_value)
    return f"""
    CREATE TEMP TABLE computed ON COMMIT DROP AS
    SELECT customer_id, {d} AS as_of, NULL::uuid AS run_id, lifecycle,
           CASE WHEN order_count >= 3 THEN 'Z4' WHEN order_count = 2 THEN 'Z3' WHEN order_count = 1 THEN 'Z2'
                WHEN interactions > 0 THEN 'Z1' ELSE 'Z0' END AS z_stage,
           {abc} AS abc, {key_account} AS key_account, {payment} AS payment, {quadrant} AS quadrant,
           CASE lifecycle WHEN 'prospect' THEN 'acquisition' WHEN 'new' THEN 'onboarding'
                          WHEN 'lapsed' THEN 'win_back' ELSE {trend} END AS phase,
           order_count, revenue_12m, average_order_value,
           coalesce({minimum} IS NOT NULL AND average_order_value < {minimum}, false) AS below_minimum_order_value,
           potential, first_day AS first_order_on, last_day AS last_order_on,
           jsonb_build_object(
             'lifecycle', jsonb_build_object('first_order_on', first_day, 'last_order_on', last_day,
                 'days_since_first_order', {d} - first_day, 'days_since_last_order', {d} - last_day,
                 'reactivated_on', reactivated_on, 'gap_before_reactivation_days', reactivation_gap,
                 'new_customer_days', {t.new_customer_days}, 'lapsed_after_days', {t.lapsed_after_days},
                 'reactivation_gap_days', {t.reactivation_gap_days}),
             'z_stage', jsonb_build_object('booked_orders', order_count, 'interactions', interactions),
             'abc', jsonb_build_object('revenue_12m', revenue_12m, 'revenue_rank', revenue_rank,
                 'share_before', CASE WHEN revenue_total > 0 THEN round(revenue_before / revenue_total, 4) END,
                 'a_share', {_sql(t.abc_a_share)}, 'b_share', {_sql(t.abc_b_share)},
                 'a_min_revenue', {_sql(cut.abc_a_min_revenue)}, 'b_min_revenue', {_sql(cut.abc_b_min_revenue)}),
             'key_account', jsonb_build_object('erp_flag', erp_key_account, 'revenue_rank', revenue_rank,
                 'top_n', {_sql(t.key_account_top_n)}, 'min_revenue', {_sql(t.key_account_min_revenue)}),
             'payment', jsonb_build_object('invoices', invoices, 'average_days_late', average_days_late,
                 'overdue_invoices_12m', overdue_invoices_12m, 'max_dunning_level', max_dunning_level),
             'order_value', jsonb_build_object('average_order_value', average_order_value,
                 'minimum_order_value', {minimum}),
             'quadrant', jsonb_build_object('revenue_12m', revenue_12m, 'revenue_split', {_sql(revenue_split)},
                 'potential', potential,
                 'potential_source', CASE WHEN potential_estimate IS NOT NULL THEN 'estimate' ELSE 'revenue_12m' END,
                 'potential_split', {_sql(potential_split)}),
             'phase', jsonb_build_object('recent_revenue', recent_revenue, 'previous_revenue', previous_revenue,
                 'trend_window_days', {t.trend_window_days})
           ) AS reasons
    FROM ranked"""
