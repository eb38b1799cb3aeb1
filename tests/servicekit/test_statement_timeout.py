"""A query that outlasts the statement timeout, or a request that waits too long for a pooled connection, is the
database being too slow or too busy right now: a 503, not a 500."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from servicekit.db import build_engine, is_database_outage
from servicekit.settings import ServiceSettings


async def test_a_statement_timeout_counts_as_the_database_being_unavailable(database_url: str) -> None:
    engine = build_engine(ServiceSettings(database_url=database_url, db_statement_timeout_ms=50), "test")
    try:
        with pytest.raises(DBAPIError) as raised:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT pg_sleep(5)"))
    finally:
        await engine.dispose()
    # SQLAlchemy's asyncpg adapter wraps asyncpg's QueryCanceledError in an `Error` of its own.
    assert type(raised.value.orig.__cause__).__name__ == "QueryCanceledError"
    assert is_database_outage(raised.value)


async def test_waiting_too_long_for_a_pooled_connection_counts_as_the_database_being_unavailable(
    database_url: str,
) -> None:
    settings = ServiceSettings(
        database_url=database_url, db_pool_size=1, db_max_overflow=0, db_connect_timeout_seconds=0.2
    )
    engine = build_engine(settings, "test")
    try:
        async with engine.connect() as busy:
            await busy.execute(text("SELECT 1"))
            with pytest.raises(PoolTimeout) as raised:
                async with engine.connect() as second:
                    await second.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert is_database_outage(raised.value)
