"""The per-customer summary the models are fitted on, computed in Postgres from the booked orders."""

from __future__ import annotations

from datetime import date

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.classification.compute import Days
from segmentation.db import SCHEMA
from segmentation.predictive.model import DAYS_PER_WEEK, Summary


async def summary(session: AsyncSession, calibration_end: date, time_zone: str) -> Summary:
    """Per customer who bought up to `calibration_end` (days in `time_zone`), by external id: repeat purchase
    days (orders of one day are one purchase), weeks from the first to the last and to the end, and the mean
    spend per repeat purchase day, as `model.summarise` gives them for a list of transactions. `time_zone`:
    a validated IANA name (`Thresholds.time_zone`), inlined like every run's."""
    days = Days(calibration_end, time_zone)
    result = await session.execute(text(f"""
        WITH purchase_days AS (
            SELECT customer_id, {days.local_date("ordered_at")} AS day, sum(net_amount) AS spend
            FROM {SCHEMA}.orders WHERE status = 'booked' AND ordered_at < {days.start(-1)}
            GROUP BY 1, 2),
        per_customer AS (
            SELECT customer_id, count(*) - 1 AS repeat_days, min(day) AS first_day, max(day) AS last_day,
                   sum(spend) AS total, (array_agg(spend ORDER BY day))[1] AS first_spend
            FROM purchase_days GROUP BY customer_id)
        SELECT c.external_id, repeat_days, last_day - first_day, DATE '{calibration_end.isoformat()}' - first_day,
               CASE WHEN repeat_days > 0 THEN (total - first_spend) / repeat_days ELSE 0 END
        FROM per_customer p JOIN {SCHEMA}.customers c ON c.id = p.customer_id
        ORDER BY c.external_id COLLATE "C\""""))  # fmt: skip
    rows = result.all()
    column = list(zip(*rows, strict=True)) if rows else [[] for _ in range(5)]
    return Summary(
        customer_ids=np.array(column[0], dtype=str),
        frequency=np.array(column[1], dtype=np.float64),
        recency=np.array(column[2], dtype=np.float64) / DAYS_PER_WEEK,
        age=np.array(column[3], dtype=np.float64) / DAYS_PER_WEEK,
        monetary=np.array(column[4], dtype=np.float64),
    )


async def purchase_days_between(
    session: AsyncSession, customer_ids: np.ndarray, after: date, until: date, time_zone: str
) -> np.ndarray:
    """Per customer of `customer_ids` (external ids, sorted byte-wise as `summary` returns them): the days with
    a booked order after `after` up to `until`, in `time_zone`."""
    start, end = Days(after, time_zone), Days(until, time_zone)
    result = await session.execute(text(f"""
        SELECT c.external_id, count(DISTINCT {start.local_date("o.ordered_at")})
        FROM {SCHEMA}.orders o JOIN {SCHEMA}.customers c ON c.id = o.customer_id
        WHERE o.status = 'booked' AND o.ordered_at >= {start.start(-1)} AND o.ordered_at < {end.start(-1)}
        GROUP BY c.external_id"""))  # fmt: skip
    rows = result.all()
    counts = np.zeros(customer_ids.size)
    if not rows or not customer_ids.size:
        return counts
    ids = np.array([row[0] for row in rows], dtype=str)
    at = np.minimum(np.searchsorted(customer_ids, ids), customer_ids.size - 1)
    asked = customer_ids[at] == ids  # customers who first bought after `after` are not among them
    counts[at[asked]] = np.array([row[1] for row in rows], dtype=np.float64)[asked]
    return counts
