"""The per-customer summary the models are fitted on, computed in Postgres from the booked orders."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.db import SCHEMA
from segmentation.orderdays.days import (
    FIRST_DAY,
    FIRST_DAY_SCALE,
    Days,
    aggregate_by_sorting,
    days_over_every_order,
    run_settings,
)
from segmentation.predictive.model import DAYS_PER_WEEK, Summary
from segmentation.predictive.scoring import ScoringModel, probability_alive_sql
from servicekit.sql import SQL, ident

_SCHEMA = ident(SCHEMA)


async def summary(
    session: AsyncSession,
    calibration_end: date,
    time_zone: str,
    *,
    above: int | None = None,
    up_to: int | None = None,
) -> Summary:
    """Per customer who bought up to `calibration_end` (days in `time_zone`), by customer id: repeat purchase
    days (orders of one day are one purchase), weeks from the first to the last and to the end, and the mean
    spend per repeat purchase day, as `model.summarise` gives them for a list of transactions. `time_zone`:
    a validated IANA name (`Thresholds.time_zone`), inlined like every run's.

    Summed per customer and day as a run does (compute._orders_sql), and handed over as one row of arrays
    rather than a row per customer (docs/benchmarks.md). `above`, `up_to`: when given, only the customers
    with an id greater than `above`, at most `up_to`."""
    days = await days_over_every_order(session, calibration_end, time_zone)
    narrowed = SQL("")
    if above is not None:
        narrowed += SQL("AND customer_id > {id} ").format(id=above)
    if up_to is not None:
        narrowed += SQL("AND customer_id <= {id}").format(id=up_to)
    statement = SQL("""
        WITH per_customer AS (
            SELECT customer_id, count(*) - 1 AS repeat_days, max(day) - min(day) AS recency_days,
                   {end} - min(day) AS age_days,
                   (sum(cents)::bigint - min({first_day}) % {first_day_scale}) * 0.01 AS repeat_spend
            FROM (SELECT customer_id, {day} AS day, sum(net_cents::float8) AS cents
                  FROM {schema}.orders WHERE status = 'booked' AND ordered_at < {before}
                        {narrowed}
                  GROUP BY customer_id, day) per_day
            GROUP BY customer_id)
        SELECT array_agg(customer_id), array_agg(repeat_days), array_agg(recency_days), array_agg(age_days),
               array_agg(CASE WHEN repeat_days > 0 THEN repeat_spend::float8 / repeat_days ELSE 0 END)
        FROM per_customer""").format(
        end=calibration_end,
        first_day=FIRST_DAY,
        first_day_scale=FIRST_DAY_SCALE,
        day=days.local_date("ordered_at"),
        schema=_SCHEMA,
        before=days.start(-1),
        narrowed=narrowed,
    )
    await run_settings(session)
    await aggregate_by_sorting(session)
    row = (await session.execute(statement.clause)).one()
    ids, frequency, recency, age, monetary = (np.array(column or []) for column in row)
    order = np.argsort(ids, kind="stable")
    return Summary(
        customer_ids=ids[order].astype(np.int64),
        frequency=frequency[order].astype(np.float64),
        recency=recency[order].astype(np.float64) / DAYS_PER_WEEK,
        age=age[order].astype(np.float64) / DAYS_PER_WEEK,
        monetary=monetary[order].astype(np.float64),
    )


async def purchase_days_between(
    session: AsyncSession, customer_ids: np.ndarray, after: date, until: date, time_zone: str
) -> np.ndarray:
    """Per customer of `customer_ids` (sorted, as `summary` returns them): the days with a booked order after
    `after` up to `until`, in `time_zone`."""
    start, end = await days_over_every_order(session, after, time_zone), Days(until, time_zone)
    statement = SQL("""
        SELECT array_agg(customer_id), array_agg(days) FROM (
            SELECT customer_id, count(DISTINCT {day}) AS days
            FROM {schema}.orders
            WHERE status = 'booked' AND ordered_at >= {after} AND ordered_at < {until}
            GROUP BY customer_id) per_customer""").format(
        day=start.local_date("ordered_at"), schema=_SCHEMA, after=start.start(-1), until=end.start(-1)
    )
    row = (await session.execute(statement.clause)).one()
    counts = np.zeros(customer_ids.size)
    if row[0] is None or not customer_ids.size:
        return counts
    ids, found = np.array(row[0], dtype=np.int64), np.array(row[1], dtype=np.float64)
    at = np.minimum(np.searchsorted(customer_ids, ids), customer_ids.size - 1)
    asked = customer_ids[at] == ids  # customers who first bought after `after` are not among them
    counts[at[asked]] = found[asked]
    return counts


async def middle_customer_id(session: AsyncSession) -> int:
    statement = SQL("SELECT coalesce((min(id) + max(id)) / 2, 0) FROM {schema}.customers").format(schema=_SCHEMA)
    return int(await session.scalar(statement.clause))


def concatenate(first: Summary, second: Summary) -> Summary:
    """Two summaries of customers with smaller and larger ids, as one."""
    return Summary(*(np.concatenate([getattr(first, k), getattr(second, k)]) for k in Summary.__dataclass_fields__))


async def alive_by_history(session: AsyncSession, m: ScoringModel, run_as_of: date, snapshot_at: datetime) -> list[Any]:
    """The stored customers grouped by (repeat purchases, age in days, the day their classification holds
    for), with how many there are and their summed probability alive under `m`: every customer's expected
    purchases are his group's factor times his probability alive, so a forecast needs only these groups."""
    # A run stores only what changed: the others hold as of its day (as classification.views shows them).
    as_of = SQL("""CASE WHEN c.computed_at < CAST(:snapshot_at AS timestamptz) AND c.as_of <= {run_day} THEN {run_day}
                   ELSE c.as_of END""").format(run_day=run_as_of)
    alive = probability_alive_sql(
        m,
        SQL("(c.purchase_days - 1)"),
        SQL("(c.last_order_on - c.first_order_on)"),
        SQL("({as_of} - c.first_order_on)").format(as_of=as_of),
    )
    statement = SQL("""
        SELECT c.purchase_days - 1, {as_of} - c.first_order_on, {as_of}, count(*), sum({alive})
        FROM {schema}.classifications c WHERE c.purchase_days > 0
        GROUP BY 1, 2, 3""").format(as_of=as_of, alive=alive, schema=_SCHEMA)
    return list(await session.execute(statement.clause, {"snapshot_at": snapshot_at}))
