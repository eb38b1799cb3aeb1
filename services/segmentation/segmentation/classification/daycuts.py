"""Cut points for a day no run was as of: computed once per day and basis (the thresholds and model they are
computed with) by one set-based pass over every customer's facts, and kept while those facts stand.

Kept cut points hold the snapshot of the facts they were computed from (taken before the pass: a change the
pass may have seen counts as a change). Every ingest records its transaction id in fact_writes in its own
transaction (live.reclassify), so its record becomes visible when its facts do: kept cut points stand while
every recorded ingest is visible in their snapshot, and are computed again otherwise. Nothing blocks an ingest:
it only inserts its id. Those who keep cut points (and runs, when they end) take turns by an advisory lock and
prune the records every kept snapshot already sees; whoever waits for the lock looks again now and then without
holding a connection meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from segmentation.classification import compute
from segmentation.classification.compute import CutPoints
from segmentation.company.schemas import Thresholds
from segmentation.db import SCHEMA
from segmentation.predictive.scoring import ScoringModel
from servicekit.sql import SQL, ident

LOCK = "segmentation.day_cut_points"
_TRY_LOCK = SQL("SELECT pg_try_advisory_xact_lock(hashtext(:lock))")
WAIT_SECONDS = 0.1  # between looks for cut points someone else is computing
_BASIS_KEYS = uuid.UUID("6f0b7e2c-3c1e-4c55-9a53-5f1d6a0d2c11")  # the namespace of basis keys

_NAMES = {"day_cut_points": ident(SCHEMA, "day_cut_points"), "fact_writes": ident(SCHEMA, "fact_writes")}
# Kept cut points `k` stand: every ingest recorded is visible in their snapshot (those older than its xmin
# are), which was taken in this database (not after a restore into another, whose ids may lie below).
_STANDING = SQL("""
    NOT EXISTS (SELECT FROM {fact_writes} w WHERE w.xid >= pg_snapshot_xmin(k.facts_snapshot)
                AND NOT pg_visible_in_snapshot(w.xid, k.facts_snapshot))
    AND pg_snapshot_xmax(k.facts_snapshot) <= pg_snapshot_xmax(pg_current_snapshot())""").format(**_NAMES)
_FIND = SQL("""
    SELECT cut_points, customers, computed_at FROM {day_cut_points} k
    WHERE as_of = :as_of AND basis_key = :basis_key AND {standing}""").format(standing=_STANDING, **_NAMES)
_KEEP = SQL("""
    INSERT INTO {day_cut_points} AS k (as_of, basis_key, cut_points, customers, facts_snapshot)
    VALUES (:as_of, :basis_key, CAST(:cut_points AS jsonb), :customers,
            CAST(CAST(:facts_snapshot AS text) AS pg_snapshot))
    ON CONFLICT (as_of, basis_key) DO UPDATE SET cut_points = EXCLUDED.cut_points, customers = EXCLUDED.customers,
        facts_snapshot = EXCLUDED.facts_snapshot, computed_at = now()
    RETURNING computed_at""").format(**_NAMES)
# Stale cut points go; then every ingest record each kept snapshot sees (those kept meanwhile take the lock).
_PRUNE = (
    SQL("DELETE FROM {day_cut_points} k WHERE NOT ({standing})").format(standing=_STANDING, **_NAMES),
    SQL("""DELETE FROM {fact_writes} w WHERE NOT EXISTS (
               SELECT FROM {day_cut_points} k WHERE NOT pg_visible_in_snapshot(w.xid, k.facts_snapshot))""").format(
        **_NAMES
    ),
)


@dataclass(frozen=True)
class Kept:
    cut: CutPoints
    customers: int
    computed_at: datetime


def basis_key(t: Thresholds, model: ScoringModel | None) -> uuid.UUID:
    """What kept cut points are computed with: the thresholds and the model."""
    content = json.dumps([t.model_dump(mode="json"), model.as_json() if model else None], sort_keys=True)
    return uuid.uuid5(_BASIS_KEYS, content)


async def find(session: AsyncSession, as_of: date, key: uuid.UUID) -> Kept | None:
    """The cut points kept for the day and basis, if the facts they come from still stand."""
    row = (await session.execute(_FIND.clause, {"as_of": as_of, "basis_key": key})).first()
    return None if row is None else Kept(CutPoints.from_json(row[0]), row[1], row[2])


async def keep(
    sessions: async_sessionmaker[AsyncSession], as_of: date, t: Thresholds, model: ScoringModel | None
) -> Kept:
    """The cut points as of `as_of` with `t` and `model`, computed and kept in a transaction of its own. While
    someone else keeps cut points, wait for him without holding a connection: he may be keeping these."""
    key = basis_key(t, model)
    while True:
        async with sessions() as session, session.begin():
            if not await session.scalar(_TRY_LOCK.clause, {"lock": LOCK}):
                if (found := await find(session, as_of, key)) is not None:
                    return found
            elif (found := await find(session, as_of, key)) is not None:
                return found
            else:
                snapshot = await session.scalar(SQL("SELECT pg_current_snapshot()::text").clause)
                cut, customers = await compute.cut_points_of_day(session, as_of, t, model)
                values = {
                    "as_of": as_of,
                    "basis_key": key,
                    "cut_points": json.dumps(cut.as_json()),
                    "customers": customers,
                    "facts_snapshot": snapshot,
                }
                computed_at = await session.scalar(_KEEP.clause, values)
                await _prune(session)
                return Kept(cut, customers, computed_at)
        await asyncio.sleep(WAIT_SECONDS)


async def prune(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Prune the ingest records, unless cut points are being kept right now (then the keeper does)."""
    async with sessions() as session, session.begin():
        if await session.scalar(_TRY_LOCK.clause, {"lock": LOCK}):
            await _prune(session)


async def _prune(session: AsyncSession) -> None:
    for statement in _PRUNE:
        await session.execute(statement.clause)
