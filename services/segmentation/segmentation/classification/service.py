"""Segmentation runs: every customer classified in one set-based pass, in the background, as of a day."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from segmentation.classification import compute, repository
from segmentation.classification.errors import RunNotFound
from segmentation.classification.live import today
from segmentation.classification.models import BasisRow, ClassificationRow
from segmentation.classification.reasons import explain
from segmentation.classification.schemas import (
    Bucket,
    Change,
    Classification,
    Flow,
    FlowReport,
    ModelUsed,
    Predictions,
    Profile,
    ProfileFilters,
    Run,
    Summary,
    Thresholds,
    WeeklyOrders,
    WeekOfOrders,
)
from segmentation.customers.errors import CustomerNotFound
from segmentation.customers.service import to_schema as customer_schema
from segmentation.predictive import scoring
from segmentation.predictive import service as predictive
from segmentation.predictive.scoring import ScoringModel
from segmentation.readcache import WriteOnceCache
from servicekit.db import ReadPool
from servicekit.errors import BadRequest
from servicekit.pagination import Page, decode_cursor, encode_cursor

logger = logging.getLogger("segmentation.runs")


async def get_thresholds(session: AsyncSession) -> Thresholds:
    return await repository.load_thresholds(session)


async def put_thresholds(sessions: async_sessionmaker[AsyncSession], thresholds: Thresholds) -> bool:
    """Store the thresholds (committed on return); whether the time zone changed, which the orders' index of
    days follows (day_index)."""
    async with sessions() as session, session.begin():
        before = await repository.load_thresholds(session)
        await repository.save_thresholds(session, thresholds)
    return before.time_zone != thresholds.time_zone


async def start_run(sessions: async_sessionmaker[AsyncSession], as_of: date | None) -> tuple[Run, asyncio.Task[None]]:
    """Register a run (committed at once) and compute it in a background task."""
    async with sessions() as session, session.begin():
        thresholds = await repository.load_thresholds(session)
        row = await repository.create_run(session, as_of or today(thresholds), thresholds)
        run = Run.model_validate(row)
    task = asyncio.create_task(_execute(sessions, run.id, run.as_of, thresholds), name=f"segmentation-run-{run.id}")
    return run, task


async def _execute(sessions: async_sessionmaker[AsyncSession], run_id: uuid.UUID, as_of: date, t: Thresholds) -> None:
    async def step(phase: str, progress: int) -> None:  # outside the run's transaction, so it shows at once
        async with sessions() as progress_session, progress_session.begin():
            await repository.set_progress(progress_session, run_id, phase, progress)

    try:
        async with sessions() as session, session.begin():
            fit = await predictive.newest_model(session)
            model = ScoringModel.of(fit, t) if fit else None  # without one, the rules alone (at risk, potential)
            result = await compute.classify_all(session, run_id, as_of, t, step, other_connection=sessions, model=model)
            await repository.finish_run(session, run_id, status="succeeded", phase="done", progress=100, **result)
        logger.info("segmentation run %s as of %s: %s customers", run_id, as_of, result["customers"])
    except (Exception, asyncio.CancelledError) as exc:
        logger.exception("segmentation run %s failed", run_id)
        reason = "interrupted: the service stopped" if isinstance(exc, asyncio.CancelledError) else type(exc).__name__
        async with sessions() as session, session.begin():
            await repository.finish_run(session, run_id, status="failed", error=reason)
        if isinstance(exc, asyncio.CancelledError):
            raise


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> Run:
    row = await repository.get_run(session, run_id)
    if row is None:
        raise RunNotFound(run_id)
    return Run.model_validate(row)


async def list_runs(session: AsyncSession, limit: int) -> list[Run]:
    return [Run.model_validate(row) for row in await repository.list_runs(session, limit)]


async def _classifications(
    session: AsyncSession, rows: list[ClassificationRow | None], latest_run_id: uuid.UUID | None
) -> list[Classification | None]:
    """The API's view of stored classifications: each as of the day it holds for, with its predictions and
    reasons. `latest_run_id`: the latest run's id (a profile reads it with the row, in the same query).

    A run stores only the customers that changed; those it left alone hold as of the run's day, with the
    run's thresholds, cut points and model.
    """
    latest = await _run(session, latest_run_id)

    def confirmed_by_run(row: ClassificationRow) -> bool:
        return bool(latest and latest.snapshot_at and row.computed_at < latest.snapshot_at)

    wanted = {latest.basis_id} if latest and latest.basis_id else set()
    wanted |= {row.basis_id for row in rows if row is not None and row.basis_id and not confirmed_by_run(row)}
    bases = await _bases(session, wanted)
    fallback = bases.get(latest.basis_id, NO_BASIS) if latest and latest.basis_id else NO_BASIS
    shown: list[tuple[ClassificationRow, date, Basis] | None] = []
    for row in rows:
        if row is None:
            shown.append(None)
            continue
        confirmed = confirmed_by_run(row)
        as_of = latest.as_of if confirmed and latest else row.as_of
        basis = fallback if confirmed else bases.get(row.basis_id, fallback) if row.basis_id else fallback
        shown.append((row, as_of, basis))
    predictions = await _predictions(session, [s for s in shown if s is not None])
    result: list[Classification | None] = []
    for entry in shown:
        if entry is None:
            result.append(None)
            continue
        row, as_of, basis = entry
        predicted = predictions.get(row.customer_id)
        figures = {name: getattr(row, name) for name in Classification.model_fields
                   if name not in ("as_of", "reasons", "predictions")}  # fmt: skip
        if figures["potential"] is None and predicted is not None:
            figures["potential"] = predicted.predicted_revenue_12m
        reasons = explain(row, as_of, basis.thresholds, basis.cut, predicted)
        result.append(Classification(**figures, as_of=as_of, predictions=predicted, reasons=reasons))
    return result


@dataclass(frozen=True)
class Basis:
    thresholds: Thresholds
    cut: compute.CutPoints
    model: ScoringModel | None

    @classmethod
    def of(cls, row: BasisRow) -> Basis:
        return cls(Thresholds.stored(row.thresholds), compute.CutPoints.from_json(row.cut_points),
                   ScoringModel.from_json(row.model))  # fmt: skip


NO_BASIS = Basis(Thresholds(), compute.CutPoints.from_json({}), None)  # before any run: the defaults


@dataclass(frozen=True)
class FinishedRun:
    """What reads need of a succeeded run (which never changes again)."""

    as_of: date
    snapshot_at: datetime | None
    basis_id: uuid.UUID | None
    model: ScoringModel | None


FINISHED_RUNS: WriteOnceCache[uuid.UUID, FinishedRun] = WriteOnceCache(1000)
BASES: WriteOnceCache[uuid.UUID, Basis] = WriteOnceCache(1000)
# A model's terms per (repeat purchases, age in days): about 70,000 pairs at a million customers, 20 MB.
TERMS: WriteOnceCache[tuple[uuid.UUID, int, int], tuple[float, float, float]] = WriteOnceCache(100_000)


async def _run(session: AsyncSession, run_id: uuid.UUID | None) -> FinishedRun | None:
    """A succeeded run, from this process's cache when it was read before."""
    if run_id is None:
        return None
    if (run := FINISHED_RUNS.get(run_id)) is None:
        row = await repository.get_run(session, run_id)
        assert row is not None, "the id was read in this transaction, among the succeeded runs"
        run = FinishedRun(row.as_of, row.snapshot_at, row.basis_id, ScoringModel.from_json(row.model))
        FINISHED_RUNS.put(run_id, run)
    return run


async def _bases(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, Basis]:
    found = {basis_id: basis for basis_id in ids if (basis := BASES.get(basis_id)) is not None}
    for basis_id, row in (await repository.bases(session, ids - found.keys())).items():
        found[basis_id] = Basis.of(row)
        BASES.put(basis_id, found[basis_id])
    return found


def _inputs(row: Any, as_of: date) -> scoring.Inputs | None:
    """What a customer's predictions rest on, from his stored classification; None for prospects."""
    if row.first_order_on is None or not row.purchase_days:
        return None
    return scoring.Inputs(
        purchase_days=row.purchase_days,
        recency_days=(row.last_order_on - row.first_order_on).days,
        age_days=(as_of - row.first_order_on).days,
        repeat_spend=row.repeat_spend,
    )


async def _score(
    session: AsyncSession, model: ScoringModel, inputs: dict[int, scoring.Inputs]
) -> dict[int, dict[str, float]]:
    """Each customer's predictions under `model`, from the terms of his (repeat purchases, age). Terms that no
    run or ingest tabulated (an old classification's day) are computed here, not stored: a read writes nothing."""
    pairs = {(i.repeat_purchases, i.age_days) for i in inputs.values()}
    terms_id = model.terms_id
    terms = {pair: found for pair in pairs if (found := TERMS.get((terms_id, *pair))) is not None}
    if unknown := pairs - terms.keys():
        fetched = await scoring.fetch_terms(session, model, unknown)
        if missing := sorted(unknown - fetched.keys()):
            computed = scoring.tabulate(model, *(np.array(column) for column in zip(*missing, strict=True)))
            fetched |= {pair: tuple(float(computed[k][i]) for k in scoring.TERMS) for i, pair in enumerate(missing)}
        for pair, found in fetched.items():
            TERMS.put((terms_id, *pair), found)
        terms |= fetched
    return {
        customer_id: scoring.predict(model, customer, terms[(customer.repeat_purchases, customer.age_days)])
        for customer_id, customer in inputs.items()
    }


async def _predictions(
    session: AsyncSession, shown: list[tuple[ClassificationRow, date, Basis]]
) -> dict[int, Predictions]:
    """Each shown customer's predictions under the model he was classified with."""
    wanted: dict[ScoringModel, dict[int, scoring.Inputs]] = {}
    for row, as_of, basis in shown:
        if basis.model is not None and (inputs := _inputs(row, as_of)) is not None:
            wanted.setdefault(basis.model, {})[row.customer_id] = inputs
    found: dict[int, Predictions] = {}
    for model, inputs in wanted.items():
        for customer_id, figures in (await _score(session, model, inputs)).items():
            found[customer_id] = Predictions(
                probability_alive=round(figures["probability_alive"], 6),
                expected_purchases=round(figures["expected_purchases"], 6),
                horizon_months=model.horizon_months,
                expected_order_value=_money(figures["expected_order_value"]),
                predicted_revenue_12m=_money(figures["predicted_revenue_12m"]),
                clv=_money(figures["clv"]),
                clv_horizon_months=model.clv_horizon_months,
                margin=model.margin,
                annual_discount_rate=model.annual_discount_rate,
                model=ModelUsed(
                    fit_id=model.fit_id, fitted_at=model.fitted_at, calibration_end=model.calibration_end,
                    purchases=asdict(model.purchases), spend=asdict(model.spend),
                ),
            )  # fmt: skip
    return found


def _money(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.01"))


async def get_profile(session: AsyncSession, external_id: str) -> Profile:
    found = await repository.get_classification(session, external_id)
    if found is None:
        raise CustomerNotFound(external_id)
    customer, classification, latest_run_id = found
    shown = (await _classifications(session, [classification], latest_run_id))[0]
    return Profile(customer=customer_schema(customer), classification=shown)


class _NotCached(Exception):
    """A read served from this process's caches needed something they do not hold yet."""


class _CachesOnly:
    """Stands in for the session where a read is to be answered from this process's caches alone: any use of
    it means something was not cached yet (the first reads after a run or a fit)."""

    def __getattr__(self, name: str) -> Any:
        raise _NotCached(name)


async def read_profile(pool: ReadPool, sessions: async_sessionmaker[AsyncSession], external_id: str) -> Profile:
    """get_profile, for the hottest read: one statement on the read pool, the run, basis and model terms from
    this process's caches; only when those miss something, the whole profile again through a session."""
    found = await repository.read_classification(pool, external_id)
    if found is None:
        raise CustomerNotFound(external_id)
    customer, classification, latest_run_id = found
    try:
        shown = (await _classifications(_CachesOnly(), [classification], latest_run_id))[0]  # type: ignore[arg-type]
    except _NotCached:
        async with sessions() as session:
            return await get_profile(session, external_id)
    return Profile(customer=customer_schema(customer), classification=shown)  # type: ignore[arg-type]


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
        for attribute in compute.HISTORY_ATTRIBUTES
        if attribute not in recorded_first
    ]  # fmt: skip
    return [c for c in first if c.to_value is not None] + changes


async def flow_report(session: AsyncSession, attribute: str, from_date: date, to_date: date) -> FlowReport:
    if to_date < from_date:
        raise BadRequest("to_date must not be before from_date.")
    rows = await repository.flows(session, attribute, from_date, to_date)
    flows = [Flow(from_value=f, to_value=t, customers=n) for f, t, n in rows]
    return FlowReport(attribute=attribute, from_date=from_date, to_date=to_date, flows=flows)  # type: ignore[arg-type]


async def get_summary(session: AsyncSession) -> Summary:
    groups: dict[str, dict[str, Bucket]] = {a: {} for a in repository.SUMMARY_ATTRIBUTES}
    total = Bucket(customers=0, revenue_12m=Decimal(0))
    as_of = None
    for attribute, state, customers, revenue, newest in await repository.summary(session):
        if attribute is None:
            total, as_of = Bucket(customers=customers, revenue_12m=revenue), newest
        elif state is not None:  # customers without a quadrant are not a state of the matrix
            groups[attribute][state] = Bucket(customers=customers, revenue_12m=revenue)
    return Summary(as_of=as_of, customers=total.customers, revenue_12m=total.revenue_12m, **groups)


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
    shown = await _classifications(session, [k for _, k in rows[:limit]], await repository.latest_run_id(session))
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


AUDIENCE_BATCH = 5000


# Predicted figures in each audience line: what campaigns score members by. Null without a model or orders.
AUDIENCE_PREDICTIONS = ("probability_alive", "expected_purchases", "expected_order_value", "predicted_revenue_12m",
                        "clv")  # fmt: skip


async def audience_lines(sessions: async_sessionmaker[AsyncSession], filters: ProfileFilters) -> AsyncIterator[bytes]:
    """The matching customers as NDJSON, streamed from a server-side cursor (never all in memory), each with
    his predictions under the last run's model (the terms are read on a second connection, batch by batch)."""
    async with sessions() as session, session.begin(), sessions() as terms_session:
        latest = await _run(session, await repository.latest_run_id(session))
        model = latest.model if latest else None
        result = await session.stream(repository.audience_query(filters).execution_options(yield_per=AUDIENCE_BATCH))
        async for partition in result.partitions():
            members = [dict(row._mapping) for row in partition]
            facts = [
                SimpleNamespace(last_order_on=m["last_order_on"], **{k: m.pop(k) for k in repository.PREDICTION_INPUTS})
                for m in members
            ]
            scored: dict[int, dict[str, float]] = {}
            if model is not None:
                inputs = {f.customer_id: i for f in facts if (i := _inputs(f, _as_of(f, latest))) is not None}
                scored = await _score(terms_session, model, inputs) if inputs else {}
            lines = []
            for member, fact in zip(members, facts, strict=True):
                figures = scored.get(fact.customer_id)
                for name in AUDIENCE_PREDICTIONS:
                    member[name] = None if figures is None else _rounded(name, figures[name])
                if member["potential"] is None and figures is not None:
                    member["potential"] = member["predicted_revenue_12m"]
                lines.append(json.dumps(member, default=_json_value) + "\n")
            yield "".join(lines).encode()


def _as_of(row: Any, latest: Any) -> date:
    """The day a stored classification holds for: the last run's, if the run confirmed it."""
    confirmed = latest is not None and latest.snapshot_at is not None and row.computed_at < latest.snapshot_at
    return latest.as_of if confirmed else row.as_of


def _rounded(name: str, value: float) -> float | Decimal:
    return round(value, 6) if name in ("probability_alive", "expected_purchases") else _money(value)


def _json_value(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


async def weekly_orders(session: AsyncSession, filters: ProfileFilters, from_date: date, to_date: date) -> WeeklyOrders:
    if to_date <= from_date:
        raise BadRequest("to_date must be after from_date.")
    if (to_date - from_date).days > 3 * 366:
        raise BadRequest("At most three years of weeks at once.")
    thresholds = await repository.load_thresholds(session)
    start = datetime.combine(from_date, datetime.min.time(), thresholds.zone)
    end = datetime.combine(to_date, datetime.min.time(), thresholds.zone)
    weeks_found = await repository.weekly_orders(session, filters, start, end, thresholds.time_zone)
    counted = {row[0].date(): (int(row[1]), row[2]) for row in weeks_found}
    members = await repository.count_matching(session, filters)
    monday = from_date - timedelta(days=from_date.weekday())
    weeks = []
    while monday < to_date:
        orders, amount = counted.get(monday, (0, Decimal("0.00")))
        year, week, _ = monday.isocalendar()
        weeks.append(WeekOfOrders(week_start=monday, iso_week=f"{year}-W{week:02d}", orders=orders, net_amount=amount))
        monday += timedelta(days=7)
    return WeeklyOrders(from_date=from_date, to_date=to_date, customers=members, weeks=weeks)
