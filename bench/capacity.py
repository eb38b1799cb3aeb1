"""Capacity: reservation throughput under contention, and whether it stays exact.

On a fresh database next to the development one (DATABASE_URL or the embedded server): segmentation with
synthetic customers (segmentation.synthetic, their orders up to today, a predictive fit and a run that
scores them) and capacity as uvicorn processes; resources whose baseline capacity forecasts from them over
HTTP. Then `--requests` reservations,
each with its own Idempotency-Key and two lines on two of a few hot resource-weeks (`--cells`), are sent by
`--concurrency` clients at once, so that they queue for the same rows; together they ask for about twice
what fits. Prints requests/s, latency percentiles, granted and refused, and checks that what was granted
in every cell is exactly what its headroom lost and never more than it had.

    .venv/bin/python bench/capacity.py [--requests 2000] [--concurrency 32] [--cells 4] [--customers 2000]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would hide the service package;
# what the benchmarks share lives in bench/lib, which hides nothing.
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH] + [str(BENCH / "lib")]

import argparse
import asyncio
import random
import time
from collections import Counter
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal

import httpx
from benchkit import SIGNING, fresh_database, machine, signed

from capacity.weeks import current_week
from segmentation.synthetic import generate
from servicekit.testing import ServerProcess

RESOURCES = ("assembly-hours", "delivery-slots")


def import_history(segmentation: ServerProcess, customers: int) -> int:
    dataset = generate(customers, seed=1, as_of=date.today())
    for entity, table in dataset.entities():
        if entity in ("customers", "orders"):
            response = httpx.post(
                f"{segmentation.url}/v1/segmentation/imports/{entity}",
                content=table.content,
                headers={"Content-Type": "text/csv"},
                timeout=600,
                auth=signed(),
            )
            response.raise_for_status()
    return dataset.orders.rows


def fit_and_run(segmentation: ServerProcess) -> str:
    """A predictive fit, then a run that scores the customers with it: the baseline's expected purchases."""
    with httpx.Client(base_url=segmentation.url, timeout=600, auth=signed()) as client:
        for path in ("/v1/segmentation/predictive/fits", "/v1/segmentation/runs"):
            location = client.post(path, json={}).raise_for_status().headers["location"]
            while (state := client.get(location).json())["status"] == "running":
                time.sleep(0.1)
            if state["status"] != "succeeded":
                return f"{path} {state['status']}: {state.get('error')}"
    return "fitted and scored"


def headroom(client: httpx.Client, cells: list[tuple[str, date]]) -> dict[tuple[str, date], Decimal]:
    last = max(week for _, week in cells)
    weeks = client.get("/v1/capacity/headroom", params={"to_week": str(last)}).raise_for_status().json()["weeks"]
    found = {(w["resource"], date.fromisoformat(w["week_start"])): Decimal(w["headroom"]) for w in weeks}
    return {cell: found[cell] for cell in cells}


async def send_all(url: str, bodies: list[dict], concurrency: int) -> tuple[float, list[tuple[int, float, dict]]]:
    queue: asyncio.Queue[tuple[int, dict]] = asyncio.Queue()
    for item in enumerate(bodies):
        queue.put_nowait(item)
    results: list[tuple[int, float, dict]] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120, auth=signed()) as client:

        async def worker() -> None:
            while not queue.empty():
                number, body = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(
                    "/v1/capacity/reservations", json=body, headers={"Idempotency-Key": f"bench-{number}"}
                )
                results.append((response.status_code, time.perf_counter() - started, response.json()))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, results


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--cells", type=int, default=4, help="hot resource-weeks the requests share (at least 2)")
    parser.add_argument("--customers", type=int, default=2000, help="synthetic customers behind the baseline")
    parser.add_argument("--database", default="capacity_bench", help="created anew next to the development one")
    args = parser.parse_args()
    assert args.cells >= 2, "each request names two cells"

    url = fresh_database(args.database)
    print(f"machine: {machine()}")

    quiet = {"DATABASE_URL": url, "SEGMENTATION_LOG_LEVEL": "WARNING", "CAPACITY_LOG_LEVEL": "WARNING", **SIGNING}
    segmentation = ServerProcess("segmentation.main:create_app", quiet, name="segmentation").start()
    capacity = ServerProcess(
        "capacity.main:create_app",
        {
            **quiet,
            "CAPACITY_SEGMENTATION_URL": segmentation.url,
            "CAPACITY_DB_POOL_SIZE": str(args.concurrency),
            "CAPACITY_DB_MAX_OVERFLOW": "0",
            "CAPACITY_MAINTENANCE_INTERVAL_SECONDS": "0",
        },
        name="capacity",
    ).start()
    try:
        orders = import_history(segmentation, args.customers)
        model = fit_and_run(segmentation)
        with httpx.Client(base_url=capacity.url, timeout=60, auth=signed()) as client:
            forecast = client.post("/v1/capacity/baseline/refresh").raise_for_status().json()
            for key in RESOURCES:  # capacity for about four times the existing customers' orders
                body = {
                    "name": key,
                    "unit": "units",
                    "weekly_capacity": "0",
                    "load_per_order": "1",
                    "new_customer_weekly_load": "1",
                }
                client.put(f"/v1/capacity/resources/{key}", json=body).raise_for_status()
                expected = Decimal(client.get("/v1/capacity/baseline").json()["weeks"][0]["expected_orders"])
                body["weekly_capacity"] = str(4 * expected + 100)
                client.put(f"/v1/capacity/resources/{key}", json=body).raise_for_status()
            this_week = current_week("UTC")
            cells = [(RESOURCES[i % 2], this_week + timedelta(weeks=1 + i // 2)) for i in range(args.cells)]
            before = headroom(client, cells)
            # Every request asks `amount` of two cells: together about twice what the hot cells have.
            amount = (2 * sum(before.values()) / (2 * args.requests)).quantize(Decimal("0.01"), ROUND_CEILING)
            rng = random.Random(1)
            bodies = []
            for n in range(args.requests):
                lines = [{"resource": r, "week_start": str(w), "amount": str(amount)} for r, w in rng.sample(cells, 2)]
                bodies.append({"campaign": f"bench-{n % 50}", "allow_partial": rng.random() < 0.5, "lines": lines})
            print(f"baseline: {args.customers} customers, {orders} orders; predictive model: {model}")
            print(f"forecast ({forecast['source']}): {forecast['method']}")
            print(
                f"load: {args.requests} reservations x 2 lines of {amount} on {args.cells} hot cells "
                f"(headroom {sum(before.values())} in all), {args.concurrency} at once, half with allow_partial"
            )

            elapsed, results = asyncio.run(send_all(capacity.url, bodies, args.concurrency))
            after = headroom(client, cells)

        statuses = Counter(status for status, _, _ in results)
        latencies = [seconds * 1000 for _, seconds, _ in results]
        granted: Counter[tuple[str, date]] = Counter()
        for status, _, body in results:
            if status == 201:
                for line in body["lines"]:
                    granted[(line["resource"], date.fromisoformat(line["week_start"]))] += Decimal(line["granted"])
        print(
            f"reservations: {len(results) / elapsed:.0f} requests/s over {elapsed:.1f} s; latency p50 "
            f"{percentile(latencies, 0.5):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms, p99 "
            f"{percentile(latencies, 0.99):.0f} ms"
        )
        print(
            f"answers: {statuses[201]} granted ({sum(1 for s, _, b in results if s == 201 and b['partial'])} in "
            f"part), {statuses[409]} refused, {len(results) - statuses[201] - statuses[409]} other"
        )
        exact = all(granted[cell] == before[cell] - after[cell] and granted[cell] <= before[cell] for cell in cells)
        print(
            f"exact: {'yes' if exact else 'NO'}: in each of the {len(cells)} cells what was granted is what its "
            f"headroom lost, and never more than it had (granted {sum(granted.values())} of "
            f"{sum(before.values())}; left {sum(after.values())})"
        )
        return 0 if exact and statuses[201] + statuses[409] == len(results) else 1
    finally:
        capacity.stop()
        segmentation.stop()


if __name__ == "__main__":
    sys.exit(main())
