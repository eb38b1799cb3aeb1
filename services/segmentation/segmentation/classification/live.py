"""Keeping classifications current between full runs: the customers an ingest touched are classified again
in the ingest's own transaction, against the cut points (ABC ends, matrix splits) of the last full run that
was not back-dated. Every ingest also leaves its transaction id in fact_writes: cut points computed for a day
from the facts before it are stale from its commit on (daycuts)."""

from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.classification import compute
from segmentation.company.schemas import Thresholds
from segmentation.company.service import today
from segmentation.db import SCHEMA
from segmentation.predictive.scoring import ScoringModel
from servicekit.sql import SQL, ident, literal

# One round trip (every ingest pays it): the ingest's transaction id recorded, the thresholds, and the last
# current run's cut points and model.
_SETTINGS = SQL("""
    WITH written AS (INSERT INTO {fact_writes} (xid) VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING)
    SELECT (SELECT thresholds FROM {settings} WHERE id = 1), r.cut_points, r.model
    FROM (SELECT 1) one LEFT JOIN LATERAL (
        SELECT cut_points, model FROM {runs} WHERE status = 'succeeded' AND NOT back_dated
        ORDER BY finished_at DESC LIMIT 1
    ) r ON true""").format(
    fact_writes=ident(SCHEMA, "fact_writes"), settings=ident(SCHEMA, "settings"), runs=ident(SCHEMA, "runs")
)


async def reclassify(session: AsyncSession, customer_ids_sql: SQL, *, few: bool = False) -> int:
    """Classify the customers the SQL selects, as of today. Nothing before the first full run."""
    settings = (await session.execute(_SETTINGS.clause)).one()
    if settings[1] is None:
        return 0
    thresholds = Thresholds.stored(settings[0])
    cut = compute.CutPoints.from_json(settings[1])
    model = ScoringModel.from_json(settings[2])
    return await compute.classify_some(session, customer_ids_sql, today(thresholds), thresholds, cut, model, few=few)


async def reclassify_customer(session: AsyncSession, customer_id: int) -> None:
    await reclassify(session, literal(int(customer_id)), few=True)
