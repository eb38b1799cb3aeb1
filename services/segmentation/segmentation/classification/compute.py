"""The SQL that classifies: one set-based pass over every customer for a run, or over the few an ingest touched.

Days are calendar days in the company's time zone; orders are summed per customer and day (a purchase day, as the
predictive model counts them). Days, thresholds and cut points are SQL literals (servicekit.sql), so that the
planner sees them. A run is shaped to cost about what one aggregate over the orders costs: two halves of the
customers computed on two connections at once, the class ends found by selection (ranking), every customer
classified by parallel workers, only the customers that changed written; docs/benchmarks.md ("Segmentation at
a million customers") has what each of these measured.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, LiteralString

import numpy as np
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import AddConstraint, DropConstraint

from segmentation.classification import ranking
from segmentation.classification.models import ClassificationRow
from segmentation.company.schemas import Thresholds
from segmentation.db import SCHEMA
from segmentation.money import Money
from segmentation.orderdays.days import (
    FIRST_DAY,
    FIRST_DAY_SCALE,
    RUN_WORK_MEM,
    Days,
    aggregate_by_sorting,
    days_over_every_order,
    run_settings,
)
from segmentation.predictive.scoring import (
    TERMS,
    ScoringModel,
    drop_other_terms,
    ensure_terms,
    expected_spend_sql,
    fetch_terms,
    probability_alive_sql,
    tabulate,
)
from servicekit.db import favour_parallel_workers
from servicekit.sql import SQL, ident, literal

RUN_LOCK = "segmentation.runs"

# Stored per customer; a run rewrites a customer only when one of these differs.
FIGURES = [
    "lifecycle",
    "z_stage",
    "abc",
    "key_account",
    "payment",
    "quadrant",
    "phase",
    "order_count",
    "revenue_12m",
    "average_order_value",
    "below_minimum_order_value",
    "potential",
    "first_order_on",
    "last_order_on",
    "recent_revenue",
    "previous_revenue",
    "reactivated_on",
    "reactivation_gap_days",
    "interactions",
    "invoices",
    "average_days_late",
    "overdue_invoices_12m",
    "max_dunning_level",
    "erp_key_account",
    "potential_estimated",
    "in_top_n",
    "purchase_days",
    "repeat_spend",
]
HISTORY_ATTRIBUTES = ("lifecycle", "z_stage", "abc", "quadrant")
# In the table's order (migration 0010_classifications_rebuilt): rows laid out so are copied whole by an insert.
STORED_COLUMNS = list(ClassificationRow.__table__.columns)
assert set(FIGURES) | {"customer_id", "as_of", "run_id", "basis_id", "classified_on", "computed_at"} == {
    c.name for c in ClassificationRow.__table__.columns
}, "every stored column is a figure or bookkeeping"
# The stored columns' types, by the name SQLAlchemy gives each for Postgres: a column of a type not listed here
# fails this module's import.
_TYPES = {
    str(piece): piece
    for piece in (
        SQL("BIGINT"),
        SQL("INTEGER"),
        SQL("SMALLINT"),
        SQL("BOOLEAN"),
        SQL("TEXT"),
        SQL("CHAR(1)"),
        SQL("DATE"),
        SQL("UUID"),
        SQL("NUMERIC(18, 2)"),
        SQL("NUMERIC(8, 1)"),
        SQL("TIMESTAMP WITH TIME ZONE"),
    )
}
_STORED = [(c.name, _TYPES[str(c.type.compile(dialect=postgresql.dialect()))]) for c in STORED_COLUMNS]

_CUSTOMERS, _ORDERS, _INVOICES, _INTERACTIONS = (
    ident(SCHEMA, name) for name in ("customers", "orders", "invoices", "interactions")
)
_CLASSIFICATIONS, _CHANGES, _BASES = (
    ident(SCHEMA, name) for name in ("classifications", "classification_changes", "classification_bases")
)


@dataclass(frozen=True)
class ClassEnd:
    """The last customer of a class, as cut points hold him: None for what cut points stored before did not."""

    revenue: Decimal
    last_external_id: str | None
    tied: int | None
    tied_in_class: int | None

    def up_to(self, name: str) -> SQL:
        """SQL over features `f`: the customer ranks at or before him. More revenue, or as much and an external
        id not after his (byte by byte, bound as `:last_<name>`), as a run ranks; without his id, as much."""
        if self.last_external_id is None:
            return SQL("f.revenue_12m >= {revenue}").format(revenue=self.revenue)
        return SQL("""(f.revenue_12m > {revenue} OR f.revenue_12m = {revenue}
                   AND f.external_id COLLATE "C" <= CAST({last} AS text))""").format(
            revenue=self.revenue, last=_LAST[name]
        )

    @property
    def tie_split(self) -> bool:
        """Customers with his revenue fall into his class and the next (after him by external id)."""
        return self.tied is not None and self.tied_in_class is not None and self.tied > self.tied_in_class


# The stored cut points' prefix of each class end, by the name ranking gives it.
ENDS = {"a": "abc_a", "b": "abc_b", "top_n": "key_account_top_n"}
# The parameter each class end's last external id is bound as (_last_ids).
_LAST = {"a": SQL(":last_a"), "b": SQL(":last_b"), "top_n": SQL(":last_top_n")}


@dataclass(frozen=True)
class CutPoints:
    """What a full run derived from the whole base; incremental updates classify against these.

    Per class end (A, B, the top N): the revenue of its last customer (`_min_revenue`), his external id, and the
    customers with that revenue (`_tied`), of them those ranked up to him (`_tied_in_class`); None: the class
    is empty. Cut points stored before the last customer's id was have only the revenue: against those, a
    customer with as much revenue belongs to the class."""

    abc_a_min_revenue: Decimal | None
    abc_b_min_revenue: Decimal | None
    key_account_top_n_min_revenue: Decimal | None
    matrix_revenue_split: Decimal
    matrix_potential_split: Decimal
    abc_a_last_external_id: str | None = None
    abc_b_last_external_id: str | None = None
    key_account_top_n_last_external_id: str | None = None
    abc_a_tied: int | None = None
    abc_b_tied: int | None = None
    key_account_top_n_tied: int | None = None
    abc_a_tied_in_class: int | None = None
    abc_b_tied_in_class: int | None = None
    key_account_top_n_tied_in_class: int | None = None

    @classmethod
    def of(cls, t: Thresholds, found: ranking.CutValues) -> CutPoints:
        """From the ends and medians a run found; configured matrix splits before the medians."""
        ends: dict[str, Any] = {}
        for name, prefix in ENDS.items():
            end = found.ends[name]
            ends |= {
                f"{prefix}_min_revenue": end.revenue if end else None,
                f"{prefix}_last_external_id": end.external_id if end else None,
                f"{prefix}_tied": end.tied if end else None,
                f"{prefix}_tied_in_class": end.tied_through if end else None,
            }
        return cls(
            matrix_revenue_split=_first_known(t.matrix_revenue_split, found.revenue_median),
            matrix_potential_split=_first_known(t.matrix_potential_split, found.potential_median),
            **ends,
        )

    def end(self, name: str) -> ClassEnd | None:
        """Class end `name` (a key of ENDS); None: the class is empty."""
        prefix = ENDS[name]
        revenue = getattr(self, f"{prefix}_min_revenue")
        if revenue is None:
            return None
        return ClassEnd(
            revenue,
            getattr(self, f"{prefix}_last_external_id"),
            getattr(self, f"{prefix}_tied"),
            getattr(self, f"{prefix}_tied_in_class"),
        )

    def as_json(self) -> dict[str, str | int | None]:
        """Decimals as exact strings, counts as numbers."""
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> CutPoints:
        found: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            value = values.get(name)
            if value is None:
                found[name] = None
            elif name.endswith("_last_external_id"):
                found[name] = str(value)
            elif name.endswith(("_tied", "_tied_in_class")):
                found[name] = int(value)
            else:
                found[name] = Decimal(str(value))
        return cls(**found)


def _first_known(configured: Decimal | None, median: Decimal | None) -> Decimal:
    """A matrix split: as configured, else the median, else (no one active) zero."""
    if configured is not None:
        return configured
    return median if median is not None else Decimal(0)


Step = Callable[[str, int], Awaitable[None]]
# A condition on a customer id column (given as SQL) that narrows the customers a statement computes.
Ids = Callable[[SQL], SQL]

SCRATCH_PREFIX = "run_features_"
_MIDDLE_ID = SQL("SELECT coalesce((min(id) + max(id)) / 2, 0) FROM {customers}").format(customers=_CUSTOMERS)


async def classify_all(
    session: AsyncSession,
    run_id: uuid.UUID,
    as_of: date,
    t: Thresholds,
    step: Step,
    other_connection: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    model: ScoringModel | None = None,
) -> dict[str, Any]:
    """Classify every customer as of `as_of`, record what changed, store the customers that changed.
    With a predictive `model`, its probability alive and predicted revenue take part (at risk, potential).

    `step(phase, percent)` is told before each phase, for the run's progress. The customers are split in two
    halves by id: `other_connection` computes the figures of one half while this session computes the
    other's, two cores each with its own half of every aggregate.
    """
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": RUN_LOCK})
    await run_settings(session)
    # Ingests keep classifying while the run computes from the facts it read first; their newer
    # classifications must survive the run's write.
    snapshot_at = await session.scalar(text("SELECT clock_timestamp()"))
    # The day the current classifications hold for: a run as of an earlier one is back-dated, and leaves them
    # and their history alone. Ingests classify only after a run has succeeded: before, nobody else writes
    # classifications and the run can insert them plainly, without the cost of looking for conflicts.
    latest = await session.scalar(_LATEST_CURRENT_RUN_DAY.clause)
    first, back_dated = latest is None, latest is not None and as_of < latest
    days = await days_over_every_order(session, as_of, t.time_zone)
    await step("features", 5)
    middle = int(await session.scalar(_MIDDLE_ID.clause))
    other_half = ident(SCHEMA, f"{SCRATCH_PREFIX}{run_id.hex}")
    # Unlogged rather than temporary, so that parallel workers can read them when the run classifies; created
    # and dropped in the run's transaction.
    features = ident(SCHEMA, f"{SCRATCH_PREFIX}{run_id.hex}_all")
    this_half = _features_sql(days, t, ids=lambda column: SQL("{} <= {}").format(column, middle))
    await aggregate_by_sorting(session)
    try:  # when one half fails, the other is cancelled
        async with asyncio.TaskGroup() as halves:
            create = SQL("CREATE UNLOGGED TABLE {table} AS {features}").format(table=features, features=this_half)
            halves.create_task(session.execute(create.clause))
            halves.create_task(
                _features_elsewhere(
                    other_connection, other_half, days, t, ids=lambda column: SQL("{} > {}").format(column, middle)
                )
            )
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None
    await aggregate_by_sorting(session, on=False)
    # Both halves, not copied into one.
    every = SQL("(SELECT * FROM {this} UNION ALL SELECT * FROM {other})").format(this=features, other=other_half)
    predicted = Predicted(model, days)
    if model is not None:
        await step("predictions", 50)
        await ensure_terms(session, model, predicted.pairs_sql(every))
        if not back_dated:  # the current classifications' terms stay
            await drop_other_terms(session, model)
    await step("ranking", 55)
    await _parallel_query(session, True)
    figures = ranking.Figures(every, predicted.potential, predicted.join)
    found = await ranking.cut_values(session, figures, t.abc_a_share, t.abc_b_share, t.key_account_top_n)
    await _parallel_query(session, False)
    cut = CutPoints.of(t, found)
    # A customer ranks at or before the last of a class if he has more revenue, or as much and an external id
    # not after his. Compared, not joined.
    ranked, ranked_params = _ranked(cut, every, empty=SQL("false"))
    await step("storing", 70)
    if back_dated:
        result = await _store_past(session, t, cut, ranked, predicted, run_id, ranked_params)
    else:
        result = await _store(
            session,
            t,
            cut,
            ranked,
            predicted,
            run_id=run_id,
            since=snapshot_at,
            first=first,
            ranked_params=ranked_params,
        )
    # The other half's table is dropped with the run's commit; a failed run's goes when the next run starts.
    await session.execute(SQL("DROP TABLE {}, {}").format(features, other_half).clause)
    # `customers`: all classified; the stored ones are only those that changed.
    return {
        **result,
        "customers": found.customers,
        "cut_points": cut.as_json(),
        "snapshot_at": snapshot_at,
        "model": model.as_json() if model else None,
        "back_dated": back_dated,
    }


def _ranked(cut: CutPoints, features: SQL, *, empty: SQL) -> tuple[SQL, dict[str, str]]:
    """`features` (a table or subquery) with each customer's ABC class and whether he is in the top N, against
    `cut`, and the parameters that SQL binds. `empty`: SQL for a class the cut points found empty."""
    up_to = {name: end.up_to(name) if (end := cut.end(name)) else empty for name in ENDS}
    ranked = SQL("""(SELECT f.*, CASE WHEN {a} THEN 'A' WHEN {b} THEN 'B' ELSE 'C' END AS abc,
                         {top_n} AS in_top_n
                  FROM {features} f)""").format(**up_to, features=features)
    return ranked, _last_ids(cut)


def _last_ids(cut: CutPoints) -> dict[str, str]:
    """The parameters ClassEnd.up_to binds: each class's last customer's external id, where known."""
    ends = ((name, cut.end(name)) for name in ENDS)
    return {f"last_{name}": end.last_external_id for name, end in ends if end and end.last_external_id}


async def _parallel_query(session: AsyncSession, on: bool) -> None:
    """Parallel workers for one statement of a run, which otherwise computes on one process per connection."""
    if on:
        await session.execute(text("SET LOCAL max_parallel_workers_per_gather TO DEFAULT"))
    else:
        await session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    await favour_parallel_workers(session, on)


async def _features_elsewhere(
    other_connection: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    table: SQL,
    days: Days,
    t: Thresholds,
    ids: Ids,
) -> None:
    """The features of the customers `ids` selects into an unlogged `table`, committed on another connection.
    Tables left by runs that failed are dropped first (runs never overlap: they hold RUN_LOCK)."""
    async with other_connection() as other, other.begin():
        await run_settings(other)
        await aggregate_by_sorting(other)
        stale = await other.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :schema AND starts_with(tablename, :prefix)"),
            {"schema": SCHEMA, "prefix": SCRATCH_PREFIX},
        )
        for name in stale:
            await other.execute(SQL("DROP TABLE IF EXISTS {}").format(ident(SCHEMA, name)).clause)
        features = _features_sql(days, t, ids=ids)
        await other.execute(SQL("CREATE UNLOGGED TABLE {} AS {}").format(table, features).clause)


async def classify_some(
    session: AsyncSession,
    customer_ids_sql: SQL,
    as_of: date,
    t: Thresholds,
    cut: CutPoints,
    model: ScoringModel | None = None,
    *,
    few: bool = False,
) -> int:
    """Classify the customers `customer_ids_sql` selects, against the cut points and model of the last full run.

    For the customers an ingest touched, in the ingest's own transaction: their profile is current at once.
    They are ranked against the last customer of each of the run's classes as the run ranked (ties by external
    id); when that run had no revenue at all, the first customer with revenue is A, as a run would find. With a
    model, the terms of their (repeat purchases, age) come first: for `few` customers (a PUT) their figures are
    simply computed twice, for more (an import) once into a temporary table (a table per PUT would churn the
    catalog).
    """
    days = Days(as_of, t.time_zone)
    predicted = Predicted(model, days)
    query = _features_sql(days, t, ids=lambda column: SQL("{} IN ({})").format(column, customer_ids_sql))
    features = SQL("({})").format(query)
    materialised = model is not None and not few
    if materialised:
        await session.execute(SQL("CREATE TEMP TABLE touched_features ON COMMIT DROP AS {}").format(query).clause)
        features = SQL("touched_features")
    if model is not None:
        await ensure_terms(session, model, predicted.pairs_sql(features))
    # As a run ranks against the ends of its classes; where its cut points have none (it found no revenue), the
    # first customers with revenue are A and in the top N, as a run would find.
    up_to = {name: end.up_to(name) if (end := cut.end(name)) else SQL("true") for name in ENDS}
    ranked = SQL("""(SELECT f.*, CASE WHEN f.revenue_12m <= 0 THEN 'C' WHEN {a} THEN 'A'
                                   WHEN {b} THEN 'B' ELSE 'C' END AS abc,
                         ({top_n_configured} IS NOT NULL AND f.revenue_12m > 0
                          AND {top_n}) AS in_top_n
                  FROM {features} f)""").format(**up_to, top_n_configured=t.key_account_top_n, features=features)
    stored = (await _store(session, t, cut, ranked, predicted, ranked_params=_last_ids(cut)))["customers"]
    if materialised:  # an ingest may classify twice in one transaction
        await session.execute(text("DROP TABLE touched_features"))
    return stored


def _newer(stored: SQL) -> SQL:
    """Whether the `stored` classification is newer than what a run stores: computed at or after :since (by an
    ingest, while the run computed), or holding for a later day than the run's (:run_day; an ingest's today)."""
    return SQL("""(CAST(:since AS timestamptz) IS NOT NULL AND {0}.computed_at >= CAST(:since AS timestamptz)
                   OR CAST(:run_day AS date) IS NOT NULL AND {0}.as_of > CAST(:run_day AS date))""").format(stored)


def _columns(template: LiteralString, names: Iterable[str]) -> SQL:
    """`template` (its `{0}` a column's name) for each of `names`, joined by commas."""
    return SQL(", ").join(SQL(template).format(ident(name)) for name in names)


async def _store(
    session: AsyncSession,
    t: Thresholds,
    cut: CutPoints,
    ranked: SQL,
    predicted: Predicted,
    *,
    run_id: uuid.UUID | None = None,
    since: datetime | None = None,
    first: bool = False,
    ranked_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Classify `ranked` (features with abc and in_top_n), store the customers whose figures changed with the
    basis (thresholds, cut points, model) they were computed with, and record the changes of those classified before.
    After the basis, one statement (for a run, after its customers are classified into a table of their own).

    With `since`, customers classified at or after it (by an ingest while this run computed from older facts)
    keep their newer classification; so do those a run finds classified as of a later day than its own (an
    ingest classified them as of today after the last run): a run never writes a customer's state backwards. `first`: nothing is stored yet and nobody else stores meanwhile.
    """
    days = predicted.days
    # An ingest classifies a few customers: each stored row is looked up by key. The planner cannot tell how few
    # they are (IN a subquery) and would otherwise read all the classifications into a hash table.
    if run_id is not None:
        stored_row = SQL("LEFT JOIN {} o ON o.customer_id = n.customer_id").format(_CLASSIFICATIONS)
    else:
        stored_row = SQL("""LEFT JOIN LATERAL (SELECT * FROM {} c WHERE c.customer_id = n.customer_id
                                    OFFSET 0) o ON true""").format(_CLASSIFICATIONS)
    changed = SQL("""
            {stored_row}
            WHERE o.customer_id IS NULL
               OR (({new}) IS DISTINCT FROM ({old})
                   AND NOT {newer})""").format(
        stored_row=stored_row,
        new=_columns("n.{0}", FIGURES),
        old=_columns("o.{0}", FIGURES),
        newer=_newer(SQL("o")),
    )
    on_conflict = SQL("""
            ON CONFLICT (customer_id) DO UPDATE SET as_of = EXCLUDED.as_of, run_id = EXCLUDED.run_id,
                basis_id = EXCLUDED.basis_id, computed_at = EXCLUDED.computed_at,
                {figures}
            WHERE NOT {newer}""").format(figures=_columns("{0} = EXCLUDED.{0}", FIGURES), newer=_newer(SQL("target")))
    classified = SQL("({classes}) n {changed}").format(
        classes=_classes_sql(t, cut, ranked, predicted), changed=SQL("") if first else changed
    )
    # What the stored had before, looked up by key: the stored are usually a few of all the classifications.
    # Before the first run there is nothing to record.
    recorded = SQL("""
            INSERT INTO {changes} (customer_id, attribute, from_value, to_value, changed_on, run_id)
            SELECT s.customer_id, a.attribute, a.from_value, a.to_value, {as_of}, CAST(:run_id AS uuid)
            FROM stored s
            CROSS JOIN LATERAL (SELECT * FROM {classifications} c WHERE c.customer_id = s.customer_id OFFSET 0) o
            CROSS JOIN LATERAL unnest(
                ARRAY[{attributes}],
                ARRAY[{from_values}],
                ARRAY[{to_values}]) AS a(attribute, from_value, to_value)
            WHERE a.from_value IS DISTINCT FROM a.to_value
            RETURNING 1""").format(
        changes=_CHANGES,
        as_of=days.as_of,
        classifications=_CLASSIFICATIONS,
        attributes=SQL(", ").join(HISTORY_ATTRIBUTES),
        from_values=_columns("o.{0}::text", HISTORY_ATTRIBUTES),
        to_values=_columns("s.{0}", HISTORY_ATTRIBUTES),
    )
    basis_id = await _basis_id(session, t, cut, predicted.model)
    params = {
        "run_id": str(run_id) if run_id else None,
        "since": since,
        "basis_id": str(basis_id),
        "run_day": days.as_of if run_id else None,
    }
    # Each value cast to its column's type, in the table's order: what the insert needs no more work on.
    rows = _typed_rows(days.as_of, classified)
    if run_id is not None:
        # A run classifies every customer: by parallel workers, which an INSERT cannot use, into a table of the
        # customers to store (those that changed); its `ranked` reads no temporary table. The table's rows are
        # laid out as the classifications' (migration 0010_classifications_rebuilt): the insert copies them whole,
        # without taking them apart.
        await _parallel_query(session, True)
        await session.execute(_CLASSIFIED.format(rows=rows).clause, {**params, **(ranked_params or {})})
        await _parallel_query(session, False)
        rows = SQL("SELECT * FROM classified")
    else:
        params |= ranked_params or {}
    insert = SQL("""
            INSERT INTO {classifications} AS target ({columns})
            {rows} {on_conflict}""").format(
        classifications=_CLASSIFICATIONS,
        columns=SQL(", ").join(ident(name) for name, _ in _STORED),
        rows=rows,
        on_conflict=SQL("") if first else on_conflict,
    )
    if first:
        # Into an empty table, the primary key is built once after the rows, as a bulk load does
        # (docs/benchmarks.md). Readers of classifications wait for the run's commit meanwhile. Nothing to
        # record, and counted by the command tag rather than by returning every row.
        primary_key = ClassificationRow.__table__.primary_key
        await session.execute(DropConstraint(primary_key))
        stored = await session.execute(insert.clause, params)
        await session.execute(AddConstraint(primary_key))
        return {"customers": stored.rowcount, "changes": 0, "basis_id": basis_id}
    # Every part of one statement sees the classifications as they were before it: `recorded` reads the
    # states the stored rows had from there.
    statement = SQL("""
        WITH stored AS ({insert}
            RETURNING customer_id, {attributes}),
        recorded AS ({recorded})
        SELECT (SELECT count(*) FROM stored), (SELECT count(*) FROM recorded)""").format(
        insert=insert, attributes=_columns("{0}::text", HISTORY_ATTRIBUTES), recorded=recorded
    )
    row = (await session.execute(statement.clause, params)).one()
    return {"customers": row[0], "changes": row[1], "basis_id": basis_id}


_CLASSIFIED = SQL("CREATE TEMP TABLE classified ON COMMIT DROP AS {rows}")
_BASIS = SQL("""
        WITH basis AS (
            SELECT md5(jsonb_build_array(thresholds, cut_points, model)::text)::uuid AS id, thresholds, cut_points,
                   model
            FROM (SELECT CAST(:thresholds AS jsonb) AS thresholds, CAST(:cut_points AS jsonb) AS cut_points,
                         CAST(:model AS jsonb) AS model) v),
        basis_stored AS (
            INSERT INTO {bases} (id, thresholds, cut_points, model) SELECT * FROM basis
            ON CONFLICT (id) DO NOTHING)
        SELECT id FROM basis""").format(bases=_BASES)


async def _basis_id(session: AsyncSession, t: Thresholds, cut: CutPoints, model: ScoringModel | None) -> uuid.UUID:
    """The id of the basis (thresholds, cut points, model) classifications are stored with, stored once."""
    params = {
        "thresholds": json.dumps(t.model_dump(mode="json")),
        "cut_points": json.dumps(cut.as_json()),
        "model": json.dumps(model.as_json()) if model else None,
    }
    found: uuid.UUID = await session.scalar(_BASIS.clause, params)
    return found


def _typed_rows(as_of: date, classified: SQL) -> SQL:
    """The classified rows as the classifications table lays them out, each value cast to its column's type:
    what an insert copies whole. Binds :run_id and :basis_id."""
    values = {
        "as_of": literal(as_of),
        "run_id": SQL("CAST(:run_id AS uuid)"),
        "basis_id": SQL("CAST(:basis_id AS uuid)"),
        "classified_on": literal(as_of),
        "computed_at": SQL("clock_timestamp()"),
    }
    typed = SQL(", ").join(
        SQL("CAST({value} AS {type}) AS {name}").format(
            value=values.get(name, SQL("n.{}").format(ident(name))), type=type_, name=ident(name)
        )
        for name, type_ in _STORED
    )
    return SQL("SELECT {typed} FROM {classified}").format(typed=typed, classified=classified)


# The newest back-dated runs whose classifications are kept; older ones' are dropped.
PAST_RUNS_KEPT = 10
_RUNS, _PAST = ident(SCHEMA, "runs"), ident(SCHEMA, "past_classifications")
_LATEST_CURRENT_RUN_DAY = SQL("""
    SELECT as_of FROM {runs} WHERE status = 'succeeded' AND NOT back_dated ORDER BY finished_at DESC LIMIT 1""").format(
    runs=_RUNS
)
_STORE_PAST = SQL("INSERT INTO {past} SELECT * FROM classified").format(past=_PAST)
_DROP_OLDER_PAST = SQL("""
    DELETE FROM {past} WHERE run_id IN (
        SELECT id FROM {runs} WHERE back_dated AND id <> :run_id ORDER BY started_at DESC OFFSET :kept)""").format(
    past=_PAST, runs=_RUNS
)


async def _store_past(
    session: AsyncSession,
    t: Thresholds,
    cut: CutPoints,
    ranked: SQL,
    predicted: Predicted,
    run_id: uuid.UUID,
    ranked_params: dict[str, Any],
) -> dict[str, Any]:
    """A back-dated run's classifications, every customer's, into past_classifications under the run's id; the
    current classifications and their history are left alone. Then the oldest back-dated runs' beyond
    PAST_RUNS_KEPT are dropped."""
    basis_id = await _basis_id(session, t, cut, predicted.model)
    params = {"run_id": str(run_id), "basis_id": str(basis_id)}
    classified = SQL("({}) n").format(_classes_sql(t, cut, ranked, predicted))
    rows = _typed_rows(predicted.days.as_of, classified)
    await _parallel_query(session, True)  # as a run classifies, by parallel workers into a table first
    await session.execute(_CLASSIFIED.format(rows=rows).clause, params | ranked_params)
    await _parallel_query(session, False)
    stored = await session.execute(_STORE_PAST.clause)
    await session.execute(_DROP_OLDER_PAST.clause, {"run_id": run_id, "kept": PAST_RUNS_KEPT - 1})
    return {"customers": stored.rowcount, "changes": 0, "basis_id": basis_id}


async def classify_one(
    session: AsyncSession, customer_id: int, as_of: date, t: Thresholds, cut: CutPoints, model: ScoringModel | None
) -> dict[str, Any]:
    """The customer's classification as of `as_of` (a classifications row's columns), against `cut` and `model`
    as a run with them ranks and classifies him: from his facts alone, and stored nowhere. His prediction terms
    are read from the table, or computed here where it lacks them (a read writes nothing)."""
    days = Days(as_of, t.time_zone)
    him = _features_sql(days, t, ids=lambda column: SQL("{} = CAST(:customer_id AS bigint)").format(column))
    features = SQL("({})").format(him)
    params: dict[str, Any] = {"customer_id": customer_id}
    predicted = Predicted(model, days)
    if model is not None:
        pair = (await session.execute(predicted.pairs_sql(features).clause, params)).first()
        if pair is not None and not await fetch_terms(session, model, {(pair[0], pair[1])}):
            computed = tabulate(model, np.array([pair[0]]), np.array([pair[1]]))
            params |= {"terms_id": str(model.terms_id), "repeat_purchases": pair[0], "age_days": pair[1]}
            params |= {name: float(computed[name][0]) for name in TERMS}
            predicted = Predicted(model, days, terms=_ONE_PAIR_OF_TERMS)
    ranked, ranked_params = _ranked(cut, features, empty=SQL("false"))
    # Typed as stored: what a run stores of him, with no run and no basis.
    rows = _typed_rows(as_of, SQL("({}) n").format(_classes_sql(t, cut, ranked, predicted)))
    found = await session.execute(rows.clause, params | ranked_params | {"run_id": None, "basis_id": None})
    return dict(found.mappings().one())


# One customer's terms, computed by a read (bound), as a row of prediction_terms.
_ONE_PAIR_OF_TERMS = SQL("""(SELECT CAST(:terms_id AS uuid) AS terms_id,
    CAST(:repeat_purchases AS int) AS repeat_purchases, CAST(:age_days AS int) AS age_days,
    CAST(:purchases AS float8) AS purchases, CAST(:purchases_12m AS float8) AS purchases_12m,
    CAST(:discounted_purchases AS float8) AS discounted_purchases)""")
assert TERMS == ("purchases", "purchases_12m", "discounted_purchases"), "each term bound by its name"


async def cut_points_of_day(
    session: AsyncSession, as_of: date, t: Thresholds, model: ScoringModel | None
) -> tuple[CutPoints, int]:
    """The cut points a run as of `as_of` with `t` and `model` would derive (ABC ends, top N, matrix medians),
    and the customers it would classify: one set-based pass over every customer's facts, in this transaction,
    classifying no one. The model's missing terms are tabulated into the table, as a run's are."""
    days = await days_over_every_order(session, as_of, t.time_zone)
    await session.execute(SQL("SET LOCAL work_mem = {size}").format(size=RUN_WORK_MEM).clause)
    await aggregate_by_sorting(session)
    features = _features_sql(days, t)
    await session.execute(SQL("CREATE TEMP TABLE day_features ON COMMIT DROP AS {}").format(features).clause)
    await aggregate_by_sorting(session, on=False)
    predicted = Predicted(model, days)
    if model is not None:
        await ensure_terms(session, model, predicted.pairs_sql(SQL("day_features")))
    figures = ranking.Figures(SQL("day_features"), predicted.potential, predicted.join)
    found = await ranking.cut_values(session, figures, t.abc_a_share, t.abc_b_share, t.key_account_top_n)
    await session.execute(text("DROP TABLE day_features"))
    return CutPoints.of(t, found), found.customers


def _orders_sql(days: Days, t: Thresholds, subset: SQL) -> SQL:
    """Per customer with booked orders: orders and purchase days (orders of one day are one purchase, as the
    predictive model counts them), first and last order day, revenue per window, average order value, the
    spend of all purchase days but the first, and the first order day of the last lapsed_after_days days with
    the gap before it.

    The orders are first summed per customer and day, the one conversion of a timestamp per order; every
    window is a range of days. Cents are summed as float8: whole numbers below 2^53 add up exactly in a double,
    and a float8 sum is the cheapest aggregate Postgres has (its state passes by value); the sums are exact up
    to 90 trillion in any currency."""
    trend = t.trend_window_days
    return SQL("""
        SELECT customer_id, order_count, purchase_days, first_order_on, last_order_on,
               coalesce(revenue_cents, 0)::bigint * 0.01 AS revenue_12m,
               coalesce(recent_cents, 0)::bigint * 0.01 AS recent_revenue,
               coalesce(previous_cents, 0)::bigint * 0.01 AS previous_revenue,
               round(total_cents::bigint * 0.01 / order_count, 2) AS average_order_value,
               (total_cents::bigint - first_day % {scale}) * 0.01 AS repeat_spend,
               first_in_window, first_in_window - last_before_window AS comeback_gap
        FROM (SELECT customer_id, sum(orders)::int AS order_count, count(*)::int AS purchase_days,
                     min(day) AS first_order_on, max(day) AS last_order_on, sum(cents) AS total_cents,
                     sum(cents) FILTER (WHERE day >= {d} - 365) AS revenue_cents,
                     sum(cents) FILTER (WHERE day >= {d} - {recent}) AS recent_cents,
                     sum(cents) FILTER (WHERE day >= {d} - {previous} AND day < {d} - {recent}) AS previous_cents,
                     -- the first day's cents, carried by the smallest (day, cents): one pass, no sort
                     min({first_day}) AS first_day,
                     min(day) FILTER (WHERE day >= {d} - {lapsed}) AS first_in_window,
                     max(day) FILTER (WHERE day < {d} - {lapsed}) AS last_before_window
              FROM (SELECT customer_id, {day} AS day, count(*) AS orders,
                           sum(net_cents::float8) AS cents
                    FROM {orders} WHERE status = 'booked' AND ordered_at < {end} {subset}
                    GROUP BY customer_id, day) per_day
              GROUP BY customer_id) sums""").format(
        scale=FIRST_DAY_SCALE,
        d=days.as_of,
        recent=trend - 1,
        previous=2 * trend - 1,
        first_day=FIRST_DAY,
        lapsed=t.lapsed_after_days,
        day=days.local_date("ordered_at"),
        orders=_ORDERS,
        end=days.start(-1),
        subset=subset,
    )


def _billing_sql(days: Days, subset: SQL) -> SQL:
    """Per customer with invoices: how late he pays, overdue invoices of the last 12 months, dunning."""
    return SQL("""
        SELECT customer_id, count(*) AS invoices,
               round(avg(greatest(coalesce(paid_on, {d}) - due_on, 0))
                     FILTER (WHERE paid_on IS NOT NULL OR due_on < {d}), 1) AS average_days_late,
               count(*) FILTER (WHERE issued_on >= {d} - 365 AND due_on < {d}
                                  AND (paid_on IS NULL OR paid_on > due_on)) AS overdue_invoices_12m,
               max(dunning_level) AS max_dunning_level
        FROM {invoices} WHERE issued_on <= {d} {subset} GROUP BY customer_id""").format(
        d=days.as_of, invoices=_INVOICES, subset=subset
    )


def _features_sql(days: Days, t: Thresholds, ids: Ids | None = None) -> SQL:
    """Per customer: order, invoice and contact figures, and the lifecycle. `ids`: a condition on a customer
    id column that narrows every part to some customers.

    Reactivation needs no window over the orders: as reactivation_gap_days >= lapsed_after_days (Thresholds
    checks it), a gap that long can only end with the first order of the last lapsed_after_days days.
    """
    subset = SQL("AND {}").format(ids(SQL("customer_id"))) if ids else SQL("")
    # The ERP's estimate in the base currency; in a currency without a rate it cannot be compared: none.
    rate = Money.of(t).rate_sql("c.revenue_potential_currency")
    potential = SQL("round(c.revenue_potential * {rate}, 2)").format(rate=rate)
    return SQL("""
    WITH per_customer AS ({orders}),
    contacts AS (
        SELECT customer_id, count(*) AS interactions FROM {interactions}
        WHERE occurred_at < {end} {subset} GROUP BY customer_id
    ),
    billing AS ({billing}),
    joined AS (
        SELECT c.id AS customer_id, c.external_id, c.key_account AS erp_key_account,
               {potential} IS NOT NULL AS potential_estimated, {potential} AS potential_estimate,
               coalesce(p.order_count, 0) AS order_count, coalesce(p.purchase_days, 0) AS purchase_days,
               coalesce(p.repeat_spend, 0) AS repeat_spend, p.first_order_on, p.last_order_on,
               coalesce(p.revenue_12m, 0) AS revenue_12m, coalesce(p.recent_revenue, 0) AS recent_revenue,
               coalesce(p.previous_revenue, 0) AS previous_revenue, p.average_order_value, p.first_in_window,
               p.comeback_gap,
               coalesce(ct.interactions, 0)::int AS interactions, coalesce(b.invoices, 0)::int AS invoices,
               b.average_days_late, coalesce(b.overdue_invoices_12m, 0)::int AS overdue_invoices_12m,
               coalesce(b.max_dunning_level, 0)::smallint AS max_dunning_level
        FROM {customers} c
        LEFT JOIN per_customer p ON p.customer_id = c.id
        LEFT JOIN contacts ct ON ct.customer_id = c.id
        LEFT JOIN billing b ON b.customer_id = c.id
        {where}
    )
    SELECT j.*,
           CASE WHEN comeback_gap > {gap} THEN first_in_window END AS reactivated_on,
           CASE WHEN comeback_gap > {gap} THEN comeback_gap END AS reactivation_gap_days,
           CASE WHEN order_count = 0 THEN 'prospect'
                WHEN {d} - first_order_on <= {new} THEN 'new'
                WHEN {d} - last_order_on > {lapsed} THEN 'lapsed'
                WHEN comeback_gap > {gap} THEN 'reactivated'
                ELSE 'active' END AS lifecycle,
           order_count > 0 AND {d} - last_order_on <= {lapsed} AS in_active_base
    FROM joined j""").format(
        orders=_orders_sql(days, t, subset),
        interactions=_INTERACTIONS,
        end=days.start(-1),
        subset=subset,
        billing=_billing_sql(days, subset),
        potential=potential,
        customers=_CUSTOMERS,
        where=SQL("WHERE {}").format(ids(SQL("c.id"))) if ids else SQL(""),
        gap=t.reactivation_gap_days,
        d=days.as_of,
        new=t.new_customer_days,
        lapsed=t.lapsed_after_days,
    )


_PREDICTION_TERMS = ident(SCHEMA, "prediction_terms")
# The columns of a features row `f` the predictive model reads.
_REPEAT_PURCHASES = SQL("(f.purchase_days - 1)")


@dataclass(frozen=True)
class Predicted:
    """The predictive model's share of a classification, as SQL over a features row `f` (order_count,
    purchase_days, first/last_order_on, repeat_spend, revenue_12m, potential_estimate): the join to the
    tabulated terms, the probability alive and the potential. Without a model: the rules alone."""

    model: ScoringModel | None
    days: Days
    # Where the terms are read: the table runs and ingests fill, or the few a read computed (as a subquery).
    terms: SQL = _PREDICTION_TERMS

    @property
    def join(self) -> SQL:
        if self.model is None:
            return SQL("")
        return SQL("""LEFT JOIN {terms} pt ON pt.terms_id = {terms_id}
                   AND pt.repeat_purchases = f.purchase_days - 1
                   AND pt.age_days = {as_of} - f.first_order_on""").format(
            terms=self.terms, terms_id=str(self.model.terms_id), as_of=self.days.as_of
        )

    def pairs_sql(self, features: SQL) -> SQL:
        """The (repeat purchases, age) pairs the customers of `features` (a table or subquery) need terms for."""
        return SQL("""SELECT purchase_days - 1 AS repeat_purchases, {as_of} - first_order_on AS age_days
                   FROM {features} f WHERE order_count > 0""").format(as_of=self.days.as_of, features=features)

    @property
    def probability_alive(self) -> SQL:
        assert self.model is not None
        age = SQL("({} - f.first_order_on)").format(self.days.as_of)
        return probability_alive_sql(self.model, _REPEAT_PURCHASES, SQL("(f.last_order_on - f.first_order_on)"), age)

    @property
    def potential(self) -> SQL:
        """The matrix's potential: the estimate, else the predicted 12-month revenue, else (no model) the revenue."""
        if self.model is None:
            return SQL("coalesce(f.potential_estimate, f.revenue_12m)")
        spend = expected_spend_sql(self.model, _REPEAT_PURCHASES, SQL("f.repeat_spend"))
        predicted = SQL("round(({alive} * pt.purchases_12m * {spend})::numeric, 2)").format(
            alive=self.probability_alive, spend=spend
        )
        return SQL(
            "coalesce(f.potential_estimate, CASE WHEN f.order_count > 0 THEN {predicted} END, f.revenue_12m)"
        ).format(predicted=predicted)

    @property
    def stored_potential(self) -> SQL:
        """A predicted potential moves every day: it is not stored but computed when read (predictive.scoring)."""
        if self.model is None:
            return SQL("coalesce(f.potential_estimate, f.revenue_12m)")
        return SQL("coalesce(f.potential_estimate, CASE WHEN f.order_count = 0 THEN f.revenue_12m END)")

    @property
    def unlikely_alive(self) -> SQL:
        if self.model is None:
            return SQL("false")
        threshold = Decimal(str(self.model.at_risk_probability_alive))
        return SQL("{} < {}").format(self.probability_alive, threshold)


def _classes_sql(t: Thresholds, cut: CutPoints, ranked: SQL, predicted: Predicted) -> SQL:
    """Every classification and its figures from `ranked`, in the column order of FIGURES."""
    payment = SQL("""CASE WHEN max_dunning_level >= {dunning}
                         OR average_days_late > {prepayment_days} THEN 'prepayment_only'
                       WHEN average_days_late > {late_days}
                         OR overdue_invoices_12m >= {late_invoices} THEN 'late'
                       ELSE 'punctual' END""").format(
        dunning=t.prepayment_dunning_level,
        prepayment_days=t.prepayment_average_days,
        late_days=t.late_average_days,
        late_invoices=t.late_overdue_invoices,
    )
    quadrant = SQL("""CASE WHEN NOT in_active_base THEN NULL
                        WHEN revenue_12m >= {revenue_split} AND potential >= {potential_split} THEN 'top'
                        WHEN revenue_12m >= {revenue_split} THEN 'premium'
                        WHEN potential >= {potential_split} THEN 'development'
                        ELSE 'small' END""").format(
        revenue_split=cut.matrix_revenue_split, potential_split=cut.matrix_potential_split
    )
    trend = SQL("""CASE WHEN unlikely_alive
                       OR previous_revenue > 0 AND recent_revenue <= {sharp_fall} * previous_revenue
                     THEN 'at_risk'
                     WHEN recent_revenue > 0 AND recent_revenue >= {growth} * previous_revenue
                     THEN 'growth' ELSE 'maturity' END""").format(sharp_fall=t.sharp_fall_ratio, growth=t.growth_ratio)
    return SQL("""
    SELECT customer_id, lifecycle,
           CASE WHEN order_count >= 3 THEN 'Z4' WHEN order_count = 2 THEN 'Z3' WHEN order_count = 1 THEN 'Z2'
                WHEN interactions > 0 THEN 'Z1' ELSE 'Z0' END AS z_stage,
           abc, erp_key_account OR in_top_n OR coalesce(revenue_12m >= {min_revenue}, false) AS key_account,
           {payment} AS payment, {quadrant} AS quadrant,
           CASE lifecycle WHEN 'prospect' THEN 'acquisition' WHEN 'new' THEN 'onboarding'
                          WHEN 'lapsed' THEN 'win_back' ELSE {trend} END AS phase,
           order_count, revenue_12m, average_order_value,
           coalesce(average_order_value < {minimum}, false) AS below_minimum_order_value,
           stored_potential AS potential, first_order_on, last_order_on, recent_revenue, previous_revenue,
           reactivated_on, reactivation_gap_days, interactions, invoices, average_days_late, overdue_invoices_12m,
           max_dunning_level, erp_key_account, potential_estimated, in_top_n, purchase_days, repeat_spend
    FROM (SELECT f.*, {potential} AS potential, {stored_potential} AS stored_potential,
                 {unlikely_alive} AS unlikely_alive
          FROM {ranked} f {join}) classified""").format(
        min_revenue=t.key_account_min_revenue,
        payment=payment,
        quadrant=quadrant,
        trend=trend,
        minimum=t.minimum_order_value,
        potential=predicted.potential,
        stored_potential=predicted.stored_potential,
        unlikely_alive=predicted.unlikely_alive,
        ranked=ranked,
        join=predicted.join,
    )
