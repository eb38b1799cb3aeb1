"""Keeping classifications current between full runs: the customers an ingest touched are classified again
in the ingest's own transaction, against the cut points (ABC limits, matrix splits) of the last full run."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.classification import compute
from segmentation.company.schemas import Thresholds
from segmentation.company.service import today
from segmentation.db import SCHEMA
from segmentation.predictive.scoring import ScoringModel


async def reclassify(session: AsyncSession, customer_ids_sql: str, *, few: bool = False) -> int:
    """Classify the customers the SQL selects, as of today. Nothing before the first full run."""
    # One round trip (every ingest pays it): the thresholds, and the last successful run's cut points and model.
    settings = (await session.execute(text(f"""
        SELECT (SELECT thresholds FROM {SCHEMA}.settings WHERE id = 1), r.cut_points, r.model
        FROM (SELECT 1) one LEFT JOIN LATERAL (
            SELECT cut_points, model FROM {SCHEMA}.runs WHERE status = 'succeeded' ORDER BY finished_at DESC LIMIT 1
        ) r ON true"""))).one()  # fmt: skip
    if settings[1] is None:
        return 0
    thresholds = Thresholds.stored(settings[0])
    cut = compute.CutPoints.from_json(settings[1])
    model = ScoringModel.from_json(settings[2])
    return await compute.classify_some(session, customer_ids_sql, today(thresholds), thresholds, cut, model, few=few)


async def reclassify_customer(session: AsyncSession, customer_id: int) -> None:
    await reclassify(session, str(int(customer_id)), few=True)
