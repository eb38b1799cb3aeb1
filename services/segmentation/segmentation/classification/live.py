"""Keeping classifications current between full runs: the customers an ingest touched are classified again
in the ingest's own transaction, against the cut points (ABC limits, matrix splits) of the last full run."""

from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.classification import repository


def today() -> date:
    """The day classifications are as of unless a run names another: today in UTC."""
    return datetime.now(UTC).date()


async def reclassify(session: AsyncSession, customer_ids_sql: str) -> int:
    """Classify the customers the SQL selects, as of today. Nothing before the first full run."""
    cut = await repository.last_cut_points(session)
    if cut is None:
        return 0
    thresholds = await repository.load_thresholds(session)
    return await repository.classify_some(session, customer_ids_sql, today(), thresholds, cut)


async def reclassify_customer(session: AsyncSession, customer_id: int) -> None:
    await reclassify(session, str(int(customer_id)))
