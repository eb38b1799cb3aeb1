"""pytest plugin: a real, migrated Postgres for every test run, clean tables for every test, and
helpers to serve apps in-process or as real processes.

Database rule: `DATABASE_URL` names the server when set, else the embedded one under `.data/pg`.
Tests never touch the database the URL names: they use `<name>_test`, dropped and migrated anew per run.
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
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
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


async def truncate_all(url: str) -> None:
    """Empty every table of every migrated schema (keeps the Alembic version tables)."""
    connection = await asyncpg.connect(plain_database_url(url), timeout=10)
    try:
        tables = await connection.fetch(
            """
            SELECT format('%I.%I', t.schemaname, t.tablename)
            FROM pg_tables t
            WHERE t.tablename <> 'alembic_version'
              AND t.schemaname IN (SELECT table_schema FROM information_schema.tables
                                   WHERE table_name = 'alembic_version')
            """
        )
        if tables:
            await connection.execute(f"TRUNCATE {', '.join(r[0] for r in tables)} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


@pytest.fixture
def db_url(database_url: str) -> str:
    """The migrated test database, emptied before this test."""
    asyncio.run(truncate_all(database_url))
    return database_url


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
            sys.executable, "-m", "uvicorn", "--factory", self.factory,
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
            "--http", "servicekit.server:ProblemHttpProtocol",
        ]  # fmt: skip
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
    "ServerProcess",
    "TcpProxy",
    "app_client",
    "free_port",
    "postgres_address",
    "serve_in_loop",
    "signing_auth",
    "truncate_all",
]
