"""A flood of unknown API keys, and what it does to a legitimate client's reads through the gateway.

On a fresh `retention_auth_flood` database next to the development one (DATABASE_URL or the embedded server):
segmentation and the gateway as one uvicorn worker each (the per-key rate limits out of the benchmark's reach),
N customers PUT through the gateway. A legitimate client (httpx, one keep-alive connection, from 127.0.0.1) reads
one random customer after the other (`GET /v1/segmentation/customers/{id}`, its key cached by the gateway), first
alone, then while another process sends `--flood-requests` requests, each with a new random well-formed
key, at `--flood-rate` a second over up to `--flood-connections` connections, from 127.0.0.2: another client
address on the same machine (where 127.0.0.2 cannot be bound, from 127.0.0.1 too, which is said in the output: a
key in use keeps working from a flooded address, so the figures still mean the same). Both phases last as long as
the flood, and alternate `--rounds` times (so that what else the machine does weighs on both alike). Once with the
gateway's failed-authentication limit (its default settings), once without
(GATEWAY_AUTH_FAILURE_LIMIT_ENABLED=false: every unknown key a database lookup, as before the limit existed).
Prints the legitimate reads' p50/p95 alone and during each flood, the flood's answers and the database lookups the
gateway made for keys (its /metrics), and whether the reads stayed within 20 % of alone (the target).
The load generators share the machine's cores with the servers and Postgres.

    .venv/bin/python bench/auth_flood.py [--customers 200] [--flood-requests 1500] [--flood-rate 250]
                                         [--flood-connections 16] [--rounds 3]
"""

from __future__ import annotations

import sys
from pathlib import Path

# What the benchmarks share lives in bench/lib (see bench/segmentation.py for why not this folder).
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH] + [str(BENCH / "lib")]

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import secrets
import socket
import time
from collections import Counter
from typing import Any

import httpx
from benchkit import UNLIMITED, create_key, fresh_database, machine
from prometheus_client.parser import text_string_to_metric_families

from servicekit.testing import ServerProcess

LEGITIMATE = "127.0.0.1"
FLOOD = "127.0.0.2"
WARM_UP_READS = 100
URL_PARTS = re.compile(r"http://([^:/]+):(\d+)")
CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")
TARGET = 0.20


def flood_address() -> str:
    """127.0.0.2 where the machine lets a socket bind it (Linux: the whole of 127/8 is loopback), else 127.0.0.1."""
    try:
        with socket.socket() as sock:
            sock.bind((FLOOD, 0))
        return FLOOD
    except OSError:
        return LEGITIMATE


def flood(url: str, address: str, requests: int, rate: float, connections: int, started: Any, results: Any) -> None:
    """In its own process, so that the legitimate client's timings do not wait on the flood's event loop."""
    results.put(asyncio.run(_flood(url, address, requests, rate, connections, started)))


async def _flood(url: str, address: str, requests: int, rate: float, connections: int, started: Any) -> dict:
    """Requests on `connections` keep-alive connections, paced to `rate` a second in all. Plain HTTP/1.1 over
    asyncio streams: an attacker's client costs the attacker, and on a shared machine an HTTP library's cost per
    request would weigh on the servers' cores as much as the gateway's own."""
    host, port = URL_PARTS.match(url).groups()
    statuses: Counter[str] = Counter()
    begin = time.perf_counter()
    sent = 0

    async def connection() -> None:
        nonlocal sent
        reader, writer = await asyncio.open_connection(host, int(port), local_addr=(address, 0))
        try:
            while sent < requests:
                slot = sent
                sent += 1
                delay = begin + slot / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                key = f"rk_{secrets.token_urlsafe(32)}"  # well-formed, never issued
                writer.write(
                    f"GET /v1/segmentation/customers HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Authorization: Bearer {key}\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                statuses[head.split(b" ", 2)[1].decode()] += 1
                length = CONTENT_LENGTH.search(head)
                await reader.readexactly(int(length.group(1)) if length else 0)
        except (OSError, asyncio.IncompleteReadError) as exc:
            statuses[type(exc).__name__] += 1
        finally:
            writer.close()

    started.set()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return {"statuses": dict(statuses), "seconds": time.perf_counter() - begin}


def read(client: httpx.Client, customers: int) -> float:
    """One legitimate read; its latency in ms."""
    started = time.perf_counter()
    response = client.get(f"/v1/segmentation/customers/F{random.randint(1, customers):06d}")
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (response.status_code, response.text)
    return elapsed


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def key_counts(gateway: ServerProcess) -> dict[str, float]:
    """The gateway's key lookups by result and its refusals by reason, so far."""
    counts: dict[str, float] = Counter()
    for family in text_string_to_metric_families(httpx.get(f"{gateway.url}/metrics").text):
        for sample in family.samples:
            if sample.name == "gateway_api_key_lookups_total":
                counts[f"lookup {sample.labels['result']}"] += sample.value
            elif sample.name == "gateway_auth_failures_total":
                counts[f"refused {sample.labels['reason']}"] += sample.value
    return counts


def scenario(name: str, gateway: ServerProcess, key: str, args: argparse.Namespace, address: str) -> dict[str, Any]:
    """Legitimate reads alone, then during a flood; prints both and returns the figures."""
    seconds = args.flood_requests / args.flood_rate
    transport = httpx.HTTPTransport(local_address=LEGITIMATE)
    with httpx.Client(
        base_url=gateway.url, transport=transport, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        for _ in range(WARM_UP_READS):
            read(client, args.customers)
        alone: list[float] = []
        during: list[float] = []
        statuses: Counter[str] = Counter()
        flood_seconds = 0.0
        before = key_counts(gateway)
        for _ in range(args.rounds):
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                alone.append(read(client, args.customers))
            context = multiprocessing.get_context("spawn")
            started, results = context.Event(), context.Queue()
            flood_args = (args.flood_requests, args.flood_rate, args.flood_connections, started, results)
            flooder = context.Process(target=flood, args=(gateway.url, address, *flood_args))
            flooder.start()
            started.wait(60)
            while flooder.is_alive() and results.empty():
                during.append(read(client, args.customers))
            outcome = results.get(timeout=120)
            flooder.join()
            statuses.update(outcome["statuses"])
            flood_seconds += outcome["seconds"]
    counts = {k: v - before.get(k, 0) for k, v in key_counts(gateway).items() if v - before.get(k, 0)}

    figures = {
        "alone": (percentile(alone, 50), percentile(alone, 95)),
        "during": (percentile(during, 50), percentile(during, 95)),
    }
    (p50, p95), (f50, f95) = figures["alone"], figures["during"]
    print(f"{name}:")
    print(f"  legitimate reads alone              {len(alone):6d} reads   p50 {p50:7.2f} ms   p95 {p95:7.2f} ms")
    print(f"  legitimate reads during the flood   {len(during):6d} reads   p50 {f50:7.2f} ms ({f50 / p50 - 1:+.0%})"
          f"   p95 {f95:7.2f} ms ({f95 / p95 - 1:+.0%})")  # fmt: skip
    answers = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
    sent = args.flood_requests * args.rounds
    print(f"  flood: {args.rounds} x {args.flood_requests} requests in {flood_seconds:.1f} s "
          f"({sent / flood_seconds:.0f}/s), answered {answers}")  # fmt: skip
    lookups = ", ".join(f"{name} {n:.0f}" for name, n in sorted(counts.items())) or "none"
    print(f"  the gateway's key checks meanwhile: {lookups}")
    return figures


def start_gateway(url: str, segmentation: ServerProcess, **env: str) -> ServerProcess:
    gateway_env = {"DATABASE_URL": url, "GATEWAY_LOG_LEVEL": "WARNING", **UNLIMITED, **env}
    gateway_env["GATEWAY_SEGMENTATION_URL"] = segmentation.url
    return ServerProcess("gateway.main:create_app", gateway_env, name="gateway").start()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--flood-requests", type=int, default=1500)
    parser.add_argument("--flood-rate", type=float, default=250, help="flood requests sent a second")
    parser.add_argument("--flood-connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="reads alone and during a flood, this many times in turn")
    parser.add_argument("--database", default="retention_auth_flood", help="created anew next to the development one")
    args = parser.parse_args()

    url = fresh_database(args.database)
    address = flood_address()
    env = {"DATABASE_URL": url, "SEGMENTATION_LOG_LEVEL": "WARNING"}
    segmentation = ServerProcess("segmentation.main:create_app", env, name="segmentation").start()
    try:
        key = asyncio.run(create_key(url))
        gateway = start_gateway(url, segmentation)
        try:
            with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
                for i in range(1, args.customers + 1):
                    body = {"name": f"Flood {i}", "kind": "b2b"}
                    client.put(f"/v1/segmentation/customers/F{i:06d}", json=body).raise_for_status()
            print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f} before the benchmark")
            same = " (127.0.0.2 cannot be bound here: the same address)" if address == LEGITIMATE else ""
            print(f"legitimate reads: one at a time from {LEGITIMATE}, {args.customers} customers; flood: "
                  f"{args.flood_requests} random unknown keys at {args.flood_rate:g}/s over {args.flood_connections} "
                  f"connections from {address}{same}")  # fmt: skip
            limited = scenario("with the failed-authentication limit (defaults)", gateway, key, args, address)
        finally:
            gateway.stop()
        gateway = start_gateway(url, segmentation, GATEWAY_AUTH_FAILURE_LIMIT_ENABLED="false")
        try:
            scenario("without it (every unknown key a database lookup)", gateway, key, args, address)
        finally:
            gateway.stop()
    finally:
        segmentation.stop()
    (p50, p95), (f50, f95) = limited["alone"], limited["during"]
    within = f50 <= p50 * (1 + TARGET) and f95 <= p95 * (1 + TARGET)
    print(f"with the limit, a legitimate read during the flood: p50 {f50 / p50 - 1:+.0%}, p95 {f95 / p95 - 1:+.0%} "
          f"of alone (target: within {TARGET:.0%}): {'yes' if within else 'no'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
