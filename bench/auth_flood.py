"""A flood of unknown API keys, and what it does to a legitimate client's reads through the gateway.

On a fresh `retention_auth_flood` database next to the development one (DATABASE_URL or the embedded server):
segmentation and the gateway as one uvicorn worker each (the per-key rate limits out of the benchmark's reach),
N customers PUT through the gateway. A legitimate client (httpx, one keep-alive connection, from 127.0.0.1) reads
one random customer after the other (`GET /v1/segmentation/customers/{id}`, its key cached by the gateway). In
turn, `--windows` times: `--window` seconds alone, then `--window` seconds while another process floods the
gateway with requests that each carry a new random well-formed key, `--flood-rate` a second over
`--flood-connections` keep-alive connections, from 127.0.0.2: another client address on the same machine (where
127.0.0.2 cannot be bound, from 127.0.0.1 too, which the output says: a key in use keeps working from a flooded
address, so the figures mean the same). Alternating short windows lets whatever else the machine does weigh on
both alike. Once with the gateway's failed-authentication limit at its defaults, once without
(GATEWAY_AUTH_FAILURE_LIMIT_ENABLED=false: every unknown key a database lookup, as before the limit existed).
Prints the legitimate reads' p50/p95 alone and during the flood, the flood's answers and the key lookups the
gateway made (its /metrics), and whether the reads stayed within 20 % of alone (the target).
The load generators share the machine's cores with the servers and Postgres.

    .venv/bin/python bench/auth_flood.py [--customers 200] [--flood-rate 250] [--flood-connections 16]
                                         [--window 2] [--windows 10]
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


def flood(url: str, address: str, rate: float, connections: int, events: tuple[Any, Any, Any], results: Any) -> None:
    """In its own process, so that the legitimate client's timings do not wait on the flood's event loop: says it
    is `ready`, sends while `active` is set, until `stop` is, and puts what it was answered on `results`."""
    ready, active, stop = events
    ready.set()
    results.put(asyncio.run(_flood(url, address, rate, connections, active, stop)))


async def _flood(url: str, address: str, rate: float, connections: int, active: Any, stop: Any) -> Counter[str]:
    """Requests on `connections` keep-alive connections, paced to `rate` a second in all. Plain HTTP/1.1 over
    asyncio streams: an attacker's client costs the attacker, and on a shared machine an HTTP library's cost per
    request would weigh on the servers' cores as much as the gateway's own."""
    host, port = URL_PARTS.match(url).groups()
    statuses: Counter[str] = Counter()
    next_at = 0.0

    async def connection() -> None:
        nonlocal next_at
        reader = writer = None
        while not stop.is_set():
            if not active.is_set():
                await asyncio.sleep(0.005)
                continue
            now = time.perf_counter()
            at = max(next_at, now)  # after a pause, no catching up: the rate holds from now
            next_at = at + 1 / rate
            if at > now:
                await asyncio.sleep(at - now)
            key = f"rk_{secrets.token_urlsafe(32)}"  # well-formed, never issued
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, int(port), local_addr=(address, 0))
                writer.write(
                    f"GET /v1/segmentation/customers HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Authorization: Bearer {key}\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = CONTENT_LENGTH.search(head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                statuses[head.split(b" ", 2)[1].decode()] += 1
            except (OSError, asyncio.IncompleteReadError) as exc:  # the server closed an idle connection
                statuses[type(exc).__name__] += 1
                writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return statuses


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


def cpu_seconds(process: ServerProcess) -> float:
    """CPU time the server's process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{process.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    """Legitimate reads alone and during a flood, in turn; prints them and returns the figures."""
    context = multiprocessing.get_context("spawn")
    ready, active, stop, results = context.Event(), context.Event(), context.Event(), context.Queue()
    flooder = context.Process(
        target=flood,
        args=(gateway.url, address, args.flood_rate, args.flood_connections, (ready, active, stop), results),
    )
    flooder.start()
    ready.wait(120)
    transport = httpx.HTTPTransport(local_address=LEGITIMATE)
    reads: dict[str, list[float]] = {"alone": [], "during": []}
    seconds = {"alone": 0.0, "during": 0.0}
    cpu = {"alone": 0.0, "during": 0.0}  # the gateway's
    with httpx.Client(
        base_url=gateway.url, transport=transport, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        for _ in range(WARM_UP_READS):
            read(client, args.customers)
        before = key_counts(gateway)
        for _ in range(args.windows):
            for phase in ("alone", "during"):
                active.set() if phase == "during" else active.clear()
                begin, begin_cpu = time.perf_counter(), cpu_seconds(gateway)
                while time.perf_counter() < begin + args.window:
                    reads[phase].append(read(client, args.customers))
                seconds[phase] += time.perf_counter() - begin
                cpu[phase] += cpu_seconds(gateway) - begin_cpu
        active.clear()
        stop.set()
        statuses = results.get(timeout=120)
        flooder.join()
    counts = {k: v - before.get(k, 0) for k, v in key_counts(gateway).items() if v - before.get(k, 0)}

    figures = {phase: (percentile(values, 50), percentile(values, 95)) for phase, values in reads.items()}
    (p50, p95), (f50, f95) = figures["alone"], figures["during"]
    print(f"{name}:")
    alone, during = len(reads["alone"]), len(reads["during"])
    print(f"  legitimate reads alone              {alone:6d} reads   p50 {p50:7.2f} ms   p95 {p95:7.2f} ms")
    print(
        f"  legitimate reads during the flood   {during:6d} reads   p50 {f50:7.2f} ms ({f50 / p50 - 1:+.0%})   "
        f"p95 {f95:7.2f} ms ({f95 / p95 - 1:+.0%})"
    )
    answered = sum(n for status, n in statuses.items() if status.isdigit())
    answers = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
    flooded = seconds["during"]
    print(f"  flood: {answered} requests in {flooded:.1f} s ({answered / flooded:.0f}/s), answered {answers}")
    alone_cpu, flood_cpu = cpu["alone"] / seconds["alone"], cpu["during"] / flooded
    print(
        f"  the gateway's CPU: {alone_cpu:.0%} of a core alone, {flood_cpu:.0%} during the flood; "
        f"{(cpu['during'] - during * cpu['alone'] / alone) / answered * 1000:.2f} ms a flood request"
    )
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
    parser.add_argument("--flood-rate", type=float, default=250, help="flood requests sent a second")
    parser.add_argument("--flood-connections", type=int, default=16)
    parser.add_argument("--window", type=float, default=2.0, help="seconds of reads alone, then during the flood")
    parser.add_argument("--windows", type=int, default=10, help="that many times in turn")
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
            print(
                f"legitimate reads: one at a time from {LEGITIMATE}, {args.customers} customers; flood: random "
                f"unknown keys at {args.flood_rate:g}/s over {args.flood_connections} connections from {address}"
                f"{same}; {args.windows} x {args.window:g} s alone and {args.window:g} s in it, in turn"
            )
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
    print(
        f"with the limit, a legitimate read during the flood: p50 {f50 / p50 - 1:+.0%}, p95 {f95 / p95 - 1:+.0%} "
        f"of alone (target: within {TARGET:.0%}): {'yes' if within else 'no'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
