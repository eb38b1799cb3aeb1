"""Fitting the predictive models as a job: the summary is read in SQL, the optimiser runs in a worker thread
(so the API stays responsive), and only a fit that succeeds becomes the current model."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import asdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from segmentation.classification.repository import latest_succeeded_run
from segmentation.company.repository import load_thresholds
from segmentation.company.service import today
from segmentation.predictive import model, repository
from segmentation.predictive.errors import FitNotFound, NoModelYet, NoScoredRun
from segmentation.predictive.models import FitRow
from segmentation.predictive.schemas import Fit, PredictedWeek, WeeklyPurchases
from segmentation.predictive.scoring import ScoringModel

logger = logging.getLogger("segmentation.predictive")


async def start_fit(
    sessions: async_sessionmaker[AsyncSession], calibration_end: date | None, holdout_end: date | None = None
) -> tuple[Fit, asyncio.Task[None]]:
    """Register a fit (committed at once) and compute it in a background task."""
    async with sessions() as session, session.begin():
        thresholds = await load_thresholds(session)
        row = FitRow(
            calibration_end=calibration_end or today(thresholds),
            holdout_end=holdout_end,
            time_zone=thresholds.time_zone,
        )
        session.add(row)
        await session.flush()
        await session.refresh(row)
        fit = Fit.model_validate(row)
    return fit, asyncio.create_task(_execute(sessions, fit), name=f"predictive-fit-{fit.id}")


def _fit_both(summary: model.Summary, holdout: tuple[float, np.ndarray] | None) -> dict[str, Any]:
    """Both models on one summary, and the holdout check with (weeks, actual purchases); for a worker thread."""
    purchases = model.fit_bgnbd(summary.frequency, summary.recency, summary.age)
    spend = model.fit_gamma_gamma(summary.frequency, summary.monetary)
    result: dict[str, Any] = {
        "purchases": {
            **asdict(purchases.params),
            "log_likelihood": purchases.log_likelihood,
            "customers": purchases.n_customers,
            "converged": purchases.converged,
        },
        "spend": {
            **asdict(spend.params),
            "log_likelihood": spend.log_likelihood,
            "customers": spend.n_customers,
            "converged": spend.converged,
        },
    }
    if holdout is not None:
        weeks, actual = holdout
        expected = model.expected_purchases(purchases.params, summary.frequency, summary.recency, summary.age, weeks)
        group = np.minimum(summary.frequency, HOLDOUT_GROUPS - 1).astype(int)
        result["holdout"] = {
            "weeks": weeks,
            "actual_purchases": float(actual.sum()),
            "expected_purchases": float(expected.sum()),
            "by_calibration_purchases": [
                {
                    "calibration_purchases": str(g) if g < HOLDOUT_GROUPS - 1 else f"{g}+",
                    "customers": int((group == g).sum()),
                    "actual_mean": float(actual[group == g].mean()),
                    "expected_mean": float(expected[group == g].mean()),
                }
                for g in range(HOLDOUT_GROUPS)
                if (group == g).any()
            ],
        }
    return result


HOLDOUT_GROUPS = 8  # 0 .. 6 repeat purchases, and 7 or more: as the paper's conditional-expectation chart


async def _execute(sessions: async_sessionmaker[AsyncSession], fit: Fit) -> None:
    values: dict[str, Any] = {}
    try:
        summary = await _summary(sessions, fit.calibration_end, fit.time_zone)
        async with sessions() as session:
            holdout = None
            if fit.holdout_end is not None:
                actual = await repository.purchase_days_between(
                    session, summary.customer_ids, fit.calibration_end, fit.holdout_end, fit.time_zone
                )
                holdout = ((fit.holdout_end - fit.calibration_end).days / model.DAYS_PER_WEEK, actual)
        values = {"customers": int(summary.frequency.size), "repeat_customers": int((summary.frequency > 0).sum())}
        values |= {**await asyncio.to_thread(_fit_both, summary, holdout), "status": "succeeded"}
    except model.PredictiveModelError as exc:  # too little history, or no finite estimate: said plainly
        values |= {"status": "failed", "error": str(exc)}
    except Exception as exc:
        logger.exception("predictive fit %s failed", fit.id)
        values |= {"status": "failed", "error": f"the fit failed unexpectedly ({type(exc).__name__})"}
    except asyncio.CancelledError:
        values |= {"status": "failed", "error": "interrupted: the service stopped"}
        await _finish(sessions, fit.id, values)
        raise
    await _finish(sessions, fit.id, values)


async def _summary(sessions: async_sessionmaker[AsyncSession], calibration_end: date, time_zone: str) -> model.Summary:
    """The customers in two halves by id, summed on two connections at once (two cores), as a run does."""
    async with sessions() as session:
        middle = await repository.middle_customer_id(session)

    async def half(above: int | None, up_to: int | None) -> model.Summary:
        async with sessions() as session:
            return await repository.summary(session, calibration_end, time_zone, above=above, up_to=up_to)

    lower, upper = await asyncio.gather(half(None, middle), half(middle, None))
    return repository.concatenate(lower, upper)


async def _finish(sessions: async_sessionmaker[AsyncSession], fit_id: uuid.UUID, values: dict[str, Any]) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(FitRow).where(FitRow.id == fit_id).values(finished_at=text("clock_timestamp()"), **values)
        )


# A fit of a million customers takes seconds; one still running after this long lost its process (a fit's
# task ends its row itself however it fails, unless the process dies).
FIT_GIVEN_UP_AFTER = timedelta(hours=1)


async def end_abandoned_fits(session: AsyncSession) -> None:
    """Fits still `running` long after they began are ended `failed`: their process stopped."""
    await session.execute(
        update(FitRow)
        .where(FitRow.status == "running", FitRow.started_at < func.now() - FIT_GIVEN_UP_AFTER)
        .values(status="failed", error="interrupted: the process fitting it stopped", finished_at=func.now())
    )


async def get_fit(session: AsyncSession, fit_id: uuid.UUID) -> Fit:
    await end_abandoned_fits(session)
    row = await session.get(FitRow, fit_id)
    if row is None:
        raise FitNotFound(fit_id)
    return Fit.model_validate(row)


async def list_fits(session: AsyncSession, limit: int) -> list[Fit]:
    await end_abandoned_fits(session)
    rows = await session.scalars(select(FitRow).order_by(FitRow.started_at.desc(), FitRow.id).limit(limit))
    return [Fit.model_validate(row) for row in rows]


async def newest_model(session: AsyncSession) -> Fit | None:
    """The newest succeeded fit: a failed one never replaces it."""
    row = await session.scalar(
        select(FitRow).where(FitRow.status == "succeeded").order_by(FitRow.finished_at.desc()).limit(1)
    )
    return None if row is None else Fit.model_validate(row)


async def current_model(session: AsyncSession) -> Fit:
    fit = await newest_model(session)
    if fit is None:
        raise NoModelYet()
    return fit


async def weekly_purchases(session: AsyncSession, from_date: date, weeks: int) -> WeeklyPurchases:
    """The customers' expected purchases in each of `weeks` weeks from `from_date` (a Monday), under the model
    the last run scored with: per customer P(alive) * (P(t_end) - P(t_start)) with P = purchases if alive,
    t counted from the day his classification holds for (days before it count nothing)."""
    run = await latest_succeeded_run(session)
    m = ScoringModel.from_json(run.model) if run else None
    if run is None or m is None or run.snapshot_at is None:
        raise NoScoredRun()
    groups = await repository.alive_by_history(session, m, run.as_of, run.snapshot_at)
    starts = [from_date + timedelta(days=7 * k) for k in range(weeks + 1)]
    expected = np.zeros(weeks)
    customers = 0
    if groups:
        x, age, as_of, count, alive = (np.array(column) for column in zip(*groups, strict=True))
        customers = int(count.sum())
        age_weeks = age.astype(np.float64) / model.DAYS_PER_WEEK
        offsets = np.array([(d - a).days for a in as_of.tolist() for d in starts]).reshape(len(as_of), weeks + 1)
        t = np.maximum(offsets, 0) / model.DAYS_PER_WEEK  # weeks after each group's day, 0 before it
        cumulative = np.stack(
            [model.purchases_if_alive(m.purchases, x.astype(np.float64), age_weeks, t[:, k]) for k in range(weeks + 1)],
            axis=1,
        )
        expected = np.diff(cumulative, axis=1).T @ alive.astype(np.float64)
    return WeeklyPurchases(
        fit_id=m.fit_id,
        fitted_at=m.fitted_at,
        as_of=run.as_of,
        customers=customers,
        weeks=[
            PredictedWeek(week_start=monday, iso_week=_iso_week(monday), expected_orders=Decimal(f"{value:.1f}"))
            for monday, value in zip(starts[:-1], expected.tolist(), strict=True)
        ],
    )


def _iso_week(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"
