"""The orders' index per customer and calendar day in the company's time zone.

A run sums each customer's orders per day; read from this index they come in that order, and the sort of
every order by customer and day is spared (docs/benchmarks.md).
Its days are those of one time zone, so the index belongs to the zone of the thresholds, and its name says
which (`index_name`). Migration 0011_orders_day_index built the first; when the zone changes, `follow_zone`
builds the new zone's index without blocking ingests (CREATE INDEX CONCURRENTLY) and then drops the old one.
Until it is built, runs compute the days themselves and sort them: the same figures, more slowly.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import LiteralString

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from segmentation.company import repository
from segmentation.db import SCHEMA
from servicekit.app import keep_until_shutdown
from servicekit.sql import SQL, ident

logger = logging.getLogger("segmentation.day_index")

PREFIX = "ix_orders_customer_day_"
LOCK = "segmentation.day_index"
LOCK_RETRY_SECONDS = 0.5


def index_name(zone: str) -> str:
    return PREFIX + hashlib.sha256(zone.encode()).hexdigest()[:12]


def local_day_sql(zone: str, column: LiteralString | SQL = "ordered_at") -> SQL:
    """SQL: the calendar day of a timestamptz in `zone`, written as the index is, so the planner matches them."""
    value = SQL(column) if isinstance(column, str) else column
    return SQL("(({column} AT TIME ZONE {zone})::date)").format(column=value, zone=zone)


def create_sql(zone: str) -> SQL:
    """Also by customer alone (the leading column): every per-customer read of orders uses it."""
    return SQL(
        "CREATE INDEX CONCURRENTLY {name} ON {orders} (customer_id, {day}) INCLUDE (ordered_at, status, net_cents)"
    ).format(name=ident(index_name(zone)), orders=ident(SCHEMA, "orders"), day=local_day_sql(zone))


def _drop_sql(name: str) -> SQL:
    return SQL("DROP INDEX CONCURRENTLY IF EXISTS {index}").format(index=ident(SCHEMA, name))


async def is_ready(session: AsyncSession, zone: str) -> bool:
    """Whether the index of `zone` is built and valid (a concurrent build that was interrupted leaves it invalid)."""
    found = await session.scalar(
        text("SELECT indisvalid AND indisready FROM pg_index WHERE indexrelid = to_regclass(:name)"),
        {"name": f"{SCHEMA}.{index_name(zone)}"},
    )
    return bool(found)


async def follow_zone(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
    """Build the index of the thresholds' zone unless it is there, then drop every other zone's; again while the
    zone changed meanwhile. One process at a time (an advisory lock, waited for: the one holding it may have seen
    an older zone). Best effort: a failure is logged, and runs sort until the next attempt (at the next start
    or change of zone) succeeds."""
    try:
        async with engine.connect() as connection:
            # Concurrent builds cannot run in a transaction; closed afterwards rather than pooled, which also
            # releases the session's lock however this ends.
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            try:
                await _lock(autocommit)
                while True:
                    async with sessions() as session:
                        zone = (await repository.load_thresholds(session)).time_zone
                        ready = await is_ready(session, zone)
                    if not ready:
                        logger.info("building the orders' day index for time zone %s", zone)
                        await autocommit.execute(_drop_sql(index_name(zone)).clause)
                        await autocommit.execute(create_sql(zone).clause)
                    others = await autocommit.scalars(
                        text("""SELECT indexname FROM pg_indexes WHERE schemaname = :schema AND tablename = 'orders'
                                AND starts_with(indexname, :prefix) AND indexname <> :keep"""),
                        {"schema": SCHEMA, "prefix": PREFIX, "keep": index_name(zone)},
                    )
                    for other in others.all():
                        await autocommit.execute(_drop_sql(other).clause)
                    async with sessions() as session:
                        if (await repository.load_thresholds(session)).time_zone == zone:
                            return
            finally:
                await connection.invalidate()
    except Exception:  # not a cancellation (the service stopping): that ends the task
        logger.exception("building the orders' day index failed; runs sort the orders' days meanwhile")


async def _lock(autocommit: AsyncConnection) -> None:
    """Tried again and again rather than waited for in one statement: a concurrent build waits for every
    statement older than its own, and one that waits for the builder's lock would wait for it forever."""
    while True:
        if await autocommit.scalar(text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": LOCK}):
            return
        await asyncio.sleep(LOCK_RETRY_SECONDS)


def start_following_zone(app: FastAPI) -> None:
    """follow_zone in the background, until done or the service stops."""
    task = asyncio.create_task(follow_zone(app.state.engine, app.state.sessionmaker), name="orders-day-index")
    keep_until_shutdown(app, task)
