"""Calendar days of orders in the company's time zone: the one conversion of an order's timestamp every
per-day figure (classification runs, the predictive summary) starts from, and the settings of the statements that
sum every order per customer and day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import LiteralString
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.orderdays import index
from servicekit.db import group_by_sorting
from servicekit.sql import SQL, literal


@dataclass(frozen=True)
class Days:
    """The as-of day and the instants where the days that matter begin, in the company's time zone.

    `offsets`: the least and the greatest UTC offset the zone has had in the years facts may lie in, as
    `zone_offsets` finds them; with them, `local_date` converts most times without the zone."""

    as_of: date
    zone: str
    offsets: tuple[int, int] | None = None

    def start(self, days_before: int) -> SQL:
        """SQL literal: the first instant of the day `days_before` days before the as-of day (negative: after)."""
        return literal(datetime.combine(self.as_of - timedelta(days=days_before), time(), ZoneInfo(self.zone)))

    def local_date(self, column: LiteralString | SQL) -> SQL:
        """SQL: the calendar day of a timestamptz in the zone. Looking a time up in the zone's rules costs far more
        than shifting it by a fixed offset (docs/benchmarks.md): when the zone's least and greatest offsets give
        the same day, that is the day; only the times near midnight (for Europe/Berlin, 21:00-23:00 UTC) are
        looked up."""
        exact = index.local_day_sql(self.zone, column)
        if self.offsets is None:
            return exact
        value = SQL(column) if isinstance(column, str) else column
        least, greatest = (
            SQL("(({column} AT TIME ZONE 'UTC') + interval {shift})::date").format(column=value, shift=f"{s} seconds")
            if s
            else SQL("({column} AT TIME ZONE 'UTC')::date").format(column=value)
            for s in self.offsets
        )
        if self.offsets[0] == self.offsets[1]:
            return least
        return SQL("CASE WHEN {least} = {greatest} THEN {least} ELSE {exact} END").format(
            least=least, greatest=greatest, exact=exact
        )


async def days_over_every_order(session: AsyncSession, as_of: date, zone: str) -> Days:
    """Days for a pass over every order. Once the zone's index of order days is built, each order's day is read
    from it, in order, as its expression (orderdays.index); until then, days by the zone's offsets."""
    if await index.is_ready(session, zone):
        return Days(as_of, zone)
    return Days(as_of, zone, await zone_offsets(session, zone))


_zone_offsets: dict[str, tuple[int, int]] = {}


async def zone_offsets(session: AsyncSession, zone: str) -> tuple[int, int]:
    """The least and the greatest UTC offset, in seconds, of `zone` in the years facts may lie in (1900-2099,
    types.py; a day either side), from the server's own time-zone rules; kept per process.

    Sampled every twelve hours: no zone's least or greatest offset lasted less than a day in those years (daily
    samples give the same offsets as hourly ones for every zone, docs/benchmarks.md)."""
    if zone not in _zone_offsets:
        statement = text("""
            SELECT min(o), max(o) FROM (
                SELECT extract(epoch FROM (t AT TIME ZONE CAST(:zone AS text)) - (t AT TIME ZONE 'UTC'))::int AS o
                FROM generate_series(TIMESTAMPTZ '1899-12-31 00:00Z', TIMESTAMPTZ '2100-01-02 00:00Z',
                                     interval '12 hours') t) s""")
        row = (await session.execute(statement, {"zone": zone})).one()
        _zone_offsets[zone] = (row[0], row[1])
    return _zone_offsets[zone]


# A day's cents and its distance from this epoch share one bigint (days * scale + cents): cents below 10^14 (a
# trillion a day and customer) and days up to 2150 fit in 63 bits. Facts lie in 1900..2099 (types.py); the
# epoch is a year earlier, for times early on 1900-01-01 that are still 1899 in the company's time zone.
FIRST_DAY_EPOCH = date(1899, 1, 1)
FIRST_DAY_SCALE = 10**14
# Over (day, cents) rows: the smallest is the first day's, and `% FIRST_DAY_SCALE` gives back its cents.
FIRST_DAY = SQL("(day - {epoch})::bigint * {scale} + cents::bigint").format(
    epoch=FIRST_DAY_EPOCH, scale=FIRST_DAY_SCALE
)


# A run aggregates and joins every customer at once: its sorts and hash tables are to stay in memory.
RUN_WORK_MEM = "1GB"


async def run_settings(session: AsyncSession) -> None:
    """For a transaction that aggregates every order: runs, and the summary a fit starts from."""
    await session.execute(text("SET LOCAL statement_timeout = 0"))
    await session.execute(SQL("SET LOCAL work_mem = {size}").format(size=RUN_WORK_MEM).clause)
    # One process per connection and half: a parallel worker would only take the other half's core.
    await session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


async def aggregate_by_sorting(session: AsyncSession, on: bool = True) -> None:
    """For the statements that sum the orders per customer and day. The orders come sorted by customer and day
    from the zone's day index (orderdays.index), or, while that is being built, by customer from the previous zone's
    and need only a sort within each customer; a hash table of every (customer, day) holds millions of groups
    and takes twice as long. Other statements of a run (DISTINCT, joins) are better off with hashing."""
    await group_by_sorting(session, on)
