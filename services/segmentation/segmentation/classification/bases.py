"""What stored classifications were computed with (thresholds, cut points, model) and the succeeded runs reads
need, cached in this process: neither ever changes once written."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.classification import repository
from segmentation.classification.compute import CutPoints
from segmentation.classification.models import BasisRow
from segmentation.company.schemas import Thresholds
from segmentation.predictive.scoring import ScoringModel
from segmentation.readcache import WriteOnceCache


@dataclass(frozen=True)
class Basis:
    thresholds: Thresholds
    cut: CutPoints
    model: ScoringModel | None

    @classmethod
    def of(cls, row: BasisRow) -> Basis:
        return cls(
            Thresholds.stored(row.thresholds), CutPoints.from_json(row.cut_points), ScoringModel.from_json(row.model)
        )


NO_BASIS = Basis(Thresholds(), CutPoints.from_json({}), None)  # before any run: the defaults


@dataclass(frozen=True)
class FinishedRun:
    """What reads need of a succeeded run (which never changes again)."""

    as_of: date
    snapshot_at: datetime | None
    basis_id: uuid.UUID | None
    model: ScoringModel | None


class NotCached(Exception):
    """A read to be answered from this process's caches alone (no session) needed something they do not hold yet:
    the first reads after a run or a fit."""


FINISHED_RUNS: WriteOnceCache[uuid.UUID, FinishedRun] = WriteOnceCache(1000)
BASES: WriteOnceCache[uuid.UUID, Basis] = WriteOnceCache(1000)


async def finished_run(session: AsyncSession | None, run_id: uuid.UUID | None) -> FinishedRun | None:
    """A succeeded run, from this process's cache when it was read before. Without a session, from the cache
    alone (NotCached when it is not there)."""
    if run_id is None:
        return None
    if (run := FINISHED_RUNS.get(run_id)) is None:
        if session is None:
            raise NotCached(f"run {run_id}")
        row = await repository.get_run(session, run_id)
        assert row is not None, "the id was read in this transaction, among the succeeded runs"
        run = FinishedRun(row.as_of, row.snapshot_at, row.basis_id, ScoringModel.from_json(row.model))
        FINISHED_RUNS.put(run_id, run)
    return run


async def bases(session: AsyncSession | None, ids: set[uuid.UUID]) -> dict[uuid.UUID, Basis]:
    """The bases of `ids`, from this process's cache when read before (without a session: NotCached on a miss)."""
    found = {basis_id: basis for basis_id in ids if (basis := BASES.get(basis_id)) is not None}
    if session is None and ids - found.keys():
        raise NotCached("bases")
    if not ids - found.keys():
        return found
    assert session is not None
    for basis_id, row in (await repository.bases(session, ids - found.keys())).items():
        found[basis_id] = Basis.of(row)
        BASES.put(basis_id, found[basis_id])
    return found
