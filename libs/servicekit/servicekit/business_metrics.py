"""Business metrics: figures a service reads from its own tables when Prometheus scrapes it.

A service hands its collectors to `create_service_app(business_metrics=[...])`. Each has an async `refresh`,
which reads what it needs over one database connection, and prometheus_client's `collect`, which turns what
was read into metric families. `/metrics` refreshes them at most every `{SERVICE}_METRICS_CACHE_SECONDS` and
waits at most `{SERVICE}_METRICS_TIMEOUT_SECONDS` for it; while the database is slow or down it serves the
figures it read last, so a scrape never hangs on a query.

Every replica reads the same tables and so reports the same figures: aggregate them across instances with
`max`, never `sum`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.metrics_core import Metric
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

logger = logging.getLogger("servicekit.metrics")

REFRESH_FAILURES = Counter(
    "business_metrics_refresh_failures_total",
    "Times the business metrics could not be read from the database in time; the last figures read were served.",
)


class BusinessCollector(Protocol):
    async def refresh(self, connection: AsyncConnection) -> None:
        """Read the figures from the database (one short read-only transaction)."""

    def collect(self) -> Iterable[Metric]:
        """The metric families of the figures read last (nothing before the first refresh)."""


class BusinessMetrics:
    """A service's business collectors, in a registry of their own next to the process-wide one."""

    def __init__(self, collectors: Sequence[BusinessCollector], cache_seconds: float, timeout_seconds: float) -> None:
        self.collectors = list(collectors)
        self.cache_seconds = cache_seconds
        self.timeout_seconds = timeout_seconds
        # Per app, not the global REGISTRY: tests build many apps in one process, each with its own collectors.
        self.registry = CollectorRegistry(auto_describe=False)
        for collector in self.collectors:
            self.registry.register(collector)  # a Collector by its collect()
        self._lock = asyncio.Lock()
        self._refresh_after = 0.0  # time.monotonic() from which the figures are stale

    async def exposition(self, engine: AsyncEngine) -> bytes:
        """The text exposition of every business metric, refreshed first if the figures are stale."""
        await self.refresh(engine)
        return generate_latest(self.registry)

    async def refresh(self, engine: AsyncEngine) -> None:
        if time.monotonic() < self._refresh_after:
            return
        async with self._lock:
            if time.monotonic() < self._refresh_after:  # another scrape refreshed while this one waited
                return
            try:
                async with asyncio.timeout(self.timeout_seconds), engine.connect() as connection:
                    await connection.execute(text("SET TRANSACTION READ ONLY"))
                    # Postgres stops the query too, rather than finishing work that no one waits for any more.
                    timeout_ms = max(1, int(self.timeout_seconds * 1000))
                    await connection.execute(text(f"SET LOCAL statement_timeout = {timeout_ms}"))
                    for collector in self.collectors:
                        await collector.refresh(connection)
            except Exception as exc:  # any failure: serve the last figures rather than fail the scrape
                REFRESH_FAILURES.inc()
                logger.warning("business metrics not refreshed (%s): serving the last figures", type(exc).__name__)
            finally:
                # Also after a failure, so that a database in trouble gets one attempt per period, not per scrape.
                self._refresh_after = time.monotonic() + self.cache_seconds
