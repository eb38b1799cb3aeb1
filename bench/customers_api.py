"""Customer upserts and reads through the gateway, and reads straight from the service for comparison.

Starts the four processes (one uvicorn worker each) on a fresh `<db>_bench` database next to the
development database (DATABASE_URL or the embedded server), then prints requests/s and latency
percentiles. The load comes from this same machine (httpx, asyncio), so it competes for the cores.

    .venv/bin/python bench/customers_api.py [--customers 5000] [--seconds 10] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import time
from pathlib import Path

import httpx

from gateway.keys import service as keys
from gateway.keys.schemas import Scope
from gateway.settings import GatewaySettings
from servicekit.db import build_engine, sessionmaker_for
from servicekit.migrations import discover_components, upgrade
from servicekit.pg import create_database, ensure_database_url, with_database
from servicekit.testing import ServerProcess


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {ram:.0f} GiB, Python {platform.python_version()}"


def report(name: str, latencies: list[float], elapsed: float, errors: int) -> None:
    q = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<34} {len(latencies) / elapsed:8.0f} req/s   p50 {q[49] * 1000:6.1f} ms   "
        f"p95 {q[94] * 1000:6.1f} ms   p99 {q[98] * 1000:6.1f} ms   errors {errors}"
    )


async def run_for(make_request, concurrency: int, *, count: int | None = None, seconds: float | None = None):
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.monotonic() + (seconds or 1e9)

    async def worker() -> None:
        nonlocal errors, issued
        while time.monotonic() < deadline and (count is None or issued < count):
            issued += 1
            started = time.perf_counter()
            response = await make_request(issued)
            latencies.append(time.perf_counter() - started)
            errors += response.status_code >= 400

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.monotonic() - started, errors


async def bench(args: argparse.Namespace, gateway: ServerProcess, segmentation: ServerProcess, key: str) -> None:
    limits = httpx.Limits(max_connections=args.concurrency)
    auth = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(base_url=gateway.url, headers=auth, limits=limits, timeout=30) as via_gateway,
        httpx.AsyncClient(base_url=segmentation.url, limits=limits, timeout=30) as direct,
    ):

        async def upsert(i: int) -> httpx.Response:
            body = {"name": f"Customer {i}", "kind": "b2b" if i % 3 else "b2c", "consent": {"email": i % 2 == 0}}
            return await via_gateway.put(f"/v1/segmentation/customers/C{i:07d}", json=body)

        report("PUT customer via gateway", *await run_for(upsert, args.concurrency, count=args.customers))

        def read(client: httpx.AsyncClient):
            async def one(_: int) -> httpx.Response:
                return await client.get(f"/v1/segmentation/customers/C{random.randint(1, args.customers):07d}")

            return one

        report("GET customer direct", *await run_for(read(direct), args.concurrency, seconds=args.seconds))
        report("GET customer via gateway", *await run_for(read(via_gateway), args.concurrency, seconds=args.seconds))

        async def page(_: int) -> httpx.Response:
            return await via_gateway.get("/v1/segmentation/customers", params={"limit": 100})

        report("GET 100-customer page via gateway", *await run_for(page, args.concurrency, seconds=args.seconds))


async def create_key(database_url: str) -> str:
    settings = GatewaySettings(database_url=database_url)
    engine = build_engine(settings, application_name="bench")
    try:
        async with sessionmaker_for(engine)() as session, session.begin():
            secret = settings.api_key_secret.get_secret_value()
            return (await keys.create_key(session, secret, "bench", [Scope.write])).key
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    base = ensure_database_url()
    url = with_database(base, "retention_bench")
    create_database(url, drop_first=True)
    for component in discover_components(Path(__file__).resolve().parents[1]):
        upgrade(component, url)
    env = {"DATABASE_URL": url, "SEGMENTATION_LOG_LEVEL": "WARNING", "GATEWAY_LOG_LEVEL": "WARNING"}
    segmentation = ServerProcess("segmentation.main:create_app", env, name="segmentation").start()
    gateway = ServerProcess(
        "gateway.main:create_app", {**env, "GATEWAY_SEGMENTATION_URL": segmentation.url}, name="gateway"
    ).start()
    try:
        print(f"machine: {machine()}")
        print(f"load: {args.concurrency} concurrent clients, {args.customers} customers, {args.seconds:.0f} s a run")
        asyncio.run(bench(args, gateway, segmentation, asyncio.run(create_key(url))))
    finally:
        gateway.stop()
        segmentation.stop()


if __name__ == "__main__":
    main()
