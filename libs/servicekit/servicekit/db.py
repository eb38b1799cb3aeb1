"""The async engine (built in lifespan), one session per request, and database outages as 503s."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import MetaData, Select, text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from servicekit.errors import problem_response, unhandled_error_handler
from servicekit.settings import ServiceSettings, plain_database_url

logger = logging.getLogger("servicekit.db")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def schema_metadata(schema: str) -> MetaData:
    """The MetaData of a service: every table in the service's own schema, named by convention."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def _server_settings(settings: ServiceSettings, application_name: str) -> dict[str, str]:
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set; `make run` sets it, or export it yourself.")
    # JIT compiling pays off only for queries that run for seconds; the planner's guess of a statement's cost
    # turns it on for short ones too (an ingest's classification: 50 ms of compiling for 1 ms of work).
    server_settings = {"application_name": application_name, "jit": "off"}
    if settings.db_statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.db_statement_timeout_ms)
    return server_settings


def build_engine(settings: ServiceSettings, application_name: str) -> AsyncEngine:
    server_settings = _server_settings(settings, application_name)
    return create_async_engine(
        settings.database_url,
        pool_pre_ping=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_connect_timeout_seconds,
        connect_args={"timeout": settings.db_connect_timeout_seconds, "server_settings": server_settings},
    )


class ReadStatement:
    """A SQLAlchemy select compiled once for asyncpg: its SQL with $n parameters and their order."""

    def __init__(self, statement: Select[Any]) -> None:
        compiled = statement.compile(dialect=asyncpg_dialect())
        self.sql = str(compiled)
        self._names = list(compiled.positiontup or [])
        self._defaults = compiled.params

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] if name in params else self._defaults[name] for name in self._names]


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Reads change no session state: nothing to reset on the way back into the pool (asyncpg's reset would
    cost a round trip per read)."""


async def _json_codecs(connection: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):  # as SQLAlchemy's asyncpg dialect decodes them
        await connection.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class ReadPool:
    """Raw asyncpg connections for the hottest reads, one statement each: no ORM session, no transaction and
    no ping per checkout (each of them a round trip), statements prepared once per connection. For profile
    reads that nearly tripled segmentation's throughput (docs/benchmarks.md, Load). Everything else uses the
    engine.

    A read on a pooled connection that turns out dead (Postgres restarted) is tried once more on a new one,
    as the engine's pre-ping would have spared the caller. Connects on first use, like the engine."""

    def __init__(self, settings: ServiceSettings, application_name: str) -> None:
        self._settings = settings
        self._server_settings = _server_settings(settings, application_name)
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            plain_database_url(self._settings.database_url),
            min_size=0,
            max_size=self._settings.db_pool_size,
            timeout=self._settings.db_connect_timeout_seconds,
            server_settings=self._server_settings,
            init=_json_codecs,
            reset=_no_reset,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def fetchrow(self, statement: ReadStatement, **params: Any) -> asyncpg.Record | None:
        assert self._pool is not None, "opened in the app's lifespan"
        arguments = statement.arguments(params)
        for attempt in (1, 2):
            try:
                async with self._pool.acquire(timeout=self._settings.db_connect_timeout_seconds) as connection:
                    try:
                        return await connection.fetchrow(statement.sql, *arguments)
                    except BaseException:
                        # Without the pool's reset query (_no_reset) nothing would notice a connection that a read
                        # broke off left mid-protocol (Postgres shutting down, a cancelled request): it would go back
                        # into the pool and fail the next read ("another operation is in progress"). It goes.
                        connection.terminate()
                        raise
            except (
                asyncpg.ConnectionDoesNotExistError,
                asyncpg.InterfaceError,
                asyncpg.InternalClientError,
                ConnectionResetError,
            ):
                if attempt == 2:
                    raise
                # What broke one connection (Postgres restarted or shut down) broke the others opened before it.
                await self._pool.expire_connections()
        raise AssertionError("unreachable")


def sessionmaker_for(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Commits when the endpoint returns, rolls back when it raises; before the response is sent."""
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


# scope="function": the commit happens before the response goes out, so a 2xx means committed.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]


async def favour_parallel_workers(session: AsyncSession, on: bool) -> None:
    """Until called again with False, in this transaction: parallel workers for any scan big enough. The planner
    rates functions (a regular expression, parsing a time) at the cost of an addition, so for statements that are
    mostly such functions it would never think a worker worth starting. Off: the configured costs again."""
    for setting in ("parallel_setup_cost", "parallel_tuple_cost"):
        await session.execute(text(f"SET LOCAL {setting} {'= 0' if on else 'TO DEFAULT'}"))


async def group_by_sorting(session: AsyncSession, on: bool) -> None:
    """Until called again with False, in this transaction: GROUP BY sorts instead of hashing, for groupings of
    millions of keys whose hash table would spill, or whose input comes sorted already."""
    await session.execute(text(f"SET LOCAL enable_hashagg {'= off' if on else 'TO DEFAULT'}"))


# asyncpg's errors that mean the database is unreachable, shutting down or too slow, not a bug.
_OUTAGES = frozenset(
    {
        "QueryCanceledError",
        "CannotConnectNowError",
        "TooManyConnectionsError",
        "ConnectionDoesNotExistError",
        "AdminShutdownError",
        "CrashShutdownError",
    }
)


def is_database_outage(exc: BaseException) -> bool:
    """True for errors that mean 'the database cannot be reached right now', not a bug."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):  # the pool: every connection busy
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, DBAPIError):
        # SQLAlchemy's asyncpg adapter raises its own `Error` (as exc.orig) from asyncpg's: the error to judge is
        # its cause, as a ReadPool raises it. Without that, "the database system is shutting down" (a connection
        # attempt while Postgres stops) and a statement timeout were 500s.
        driver_error = exc.orig.__cause__ if exc.orig is not None and exc.orig.__cause__ else exc.orig
        return driver_error is not None and is_database_outage(driver_error)
    if isinstance(exc, asyncpg.PostgresError):  # raised by a ReadPool, or the cause of SQLAlchemy's error
        return isinstance(exc, asyncpg.PostgresConnectionError) or type(exc).__name__ in _OUTAGES
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.InternalClientError):  # the connection broke, or the pool
        return True  # was closed, or a connection was left mid-protocol by one that broke
    return isinstance(exc, ConnectionError | TimeoutError | OSError)


async def _database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    if not is_database_outage(exc):
        return await unhandled_error_handler(request, exc)
    logger.warning("database unavailable: %s", type(exc).__name__, exc_info=exc)
    return problem_response(
        503,
        "Service Unavailable",
        "The database is unavailable or too slow right now; retry shortly.",
        instance=request.url.path,
        headers={"Retry-After": "2"},
    )


def install_database_error_handlers(app: FastAPI) -> None:
    for exc_type in (
        DBAPIError,
        PoolTimeout,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        ConnectionError,
        TimeoutError,
        OSError,
    ):
        app.add_exception_handler(exc_type, _database_error_handler)
