"""The API's view of stored classifications: as of the day each holds for, with its predictions and reasons."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.classification.bases import NO_BASIS, Basis, FinishedRun, bases, finished_run
from segmentation.classification.models import ClassificationRow
from segmentation.classification.predictions import predictions
from segmentation.classification.reasons import explain
from segmentation.classification.schemas import Classification


async def classifications(
    session: AsyncSession | None, rows: list[ClassificationRow | None], latest_run_id: uuid.UUID | None
) -> list[Classification | None]:
    """The API's view of stored classifications: each as of the day it holds for, with its predictions and
    reasons. `latest_run_id`: the latest run's id (a profile reads it with the row, in the same query).

    A run stores only the customers that changed; those it left alone hold as of the run's day, with the
    run's thresholds, cut points and model. Without a session, from this process's caches alone (NotCached
    when they miss something).
    """
    latest = await finished_run(session, latest_run_id)

    wanted = {latest.basis_id} if latest and latest.basis_id else set()
    wanted |= {row.basis_id for row in rows if row is not None and row.basis_id and not confirmed(row, latest)}
    found = await bases(session, wanted)
    fallback = found.get(latest.basis_id, NO_BASIS) if latest and latest.basis_id else NO_BASIS
    shown: list[tuple[ClassificationRow, date, Basis] | None] = []
    for row in rows:
        if row is None:
            shown.append(None)
            continue
        by_run = confirmed(row, latest)
        as_of = holds_as_of(row, latest)
        basis = fallback if by_run else found.get(row.basis_id, fallback) if row.basis_id else fallback
        shown.append((row, as_of, basis))
    return await present(session, shown)


async def present(
    session: AsyncSession | None, shown: list[tuple[Any, date, Basis] | None]
) -> list[Classification | None]:
    """Classifications (ClassificationRow or rows with its attributes), each as of its day with the basis it
    was computed with: their figures, predictions and reasons."""
    predicted_for = await predictions(session, [s for s in shown if s is not None])
    result: list[Classification | None] = []
    for entry in shown:
        if entry is None:
            result.append(None)
            continue
        row, as_of, basis = entry
        predicted = predicted_for.get(row.customer_id)
        figures = {
            name: getattr(row, name)
            for name in Classification.model_fields
            if name not in ("as_of", "reasons", "predictions")
        }
        if figures["potential"] is None and predicted is not None:
            figures["potential"] = predicted.predicted_revenue_12m
        reasons = explain(row, as_of, basis.thresholds, basis.cut, predicted)
        result.append(Classification(**figures, as_of=as_of, predictions=predicted, reasons=reasons))
    return result


def confirmed(row: Any, latest: FinishedRun | None) -> bool:
    """Whether the last run confirmed a stored classification: computed before the run read the facts, for a
    day not after the run's (an ingest's classification as of a later day is newer than the run)."""
    return (
        latest is not None
        and latest.snapshot_at is not None
        and row.computed_at < latest.snapshot_at
        and row.as_of <= latest.as_of
    )


def holds_as_of(row: Any, latest: FinishedRun | None) -> date:
    """The day a stored classification holds for: the last run's, if the run confirmed it."""
    return latest.as_of if latest is not None and confirmed(row, latest) else row.as_of
