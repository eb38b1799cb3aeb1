"""Soak: the whole stack under a mixed, concurrent load for a bounded time, then its invariants checked.

On a fresh database next to the development one (DATABASE_URL or the embedded server): segmentation, capacity,
campaigns and the gateway as one uvicorn worker each; N synthetic customers (segmentation.synthetic, about 10
orders each, up to today) imported and classified, capacity's baseline forecast from them, and two resources
with `--room` units a week of headroom above it. Then for `--minutes`, all at once, through the gateway over
real HTTP:
  - imports of further customers and their orders in batches, each with an Idempotency-Key: some sent twice
    at once with the same key, some replayed with it afterwards, some earlier ones sent again under a new key;
  - segmentation runs, one after another, each polled until it ends;
  - campaigns created (some replayed), planned from segmentation's audience, approved (a reservation at
    capacity: all of it, trimmed, or refused), and cancelled when refused or once ten newer ones are approved;
  - reservations on the campaigns' weeks, each with its own Idempotency-Key (some replayed, some sent twice at
    once), half with allow_partial; the granted ones confirmed (and released later), released at once, or left
    to expire;
  - capacity's headroom read every second.
Every answer is counted by operation and status. Prints requests, requests/s and p50/p95 per operation, and the
invariants, each "ok" or "VIOLATED" (then the exit status is 1):
  - no overbooking: in no resource-week do held, confirmed and consumed reservations exceed its capacity less
    baseline and reserve (every headroom read, and the reservations in the database at the end);
  - one reservation per Idempotency-Key, and approved campaigns hold exactly one confirmed reservation;
  - the customers and orders in the database are exactly the rows the imports acknowledged; replays and
    resends changed nothing;
  - only expected answers (no 5xx, no 429; a 409 only for capacity refusals and an import still running), and
    every segmentation run succeeded.
The load generator shares the machine's cores with the servers and Postgres.

    .venv/bin/python bench/soak.py [--minutes 10] [--customers 20000] [--import-customers 20000] [--batch 500]
        [--concurrency 8] [--room 300]
"""

from __future__ import annotations

import sys
from pathlib import Path

# What the benchmarks share lives in bench/lib (see bench/segmentation.py for why not this folder).
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH] + [str(BENCH / "lib")]

import argparse
import asyncio
import bisect
import itertools
import math
import random
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import numpy as np
from benchkit import SIGNING, UNLIMITED, create_key, fresh_database, full_run, import_file, machine

from capacity.weeks import current_week
from segmentation.synthetic import Table, generate
from servicekit.testing import ServerProcess

RESOURCES = ("soak-assembly", "soak-delivery")
HOT_WEEKS = 3  # the weeks after this one: the campaigns' schedule, and where the reservations contend
CAMPAIGN_KINDS = ("reactivation", "second_order", "loyalty")  # audiences: lapsed, Z2, Z4 (the kinds' defaults)
EXPECTED = {
    "import customers": {"201"},
    "import orders": {"201"},
    "import twice at once": {"201", "200", "409"},  # the second of two at once: still running (409) or done (200)
    "import replay": {"200"},
    "import resend": {"201"},
    "run": {"202"},
    "run poll": {"200"},
    "campaign create": {"201"},
    "campaign replay": {"200"},
    "campaign plan": {"200"},
    "campaign approve": {"200", "409 capacity-refused"},
    "campaign cancel": {"200"},
    "reserve": {"201", "409 insufficient-capacity"},
    "reserve twice at once": {"201", "200", "409 insufficient-capacity"},
    "reserve replay": {"201", "200", "409 insufficient-capacity"},  # a refusal holds no key: tried anew
    "confirm": {"200"},
    "release": {"200"},
    "headroom": {"200"},
}
Batch = dict[str, tuple[bytes, int]]  # entity -> (CSV file, rows)
INVARIANTS = ("no overbooking", "idempotency", "imports counted", "campaigns hold their capacity", "answers", "runs")


def cut(table: Table, customer_bounds: list[int], by_customer_column: bool) -> list[tuple[bytes, int]]:
    """The table cut into files (header + rows) of the customers in [bound, next bound): customers are one row
    per customer in order; orders are sorted by customer, so each file is a slice found by binary search."""
    content = table.content
    starts = np.flatnonzero(np.frombuffer(content, np.uint8) == ord("\n")) + 1  # starts[i]: data row i; then EOF
    header = content[: starts[0]]

    def customer(row: int) -> int:
        return int(content[starts[row] : starts[row + 1]].split(b",", 2)[1][1:])

    rows = len(starts) - 1
    cuts = [bisect.bisect_left(range(rows), b, key=customer) if by_customer_column else b - 1 for b in customer_bounds]
    return [(header + content[starts[a] : starts[b]], b - a) for a, b in itertools.pairwise(cuts)]


class Soak:
    def __init__(self, client: httpx.AsyncClient, args: argparse.Namespace, weeks: list[date], files: list[Batch]):
        self.client, self.args, self.weeks, self.batches = client, args, weeks, files
        self.cells = [(resource, week) for resource in RESOURCES for week in weeks]
        self.rng = random.Random(1)
        self.answers: Counter[tuple[str, str]] = Counter()
        self.latencies: defaultdict[str, list[float]] = defaultdict(list)
        self.unexpected: list[str] = []
        self.violations: defaultdict[str, list[str]] = defaultdict(list)
        self.next_batch = 0
        self.acknowledged: dict[str, dict[int, int]] = {"customers": {}, "orders": {}}  # batch -> accepted rows
        self.runs: list[str] = []
        self.numbers = itertools.count(1)
        self.confirmed: list[int] = []  # reservations confirmed, to be released later
        self.approved: list[int] = []  # campaigns approved, to be cancelled later
        self.lowest: dict[tuple[str, str], Decimal] = {}  # lowest headroom read per reserved cell
        self.deadline = 0.0

    def violated(self, invariant: str, message: str) -> None:
        self.violations[invariant].append(message)

    async def call(self, operation: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """Send, time and count one request by operation and answer (a problem's type named after the status)."""
        started = time.perf_counter()
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self._count(operation, type(exc).__name__, time.perf_counter() - started, repr(exc))
            return None
        answer = str(response.status_code)
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            kind = response.json().get("type", "about:blank").rsplit("/", 1)[-1]
            answer += "" if kind == "about:blank" else f" {kind}"
        self._count(operation, answer, time.perf_counter() - started, response.text[:200])
        return response

    def _count(self, operation: str, answer: str, seconds: float, text: str) -> None:
        self.answers[(operation, answer)] += 1
        self.latencies[operation].append(seconds)
        if answer not in EXPECTED[operation] and len(self.unexpected) < 20:
            self.unexpected.append(f"{operation} -> {answer}: {text}")

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    # --- imports ----------------------------------------------------------------------------------------------

    async def _upload(self, operation: str, entity: str, content: bytes, key: str) -> httpx.Response | None:
        headers = {"Content-Type": "text/csv", "Idempotency-Key": key}
        return await self.call(
            operation, "POST", f"/v1/segmentation/imports/{entity}", content=content, headers=headers
        )

    async def importer(self) -> None:
        while self.running():
            if self.next_batch < len(self.batches):
                self.next_batch += 1
                await self._import_batch(self.next_batch - 1)
            elif self.acknowledged["orders"]:  # every batch is in: send earlier ones again
                await self._resend(self.rng.choice(list(self.acknowledged["orders"])))
            else:
                await asyncio.sleep(1)

    async def _import_batch(self, n: int) -> None:
        for entity in ("customers", "orders"):  # the orders' customers first
            content, rows = self.batches[n][entity]
            key = f"soak-{entity}-{n}"
            if self.rng.random() < 0.1:
                pair = await asyncio.gather(*(self._upload("import twice at once", entity, content, key) for _ in "ab"))
                created = [r for r in pair if r is not None and r.status_code == 201]
                if len(created) != 1:
                    statuses = [r.status_code if r is not None else None for r in pair]
                    self.violated("idempotency", f"{key} sent twice at once: answers {statuses}, not one 201")
            else:
                answer = await self._upload(f"import {entity}", entity, content, key)
                created = [answer] if answer is not None and answer.status_code == 201 else []
            if not created:
                return  # counted as unexpected; its orders would be refused for want of their customers
            job = created[0].json()
            if (job["rows_accepted"], job["rows_created"], job["rows_rejected"]) != (rows, rows, 0):
                self.violated("imports counted", f"{key}: {rows} new rows, but the import answered {job}")
            self.acknowledged[entity][n] = job["rows_accepted"]
            if self.rng.random() < 0.2:
                replay = await self._upload("import replay", entity, content, key)
                if replay is not None and replay.status_code == 200 and replay.json()["id"] != job["id"]:
                    self.violated("idempotency", f"{key} replayed: import {replay.json()['id']}, not {job['id']}")

    async def _resend(self, n: int) -> None:
        """A batch imported before, under a new key: accepted again, and every row unchanged."""
        for entity in ("customers", "orders"):
            content, rows = self.batches[n][entity]
            answer = await self._upload("import resend", entity, content, f"soak-{entity}-{n}-{next(self.numbers)}")
            if answer is not None and answer.status_code == 201:
                job = answer.json()
                if (job["rows_accepted"], job["rows_unchanged"], job["rows_rejected"]) != (rows, rows, 0):
                    self.violated("imports counted", f"batch {n} of {entity} sent again changed something: {job}")

    # --- segmentation runs ------------------------------------------------------------------------------------

    async def runner(self) -> None:
        while self.running():
            started = await self.call("run", "POST", "/v1/segmentation/runs", json={})
            if started is None or started.status_code != 202:
                await asyncio.sleep(1)
                continue
            status, give_up = "running", time.monotonic() + 600
            while status == "running":  # a run started is followed to its end, past the deadline too
                if time.monotonic() > give_up:
                    status = "still running after 10 minutes"
                    break
                await asyncio.sleep(0.5)
                poll = await self.call("run poll", "GET", started.headers["location"])
                if poll is not None and poll.status_code == 200:
                    run = poll.json()
                    status = run["status"] if run["status"] != "failed" else f"failed: {run['error']}"
            self.runs.append(status)

    # --- campaigns --------------------------------------------------------------------------------------------

    async def planner(self) -> None:
        while self.running():
            n = next(self.numbers)
            body = {
                "name": f"Soak {n}",
                "kind": self.rng.choice(CAMPAIGN_KINDS),
                "channel": "email",
                "starts_on": str(self.weeks[0]),
                "ends_on": str(self.weeks[-1] + timedelta(days=6)),
                "size_limit": self.rng.choice([50, 200, 1000]),
                "cost_per_contact": "0.10",
                "capacity_policy": "refuse" if self.rng.random() < 0.25 else "trim",
            }
            create = {"json": body, "headers": {"Idempotency-Key": f"soak-campaign-{n}"}}
            created = await self.call("campaign create", "POST", "/v1/campaigns/campaigns", **create)
            if created is None or created.status_code != 201:
                continue
            campaign = created.json()["id"]
            if self.rng.random() < 0.1:
                replay = await self.call("campaign replay", "POST", "/v1/campaigns/campaigns", **create)
                if replay is not None and replay.status_code == 200 and replay.json()["id"] != campaign:
                    self.violated("idempotency", f"campaign {n} replayed: {replay.json()['id']}, not {campaign}")
            path = f"/v1/campaigns/campaigns/{campaign}"
            planned = await self.call("campaign plan", "POST", f"{path}/plan", json={"by": "soak"})
            if planned is None or planned.status_code != 200:
                continue
            approved = await self.call("campaign approve", "POST", f"{path}/approve", json={"by": "soak"})
            if approved is not None and approved.status_code == 200:
                self.approved.append(campaign)
            else:
                await self.call("campaign cancel", "POST", f"{path}/cancel", json={"by": "soak"})
            # Approved campaigns keep their capacity until ten newer ones are approved: the weeks turn over, and
            # some are still approved at the end to be checked.
            while len(self.approved) > 10:
                cancelled = self.approved.pop(self.rng.randrange(len(self.approved)))
                await self.call("campaign cancel", "POST", f"/v1/campaigns/campaigns/{cancelled}/cancel", json={})

    # --- reservations -----------------------------------------------------------------------------------------

    async def reserver(self) -> None:
        while self.running():
            n = next(self.numbers)
            fate = self.rng.random()
            lines = [
                {"resource": r, "week_start": str(w), "amount": f"{self.rng.uniform(0.5, 8):.2f}"}
                for r, w in self.rng.sample(self.cells, self.rng.randint(1, 3))
            ]
            body: dict[str, Any] = {"campaign": f"soak-{n % 20}", "allow_partial": self.rng.random() < 0.5}
            body["lines"] = lines
            if fate < 0.3:
                body["hold_seconds"] = 20  # left held: it stops counting after that
            post = {"json": body, "headers": {"Idempotency-Key": f"soak-reservation-{n}"}}
            if self.rng.random() < 0.05:
                pair = await asyncio.gather(
                    *(self.call("reserve twice at once", "POST", "/v1/capacity/reservations", **post) for _ in "ab")
                )
                held = [r.json() for r in pair if r is not None and r.status_code in (200, 201)]
                if len({h["id"] for h in held}) > 1:
                    self.violated("idempotency", f"reservation key {n} sent twice at once: two reservations")
            else:
                answer = await self.call("reserve", "POST", "/v1/capacity/reservations", **post)
                held = [answer.json()] if answer is not None and answer.status_code == 201 else []
                if self.rng.random() < 0.1:
                    replay = await self.call("reserve replay", "POST", "/v1/capacity/reservations", **post)
                    if replay is not None and held:  # granted before: the same reservation again
                        if replay.status_code != 200 or replay.json()["id"] != held[0]["id"]:
                            self.violated("idempotency", f"reservation key {n} replayed: {replay.text[:200]}")
                    elif replay is not None and replay.status_code == 201:  # a refusal holds no key: tried anew
                        held = [replay.json()]
            if not held:
                continue
            reservation = held[0]["id"]
            if 0.3 <= fate < 0.65:
                confirmed = await self.call("confirm", "POST", f"/v1/capacity/reservations/{reservation}/confirm")
                if confirmed is not None and confirmed.status_code == 200:
                    self.confirmed.append(reservation)
            elif fate >= 0.65:
                await self.call("release", "POST", f"/v1/capacity/reservations/{reservation}/release")
            # Confirmed ones are given back a little slower than they come in while everything is granted: the
            # hot weeks fill up and stay near full, where grants are refused or partial and the locks contended.
            if self.confirmed and self.rng.random() < 0.3:
                given_back = self.confirmed.pop(self.rng.randrange(len(self.confirmed)))
                await self.call("release", "POST", f"/v1/capacity/reservations/{given_back}/release")

    async def monitor(self) -> None:
        """Reads the headroom every second: a reserved cell below zero is overbooked at that moment."""
        while self.running():
            params = {"from_week": str(self.weeks[0]), "to_week": str(self.weeks[-1])}
            answer = await self.call("headroom", "GET", "/v1/capacity/headroom", params=params)
            if answer is not None and answer.status_code == 200:
                for week in answer.json()["weeks"]:
                    cell = (week["resource"], week["week_start"])
                    reserved = sum(Decimal(week[state]) for state in ("held", "confirmed", "consumed"))
                    if reserved > 0:
                        self.lowest[cell] = min(self.lowest.get(cell, Decimal("Infinity")), Decimal(week["headroom"]))
            await asyncio.sleep(1)

    async def soak(self, seconds: float) -> float:
        self.deadline = time.monotonic() + seconds
        started = time.perf_counter()
        workers = [self.importer(), self.importer(), self.runner(), self.planner(), self.planner(), self.monitor()]
        await asyncio.gather(*workers, *(self.reserver() for _ in range(self.args.concurrency)))
        return time.perf_counter() - started


async def database_figures(url: str) -> dict[str, Any]:
    """What the database holds at the end, read with SQL of the bench's own (not the services')."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        counts = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM segmentation.customers) AS customers, "
            "(SELECT count(*) FROM segmentation.orders) AS orders"
        )
        reserved = await connection.fetch("""
            SELECT r.key AS resource, l.week_start, sum(l.granted) AS reserved
            FROM capacity.reservation_lines l
            JOIN capacity.reservations v ON v.id = l.reservation_id
            JOIN capacity.resources r ON r.id = l.resource_id
            WHERE v.state IN ('confirmed', 'consumed') OR v.state = 'held' AND v.expires_at > statement_timestamp()
            GROUP BY 1, 2""")
        live = await connection.fetch("""
            SELECT campaign, count(*) FILTER (WHERE state = 'confirmed') AS confirmed, count(*) AS live
            FROM capacity.reservations
            WHERE campaign LIKE 'campaign-%'
              AND (state = 'confirmed' OR state = 'held' AND expires_at > statement_timestamp())
            GROUP BY campaign""")
        approved = await connection.fetch(
            "SELECT 'campaign-' || id AS campaign FROM campaigns.campaigns "
            "WHERE state = 'approved' AND reservation IS NOT NULL"
        )
        return {
            "customers": counts["customers"],
            "orders": counts["orders"],
            "reserved": {(r["resource"], r["week_start"].isoformat()): r["reserved"] for r in reserved},
            "campaign_reservations": {r["campaign"]: (r["confirmed"], r["live"]) for r in live},
            "approved": {r["campaign"] for r in approved},
        }
    finally:
        await connection.close()


def report(
    soak: Soak,
    seconds: float,
    figures: dict[str, Any],
    allowed: dict[tuple[str, str], Decimal],
    expected: dict[str, int],
) -> bool:
    """Print the figures and the invariants; whether every invariant held."""
    print(f"{'operation':<22} {'requests':>8} {'req/s':>6} {'p50':>8} {'p95':>8}   answers")
    for operation in EXPECTED:
        if not (latencies := soak.latencies.get(operation)):
            continue
        p50, p95 = np.percentile(latencies, [50, 95]) * 1000
        answers = ", ".join(f"{a}: {c}" for (o, a), c in sorted(soak.answers.items()) if o == operation)
        print(
            f"{operation:<22} {len(latencies):>8} {len(latencies) / seconds:>6.1f} {p50:>5.0f} ms {p95:>5.0f} ms"
            f"   {answers}"
        )
    total = soak.answers.total()
    print(f"{'all':<22} {total:>8} {total / seconds:>6.1f}   over {seconds:.0f} s")

    for cell, low in sorted(soak.lowest.items()):
        if low < 0:
            soak.violated("no overbooking", f"{cell} read at headroom {low} with reservations in it")
    for cell, reserved in sorted(figures["reserved"].items()):
        if reserved > allowed.get(cell, Decimal(0)):
            soak.violated("no overbooking", f"{cell}: {reserved} reserved at the end, {allowed.get(cell)} allowed")
    for entity, count in expected.items():
        if figures[entity] != count:
            soak.violated("imports counted", f"{figures[entity]} {entity} in the database, {count} acknowledged")
    for campaign in sorted(figures["approved"] | set(figures["campaign_reservations"])):
        confirmed, live = figures["campaign_reservations"].get(campaign, (0, 0))
        wanted = (1, 1) if campaign in figures["approved"] else (0, 0)
        if (confirmed, live) != wanted:
            soak.violated(
                "campaigns hold their capacity",
                f"{campaign} ({'approved' if wanted[0] else 'not approved'})"
                f": {live} live reservations, {confirmed} of them confirmed",
            )
    if unexpected := sum(count for (o, a), count in soak.answers.items() if a not in EXPECTED[o]):
        soak.violated("answers", f"{unexpected} unexpected, e.g. " + " | ".join(soak.unexpected[:3]))
    failed = [status for status in soak.runs if status != "succeeded"]
    if failed or not soak.runs:
        soak.violated("runs", f"{len(failed)} of {len(soak.runs)} runs did not succeed: {failed[:3]}")

    print(
        f"headroom: {len(soak.latencies['headroom'])} reads, {len(soak.lowest)} cells reserved, lowest headroom "
        f"read {min(soak.lowest.values(), default=None)}; at the end {sum(figures['reserved'].values())} units "
        f"reserved, {len(figures['approved'])} campaigns approved"
    )
    print(
        f"imports: {expected['customers']} customers and {expected['orders']} orders acknowledged; "
        f"{figures['customers']} and {figures['orders']} in the database"
    )
    print(f"runs: {len(soak.runs)}, {len(soak.runs) - len(failed)} succeeded")
    print("invariants:")
    for invariant in INVARIANTS:
        found = soak.violations.get(invariant, [])
        print(f"  {invariant}: {'VIOLATED' if found else 'ok'}" + "".join(f"\n    {m}" for m in found[:5]))
    return not soak.violations


def start(url: str) -> list[ServerProcess]:
    """The four components wired as in production, the gateway last."""
    quiet = {f"{c}_LOG_LEVEL": "WARNING" for c in ("SEGMENTATION", "CAMPAIGNS", "CAPACITY", "GATEWAY")}
    # The overbooking check holds reservations against one baseline: a refresh on the orders imported meanwhile
    # would move it (and may leave a week below zero without any overbooking).
    env = {"DATABASE_URL": url, **quiet, "CAPACITY_BASELINE_MAX_AGE_SECONDS": "86400", **SIGNING}
    names = ("segmentation", "capacity", "campaigns")
    services = {name: ServerProcess(f"{name}.main:create_app", env, name=name) for name in names}
    services["capacity"].env["CAPACITY_SEGMENTATION_URL"] = services["segmentation"].url
    services["campaigns"].env["CAMPAIGNS_SEGMENTATION_URL"] = services["segmentation"].url
    services["campaigns"].env["CAMPAIGNS_CAPACITY_URL"] = services["capacity"].url
    routes = {f"GATEWAY_{name.upper()}_URL": process.url for name, process in services.items()}
    processes = [*services.values(), ServerProcess("gateway.main:create_app", {**env, **UNLIMITED, **routes})]
    started: list[ServerProcess] = []
    try:
        for process in processes:
            started.append(process.start())
    except BaseException:
        for process in started:
            process.stop()
        raise
    return started


def seed(gateway: ServerProcess, key: str, args: argparse.Namespace) -> tuple[dict[str, int], list[Batch]]:
    """The first `--customers` customers and their orders imported; the rest cut into batches for the soak."""
    dataset = generate(args.customers + args.import_customers, seed=1, as_of=date.today())
    last = args.customers + args.import_customers
    bounds = [1, *range(args.customers + 1, last + 1, args.batch), last + 1]
    files = {entity: cut(getattr(dataset, entity), bounds, entity == "orders") for entity in ("customers", "orders")}
    seeded = {}
    with tempfile.TemporaryDirectory() as tmp:
        for entity, cuts in files.items():
            path = Path(tmp) / f"{entity}.csv"
            path.write_bytes(cuts[0][0])
            job, _ = import_file(gateway, key, entity, path)
            assert job["rows_rejected"] == 0, job
            seeded[entity] = job["rows_accepted"]
    return seeded, [{entity: cuts[i] for entity, cuts in files.items()} for i in range(1, len(bounds) - 1)]


def setup_capacity(client: httpx.Client, weeks: list[date], room: int) -> Decimal:
    """Two resources, one unit an order, sized so that every hot week has `room` units above baseline and
    reserve; returns the smallest headroom of a hot week."""
    client.post("/v1/capacity/baseline/refresh").raise_for_status()
    span = {"from_week": str(weeks[0]), "to_week": str(weeks[-1])}
    for key in RESOURCES:
        body = {
            "name": key,
            "unit": "units",
            "weekly_capacity": "0",
            "load_per_order": "1",
            "reserve_share": "0.10",
            "new_customer_weekly_load": "1",
        }
        client.put(f"/v1/capacity/resources/{key}", json=body).raise_for_status()
        baseline = client.get("/v1/capacity/baseline", params={**span, "resource": key}).raise_for_status().json()
        most = max(Decimal(w["baseline"]) for w in baseline["weeks"])
        body["weekly_capacity"] = str(math.ceil((most + room) / Decimal("0.9")))  # less 10 % reserve: most + room
        client.put(f"/v1/capacity/resources/{key}", json=body).raise_for_status()
    return min(Decimal(w["headroom"]) for w in client.get("/v1/capacity/headroom", params=span).json()["weeks"])


async def run_soak(
    gateway: ServerProcess, key: str, args: argparse.Namespace, weeks: list[date], files: list[Batch]
) -> tuple[Soak, float, dict[tuple[str, str], Decimal]]:
    """The soak; then what each resource-week may hold (capacity - baseline - reserve) over the horizon."""
    limits = httpx.Limits(max_connections=args.concurrency + 16)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers, limits=limits, timeout=120) as client:
        soak = Soak(client, args, weeks, files)
        seconds = await soak.soak(args.minutes * 60)
        weeks_now = (await client.get("/v1/capacity/headroom")).raise_for_status().json()["weeks"]
    allowed = {
        (w["resource"], w["week_start"]): Decimal(w["capacity"]) - Decimal(w["baseline"]) - Decimal(w["reserve"])
        for w in weeks_now
    }
    return soak, seconds, allowed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--customers", type=int, default=20_000, help="synthetic customers imported before")
    parser.add_argument("--import-customers", type=int, default=20_000, help="more imported during the soak")
    parser.add_argument("--batch", type=int, default=500, help="customers per import (with their orders)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients making reservations at once")
    parser.add_argument("--room", type=int, default=300, help="units a hot week has above baseline and reserve")
    parser.add_argument("--database", default="retention_soak", help="created anew next to the development one")
    args = parser.parse_args()

    url = fresh_database(args.database)
    processes = start(url)
    gateway = processes[-1]
    try:
        key = asyncio.run(create_key(url))
        seeded, files = seed(gateway, key, args)
        weeks = [current_week("UTC") + timedelta(weeks=i) for i in range(1, HOT_WEEKS + 1)]
        with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=600) as client:
            full_run(client, str(date.today()))
            room = setup_capacity(client, weeks, args.room)
        print(f"machine: {machine()}")
        print(
            f"data: {seeded['customers']} customers and {seeded['orders']} orders imported before; "
            f"{args.import_customers} customers ({sum(f['orders'][1] for f in files)} orders) in {len(files)} "
            f"batches to import during the soak"
        )
        print(
            f"load: {args.minutes:g} min; 2 importers, 1 run loop, 2 campaign planners, {args.concurrency} "
            f"reservation clients, 1 headroom reader; {len(RESOURCES)} resources x {HOT_WEEKS} hot weeks with at "
            f"least {room} units of headroom each"
        )

        soak, seconds, allowed = asyncio.run(run_soak(gateway, key, args, weeks, files))
        figures = asyncio.run(database_figures(url))
        expected = {entity: seeded[entity] + sum(soak.acknowledged[entity].values()) for entity in seeded}
        return 0 if report(soak, seconds, figures, allowed, expected) else 1
    finally:
        for process in processes:
            process.stop()


if __name__ == "__main__":
    sys.exit(main())
