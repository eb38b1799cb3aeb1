"""Fitting the predictive models as a job: the summary is read in SQL, the optimiser runs in a worker thread
(so the API stays responsive), and only a fit that succeeds becomes the current model."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from segmentation.classification.live import today
from segmentation.classification.repository import load_thresholds
from segmentation.predictive import model, repository
from segmentation.predictive.errors import FitNotFound, NoModelYet
from segmentation.predictive.models import FitRow
from segmentation.predictive.schemas import Fit

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
        "purchases": {**asdict(purchases.params), "log_likelihood": purchases.log_likelihood,
                      "customers": purchases.n_customers, "converged": purchases.converged},
        "spend": {**asdict(spend.params), "log_likelihood": spend.log_likelihood,
                  "customers": spend.n_customers, "converged": spend.converged},
    }  # fmt: skip
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

    async def half(customers: str) -> model.Summary:
        async with sessions() as session:
            return await repository.summary(session, calibration_end, time_zone, customers)

    lower, upper = await asyncio.gather(half(f"<= {middle}"), half(f"> {middle}"))
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
