"""Segmentation runs: every customer classified in one set-based pass, in the background, as of a day."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from segmentation.classification import compute, daycuts, repository
from segmentation.classification.errors import RunNotFound
from segmentation.classification.schemas import Run
from segmentation.company.repository import load_thresholds
from segmentation.company.schemas import Thresholds
from segmentation.company.service import today
from segmentation.predictive import service as predictive
from segmentation.predictive.scoring import ScoringModel

logger = logging.getLogger("segmentation.runs")


async def start_run(sessions: async_sessionmaker[AsyncSession], as_of: date | None) -> tuple[Run, asyncio.Task[None]]:
    """Register a run (committed at once) and compute it in a background task."""
    async with sessions() as session, session.begin():
        thresholds = await load_thresholds(session)
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
        return
    try:  # the run has succeeded, whatever becomes of this: the ingests' records pruned between reads as of a day
        await daycuts.prune(sessions)
    except Exception:
        logger.exception("pruning the ingests' records after run %s failed", run_id)


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> Run:
    row = await repository.get_run(session, run_id)
    if row is None:
        raise RunNotFound(run_id)
    return Run.model_validate(row)


async def list_runs(session: AsyncSession, limit: int) -> list[Run]:
    return [Run.model_validate(row) for row in await repository.list_runs(session, limit)]
