"""pytest plugin: a real, migrated Postgres for every test run, an empty database for every test, and
helpers to serve apps in-process or as real processes.

Database rule: `DATABASE_URL` names the server when set, else the embedded one under `.data/pg`.
Tests never touch the database the URL names: they use `<name>_test`, dropped and migrated anew per run.

Two ways to give a test an empty database, chosen by its `isolation` marker (README, Tests):
- "truncate", the default: every table emptied (TRUNCATE) before the test, and its apps commit for real. Any
  test can use it: runs, imports, background tasks, connections of its own, several apps, processes.
- "rollback": the app's sessions share one connection in a transaction rolled back after the test, so the test
  sees only its own data and leaves nothing behind, without emptying every table first. Only for code that does
  all its work in the sessions of `app.state.sessionmaker`, one at a time; anything else fails the test.
Fixtures: `isolated_db` (the URL, and `.client(app)` serving the app the marked way), `db_url` (TRUNCATE only,
for tests that also use connections of their own), `database_url` (the database as it is).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp

from servicekit.migrations import discover_components, upgrade
from servicekit.pg import LocalPostgresSettings, create_database, database_name, start_embedded, with_database
from servicekit.settings import ServiceSettings, plain_database_url
from servicekit.signing import GATEWAY, Signer, SigningAuth


@pytest.fixture(scope="session")
def postgres_server_url(pytestconfig: pytest.Config) -> str:
    """URL of the server tests run on, naming the development database (never written by tests)."""
    settings = LocalPostgresSettings()
    if settings.database_url:
        return plain_database_url(settings.database_url)
    pgdir = settings.embedded_pg_dir
    if not pgdir.is_absolute():
        pgdir = pytestconfig.rootpath / pgdir
    return with_database(start_embedded(pgdir), settings.embedded_pg_database)


@pytest.fixture(scope="session")
def database_url(postgres_server_url: str, pytestconfig: pytest.Config) -> str:
    """A fresh test database with every component's schema migrated to head."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    name = f"{database_name(postgres_server_url)}_test{('_' + worker) if worker else ''}"
    url = with_database(postgres_server_url, name)
    create_database(url, drop_first=True)
    for component in discover_components(pytestconfig.rootpath):
        upgrade(component, url)
    return url


# Every table of every migrated schema but the Alembic version tables, and for each a query naming it if it has a row.
_TABLES = """
    SELECT format('%I.%I', t.schemaname, t.tablename),
           format('SELECT %L WHERE EXISTS (SELECT FROM %I.%I)', t.schemaname || '.' || t.tablename, t.schemaname,
                  t.tablename)
    FROM pg_tables t
    WHERE t.tablename <> 'alembic_version'
      AND t.schemaname IN (SELECT table_schema FROM information_schema.tables WHERE table_name = 'alembic_version')
"""


def _truncate_sql(tables: list[str]) -> str:
    return f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"


TRUNCATE_LOCK_TIMEOUT_SECONDS = 20


async def truncate_all(url: str) -> None:
    """Empty every table of every migrated schema (keeps the Alembic version tables)."""
    connection = await asyncpg.connect(plain_database_url(url), timeout=10)
    try:
        tables = [row[0] for row in await connection.fetch(_TABLES)]
        if tables:
            # Rather than wait forever on a transaction that waits for this test to go on (a rolled_back_client).
            await connection.execute(f"SET lock_timeout = '{TRUNCATE_LOCK_TIMEOUT_SECONDS}s'")
            await connection.execute(_truncate_sql(tables))
    except asyncpg.LockNotAvailableError as exc:
        raise RuntimeError(
            f"Emptying the test database waited {TRUNCATE_LOCK_TIMEOUT_SECONDS} s for another connection's "
            "transaction. An app served by rolled_back_client holds one until its test ends: a test cannot serve "
            "apps both ways."
        ) from exc
    finally:
        await connection.close()


ISOLATIONS = ("truncate", "rollback")


def isolation_of(item: pytest.Item) -> str:
    """How the test is kept apart from the others: its closest `isolation` marker, else "truncate"."""
    marker = item.get_closest_marker("isolation")
    if marker is None:
        return "truncate"
    if marker.args not in ((kind,) for kind in ISOLATIONS) or marker.kwargs:
        pytest.fail(f"isolation takes one of {ISOLATIONS}, not {marker.args} {marker.kwargs}", pytrace=False)
    return marker.args[0]


@dataclass(frozen=True)
class IsolatedDatabase:
    """The test database, and how to serve an app on it as the test's `isolation` marker says."""

    url: str
    rolled_back: bool

    def client(
        self, app: FastAPI, base_url: str = "http://testserver", *, signed: bool = True
    ) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        """`rolled_back_client` for a test marked isolation("rollback"), else `app_client`: an async context
        manager yielding an httpx.AsyncClient."""
        serve = rolled_back_client if self.rolled_back else app_client
        return serve(app, base_url, signed=signed)


@pytest.fixture
def isolated_db(request: pytest.FixtureRequest, database_url: str) -> IsolatedDatabase:
    """The migrated test database, empty when the test starts. Marked isolation("rollback"), the test's apps
    (served by `.client`) write in a transaction rolled back after it; else (isolation("truncate"), the default)
    every table is emptied before it and they commit."""
    rolled_back = isolation_of(request.node) == "rollback"
    if not rolled_back:
        asyncio.run(truncate_all(database_url))
    return IsolatedDatabase(database_url, rolled_back)


@pytest.fixture
def db_url(isolated_db: IsolatedDatabase) -> str:
    """The migrated test database, emptied before this test (TRUNCATE): for apps served by `app_client`, and for
    tests that read or write it over connections of their own."""
    if isolated_db.rolled_back:
        pytest.fail(
            'db_url in a test marked isolation("rollback"): what the test commits over connections of its own would '
            'outlive it. Mark the test isolation("truncate").',
            pytrace=False,
        )
    return isolated_db.url


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        'isolation(kind): "truncate" (the default): every table emptied before the test; "rollback": the test\'s '
        "apps write in one transaction rolled back after it (servicekit.testing.rolled_back_client)",
    )


@asynccontextmanager
async def app_client(
    app: FastAPI, base_url: str = "http://testserver", *, signed: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and talk to it in-process over ASGI. `signed`: each request is signed as the gateway
    signs it (servicekit.signing), for the `X-API-Key-Id` it carries, if any."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        auth = signing_auth(app.state.settings) if signed and hasattr(app.state, "settings") else None
        async with httpx.AsyncClient(transport=transport, base_url=base_url, auth=auth) as client:
            yield client


_INSTEAD = 'Mark the test isolation("truncate") (or serve its app with app_client on db_url).'


class OwnConnectionUsed(RuntimeError):
    """Code under `rolled_back_client` reached past the test's one connection (the engine, the read pool, or
    sessions of two tasks at once)."""


class _OneConnection:
    """What a rolled-back test's app may do with the database, and what it did that it may not."""

    def __init__(self) -> None:
        self.misuses: list[str] = []
        self._open: dict[AsyncSession, asyncio.Task[Any] | None] = {}

    def refuse(self, what: str) -> OwnConnectionUsed:
        message = f"{what} under rolled_back_client. {_INSTEAD}"
        if message not in self.misuses:
            self.misuses.append(message)
        return OwnConnectionUsed(message)

    def opened(self, session: AsyncSession) -> None:
        task = asyncio.current_task()
        if any(other is not task for other in self._open.values()):
            raise self.refuse(
                "Sessions open in two tasks at once (a background task, a gather, concurrent requests) would take "
                "turns on the test's one connection and undo each other's savepoints"
            )
        self._open[session] = task

    def closed(self, session: AsyncSession) -> None:
        self._open.pop(session, None)


class _Refused:
    """Stands in for `app.state.<name>` (the engine, the read pool): any use is refused, loudly."""

    def __init__(self, name: str, one: _OneConnection) -> None:
        self._name = name
        self._one = one

    def __getattr__(self, attribute: str) -> Any:
        raise self._one.refuse(
            f"app.state.{self._name}.{attribute}: a connection of the app's own, which cannot see the test's "
            "uncommitted data"
        )


def _sessions_on(
    connection: AsyncConnection, like: async_sessionmaker[AsyncSession], one: _OneConnection
) -> async_sessionmaker[AsyncSession]:
    """Sessions configured like the app's, bound to `connection`: each session's transaction is a SAVEPOINT in the
    test's transaction, so its commit and rollback work as the app expects and the test's rollback undoes all."""

    class OneConnectionSession(AsyncSession):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            one.opened(self)
            super().__init__(*args, **kwargs)

        async def close(self) -> None:
            try:
                await super().close()
            finally:
                one.closed(self)

    kw = {**like.kw, "bind": connection, "join_transaction_mode": "create_savepoint"}
    return async_sessionmaker(class_=OneConnectionSession, **kw)


async def _tables_with_rows(connection: AsyncConnection) -> list[str]:
    probes = [probe for _, probe in (await connection.exec_driver_sql(_TABLES)).all()]
    if not probes:
        return []
    return list((await connection.exec_driver_sql(" UNION ALL ".join(probes))).scalars())


async def _empty(connection: AsyncConnection) -> list[str]:
    """Empty every table that has rows (committed by a test before, or outside this one); which they were."""
    found = await _tables_with_rows(connection)
    if found:
        tables = [name for name, _ in (await connection.exec_driver_sql(_TABLES)).all()]
        await connection.exec_driver_sql(_truncate_sql(tables))
    await connection.commit()
    return found


@asynccontextmanager
async def rolled_back_client(
    app: FastAPI, base_url: str = "http://testserver", *, signed: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """`app_client`, with everything the app writes rolled back after the test: its sessions
    (`app.state.sessionmaker`) share one connection in one transaction, each session's transaction a savepoint in
    it. The database is empty when the client is handed out (emptied if a test before committed rows) and is left
    as found. Anything that would reach past that connection and silently see an empty database fails the test:
    the engine and the read pool (`app.state.engine`, `app.state.read_pool`) refuse to be used, two tasks may
    not hold sessions at once, and rows committed some other way are found after the rollback. The app's startup
    hooks run before the swap: what they start keeps the app's own engine and sessions."""
    async with app.router.lifespan_context(app):
        state = app.state
        engine, sessionmaker, read_pool = state.engine, state.sessionmaker, state.read_pool
        one = _OneConnection()
        async with engine.connect() as connection:
            await _empty(connection)
            transaction = await connection.begin()
            state.sessionmaker = _sessions_on(connection, sessionmaker, one)
            state.engine, state.read_pool = _Refused("engine", one), _Refused("read_pool", one)
            try:
                transport = httpx.ASGITransport(app=app)
                auth = signing_auth(state.settings) if signed else None
                async with httpx.AsyncClient(transport=transport, base_url=base_url, auth=auth) as client:
                    yield client
            except BaseException as exc:
                for misuse in one.misuses:
                    exc.add_note(misuse)
                raise
            finally:
                state.engine, state.sessionmaker, state.read_pool = engine, sessionmaker, read_pool
                with suppress(Exception):  # the connection may be gone (then so is what it held)
                    await transaction.rollback()
            committed = await _empty(connection)
        if one.misuses:
            pytest.fail("\n".join(one.misuses), pytrace=False)
        if committed:
            pytest.fail(
                f"Rows committed outside the test's transaction under rolled_back_client, in {', '.join(committed)}: "
                f"the code under test used a connection of its own. {_INSTEAD}",
                pytrace=False,
            )


def signing_auth(settings: ServiceSettings) -> httpx.Auth:
    """An httpx auth that signs requests to the services as the gateway does, with the secret of `settings`."""
    return SigningAuth(Signer(settings.signing_secrets(), GATEWAY))


@asynccontextmanager
async def serve_in_loop(app: ASGIApp, **uvicorn_config: Any) -> AsyncIterator[str]:
    """Serve an ASGI app over real HTTP from this event loop (lifespan included); yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, log_level="warning", lifespan="on", **uvicorn_config
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped the server
            raise RuntimeError("the server stopped during start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never the same twice in one process: the kernel may offer a port again once
    its probe socket closes, and two servers given one port answer each other's health checks."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def _port_taken(port: int) -> bool:
    """Whether something listens on the port (as uvicorn binds: connections of a server stopped before, left in
    TIME_WAIT, do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


class ServerProcess:
    """A real uvicorn process serving an app factory, for end-to-end tests over real HTTP."""

    def __init__(self, factory: str, env: dict[str, str], port: int | None = None, name: str | None = None):
        self.factory = factory
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = name or factory
        self.env = {**os.environ, **env}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait_seconds: float = 30.0) -> ServerProcess:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            self.factory,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--http",
            "servicekit.server:ProblemHttpProtocol",
        ]
        # Otherwise whatever listens there would answer /healthz while this server fails to bind.
        if _port_taken(self.port):
            raise RuntimeError(f"{self.name}: port {self.port} is already taken")
        # Its output, read once it has exited (the file's offset is shared with it until then).
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 (closed when the server has stopped)
        self.process = subprocess.Popen(command, env=self.env, stdout=self._output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start:\n{self._read_output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer /healthz within {wait_seconds}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._report_errors()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._report_errors()

    def _read_output(self) -> str:
        self._output.seek(0)
        return self._output.read().decode(errors="replace")

    def _report_errors(self) -> None:
        """The errors the server logged (a 500's traceback, say), on this process's stderr: pytest shows them with
        the test that failed and drops them for one that passed."""
        if self.process is None or self._output.closed:
            return
        errors = [line for line in self._read_output().splitlines() if '"level": "ERROR"' in line or " ERROR " in line]
        self._output.close()
        if errors:
            print(f"{self.name} logged {len(errors)} errors, the last ones:", *errors[-10:], sep="\n", file=sys.stderr)


def postgres_address(url: str) -> tuple[str, str | int]:
    """("unix", socket path) or (host, port) of the server a URL points at."""
    parts = urlsplit(plain_database_url(url))
    socket_dir = parse_qs(parts.query).get("host", [None])[0]
    port = parts.port or 5432
    if socket_dir and socket_dir.startswith("/"):
        return ("unix", f"{socket_dir}/.s.PGSQL.{port}")
    return (parts.hostname or "127.0.0.1", port)


class TcpProxy:
    """A TCP proxy on 127.0.0.1 in its own thread, to cut or slow a connection in fault tests.

    `cut()` closes every connection and refuses new ones until `restore()`; `delay` slows each chunk.
    """

    def __init__(self, target: tuple[str, str | int], delay_seconds: float = 0.0) -> None:
        self.target = target
        self.delay_seconds = delay_seconds
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def url_for(self, url: str) -> str:
        """The same database URL, routed through this proxy."""
        parts = urlsplit(plain_database_url(url))
        user = parts.username or "postgres"
        auth = f"{user}:{parts.password}@" if parts.password else f"{user}@"
        return f"postgresql://{auth}127.0.0.1:{self.port}{parts.path}"

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self) -> None:
        self._call(self._cut())

    def restore(self) -> None:
        self._call(self._listen())

    def stop(self) -> None:
        self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _call(self, coroutine: object) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            if self.target[0] == "unix":
                upstream_reader, upstream_writer = await asyncio.open_unix_connection(str(self.target[1]))
            else:
                upstream_reader, upstream_writer = await asyncio.open_connection(self.target[0], int(self.target[1]))
        except OSError:
            client_writer.close()
            return
        self._writers.update((client_writer, upstream_writer))

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while chunk := await reader.read(65536):
                    if self.delay_seconds:
                        await asyncio.sleep(self.delay_seconds)
                    writer.write(chunk)
                    await writer.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))
        self._writers.difference_update((client_writer, upstream_writer))


@pytest.fixture(scope="session")
def repo_root(pytestconfig: pytest.Config) -> Path:
    return pytestconfig.rootpath


def pytest_report_header(config: pytest.Config) -> str:
    settings = LocalPostgresSettings()
    where = "DATABASE_URL" if settings.database_url else f"embedded Postgres in {settings.embedded_pg_dir}"
    return f"servicekit: tests run on {where}"


__all__ = [
    "IsolatedDatabase",
    "OwnConnectionUsed",
    "ServerProcess",
    "TcpProxy",
    "app_client",
    "free_port",
    "postgres_address",
    "rolled_back_client",
    "serve_in_loop",
    "signing_auth",
    "truncate_all",
]
