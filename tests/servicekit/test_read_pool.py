"""The read pool hands out only connections in a clean state: a read that broke off takes its connection with it."""

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import func, select

from servicekit.db import ReadPool, ReadStatement, is_database_outage
from servicekit.settings import ServiceSettings

BACKEND = ReadStatement(select(func.pg_backend_pid()))
SLEEP = ReadStatement(select(func.pg_sleep(30)))


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[ReadPool]:
    pool = ReadPool(ServiceSettings(database_url=db_url, db_pool_size=1), application_name="read-pool-test")
    await pool.open()
    yield pool
    await pool.close()


async def test_a_read_broken_off_does_not_leave_its_connection_to_the_next(pool: ReadPool) -> None:
    first = (await pool.fetchrow(BACKEND))[0]
    assert (await pool.fetchrow(BACKEND))[0] == first, "one connection, reused while reads end normally"
    broken_off = asyncio.create_task(pool.fetchrow(SLEEP))
    await asyncio.sleep(0.5)
    broken_off.cancel()  # as a request whose client went away, or Postgres going down mid-read
    with pytest.raises(asyncio.CancelledError):
        await broken_off
    after = (await pool.fetchrow(BACKEND))[0]
    assert after != first, "the next read has a new connection"


async def test_a_read_that_fails_in_postgres_leaves_the_pool_usable(pool: ReadPool) -> None:
    with pytest.raises(Exception, match="division by zero"):
        await pool.fetchrow(ReadStatement(select(func.div(1, 0))))
    assert (await pool.fetchrow(BACKEND))[0] > 0


def test_a_connection_left_mid_protocol_is_an_outage_not_a_bug() -> None:
    # What a read meets on a connection an outage broke half-way: a 503 to retry, not a 500.
    assert is_database_outage(asyncpg.InternalClientError("cannot switch to state 12; another operation in progress"))
