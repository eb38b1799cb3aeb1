"""The figures of every (resource, week) cell, in one statement: capacity after exceptions, the baseline from
the newest forecast, the reserve, reservations by state, headroom, acquisition limit, utilisation, and the
backlog carried from week to week with the extra lead time it means.

    capacity   = regular weekly capacity, or the newest absolute exception touching the week, plus every
                 delta exception touching it; never below 0
    baseline   = expected orders x load per order (the resource's default, mixed with its ABC-class loads by
                 the classes' shares of recent orders) + adjustments; never below 0; rounded up to cents
    reserve    = capacity x reserve_share, rounded up to cents
    reserved   = held (not expired) + confirmed + consumed reservation lines
    headroom   = capacity - baseline - reserve - reserved
    limit      = floor(max(headroom, 0) / new_customer_weekly_load)   (none when that load is 0)

Weeks past the forecast's last week take its last week's orders. Without any forecast, baseline and
headroom are NULL (the callers refuse to answer from nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from capacity.db import SCHEMA
from servicekit.sql import SQL, ident

_SCHEMA = ident(SCHEMA)


def _cents_up(expression: SQL) -> SQL:
    return SQL("(ceil(({expression}) * 100) / 100)::numeric(16, 2)").format(expression=expression)


_FIGURES = SQL("""
forecast AS (SELECT id FROM {schema}.forecasts ORDER BY computed_at DESC, id DESC LIMIT 1),
loads AS (
    SELECT r.id AS resource_id,
           r.load_per_order + coalesce(sum(s.share * (g.load_per_order - r.load_per_order)), 0) AS load_per_order
    FROM {schema}.resources r
    LEFT JOIN {schema}.resource_group_loads g ON g.resource_id = r.id
    LEFT JOIN {schema}.forecast_group_shares s
           ON s.abc_class = g.abc_class AND s.forecast_id = (SELECT id FROM forecast)
    WHERE r.id IN (SELECT resource_id FROM cells)
    GROUP BY r.id),
figures AS (
    SELECT c.resource_id, r.key AS resource, c.week_start, r.weekly_capacity AS regular_capacity,
           r.reserve_share, r.new_customer_weekly_load, r.load_per_order AS new_order_load,
           greatest(0, coalesce(ex.absolute, r.weekly_capacity) + coalesce(ex.delta, 0))::numeric(16, 2) AS capacity,
           fw.expected_orders, l.load_per_order, coalesce(adj.amount, 0.00) AS adjustments,
           coalesce(res.held, 0.00) AS held, coalesce(res.confirmed, 0.00) AS confirmed,
           coalesce(res.consumed, 0.00) AS consumed
    FROM cells c
    JOIN {schema}.resources r ON r.id = c.resource_id
    JOIN loads l ON l.resource_id = c.resource_id
    LEFT JOIN LATERAL (
        SELECT (array_agg(e.capacity ORDER BY e.id DESC) FILTER (WHERE e.capacity IS NOT NULL))[1] AS absolute,
               sum(e.delta) AS delta
        FROM {schema}.capacity_exceptions e
        WHERE e.resource_id = c.resource_id AND e.starts_on <= c.week_start + 6 AND e.ends_on >= c.week_start
    ) ex ON true
    LEFT JOIN LATERAL (
        SELECT w.expected_orders FROM {schema}.forecast_weeks w
        WHERE w.forecast_id = (SELECT id FROM forecast) AND w.week_start <= c.week_start
        ORDER BY w.week_start DESC LIMIT 1
    ) fw ON true
    LEFT JOIN LATERAL (
        SELECT sum(a.amount) AS amount FROM {schema}.baseline_adjustments a
        WHERE a.resource_id = c.resource_id AND a.week_start = c.week_start
    ) adj ON true
    LEFT JOIN LATERAL (
        -- A hold past its expiry counts for nothing, whether or not a sweep has marked it expired yet.
        SELECT sum(l.granted) FILTER (WHERE v.state = 'held' AND v.expires_at > statement_timestamp()) AS held,
               sum(l.granted) FILTER (WHERE v.state = 'confirmed') AS confirmed,
               sum(l.granted) FILTER (WHERE v.state = 'consumed') AS consumed
        FROM {schema}.reservation_lines l JOIN {schema}.reservations v ON v.id = l.reservation_id
        WHERE l.resource_id = c.resource_id AND l.week_start = c.week_start
    ) res ON true),
parts AS (
    SELECT f.*, {reserve} AS reserve, {baseline} AS baseline,
           f.held + f.confirmed + f.consumed AS reserved
    FROM figures f),
cell_figures AS (
    SELECT p.*, p.capacity - p.baseline - p.reserve - p.reserved AS headroom
    FROM parts p)""").format(
    schema=_SCHEMA,
    reserve=_cents_up(SQL("f.capacity * f.reserve_share")),
    baseline=_cents_up(SQL("greatest(0, f.expected_orders * f.load_per_order + f.adjustments)")),
)

_COLUMNS = SQL("""c.resource_id, c.resource, c.week_start, c.regular_capacity, c.capacity, c.expected_orders,
       round(c.load_per_order, 4) AS load_per_order, c.adjustments, c.baseline, c.reserve, c.held, c.confirmed,
       c.consumed, c.reserved, c.headroom, c.baseline + c.reserved AS demand, c.new_order_load,
       CASE WHEN c.new_customer_weekly_load > 0
            THEN floor(greatest(c.headroom, 0) / c.new_customer_weekly_load)::bigint END AS acquisition_limit,
       CASE WHEN c.capacity > 0 THEN round((c.baseline + c.reserved) / c.capacity, 4) END AS utilisation""")


async def cell_figures(session: AsyncSession, cells: Sequence[tuple[int, date]]) -> dict[tuple[int, date], Any]:
    """The figures of the given (resource id, week) cells, by cell."""
    sql = SQL("""
        WITH cells AS (SELECT * FROM unnest(CAST(:resource_ids AS bigint[]), CAST(:weeks AS date[]))
                       AS c(resource_id, week_start)),
        {figures}
        SELECT {columns} FROM cell_figures c""").format(figures=_FIGURES, columns=_COLUMNS)
    rows = await session.execute(
        sql.clause, {"resource_ids": [cell[0] for cell in cells], "weeks": [cell[1] for cell in cells]}
    )
    return {(row.resource_id, row.week_start): row for row in rows}


async def grid(
    session: AsyncSession, resource_ids: Sequence[int] | None, this_week: date, first: date, last: date
) -> list[Any]:
    """The figures of every resource (or those of `resource_ids`) and week from `first` to `last`, by resource
    and week, with the backlog each week carries: the demand it could not serve, passed on to the next.

    The backlog starts at 0 in `this_week` (the service does not know today's order book) and follows Lindley's
    recursion B[w] = max(0, B[w-1] + demand[w] - capacity[w]), solved with a running sum S of demand - capacity:
    B[w] = S[w] - min(0, min(S[..w])). Its extra lead time is backlog / the regular weekly capacity.
    """
    sql = SQL("""
        WITH cells AS (
            SELECT r.id AS resource_id, g.week_start
            FROM {schema}.resources r
            CROSS JOIN unnest(CAST(:weeks AS date[])) AS g(week_start)
            WHERE CAST(:resource_ids AS bigint[]) IS NULL OR r.id = ANY(CAST(:resource_ids AS bigint[]))),
        {figures},
        running AS (
            SELECT c.*, sum(c.baseline + c.reserved - c.capacity) OVER weeks AS excess
            FROM cell_figures c
            WINDOW weeks AS (PARTITION BY c.resource_id ORDER BY c.week_start ROWS UNBOUNDED PRECEDING)),
        carried AS (
            SELECT {columns}, c.excess - least(0, min(c.excess) OVER weeks) AS backlog
            FROM running c
            WINDOW weeks AS (PARTITION BY c.resource_id ORDER BY c.week_start ROWS UNBOUNDED PRECEDING))
        SELECT carried.*,
               CASE WHEN backlog > 0 AND regular_capacity > 0 THEN round(backlog / regular_capacity, 2) END
                   AS extra_lead_time_weeks,
               CASE WHEN backlog > 0 AND regular_capacity > 0 THEN ceil(backlog / regular_capacity * 7)::int END
                   AS extra_lead_time_days
        FROM carried
        WHERE week_start >= CAST(:first AS date)
        ORDER BY resource_id, week_start""").format(schema=_SCHEMA, figures=_FIGURES, columns=_COLUMNS)
    # The weeks as an array, not generate_series: the planner knows an array's length and plans for it (the JIT
    # in docs/benchmarks.md, capacity).
    weeks = [this_week + timedelta(weeks=i) for i in range((last - this_week).days // 7 + 1)]
    params = {"weeks": weeks, "first": first, "resource_ids": list(resource_ids) if resource_ids is not None else None}
    return list(await session.execute(sql.clause, params))
