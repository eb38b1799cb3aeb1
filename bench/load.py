"""Mixed ERP and frontend traffic through the gateway, and the gateway's cost against calling the service.

On a fresh `retention_load` database next to the development one (DATABASE_URL or the embedded server):
N synthetic customers (segmentation.synthetic, about 10 orders each) imported through the gateway and
classified by a full run; segmentation and the gateway as one uvicorn worker each. Then wrk (Debian package
`wrk`; 2 threads, C connections, S seconds a scenario) drives:
  1. profile reads straight from segmentation, and 2. the same through the gateway (its cost: 1 - 2/1), each as
     fast as they are answered (wrk's connections send their next request at once: the saturation rate);
  3. profile reads through the gateway paced to at most `--paced-rate` a second (each connection waits between
     its requests, so the latencies are those of a service under that load, not of a queue at saturation);
  4. a mix through the gateway: 70 % profile reads, 10 % customer pages, 10 % order PUTs, 10 % customer PUTs.
Prints each with requests/s, p50/p90/p99 and errors next to the targets: at least 1,000 profile reads/s through
the gateway with p99 under 50 ms and no errors (the paced run); the gateway costs at most 30 % of direct
throughput (the saturation runs).
The load generator shares the machine's cores with the servers and Postgres.

    .venv/bin/python bench/load.py [--customers 20000] [--seconds 15] [--connections 32] [--paced-rate 1200]
"""

from __future__ import annotations

import sys
from pathlib import Path

# What the benchmarks share lives in bench/lib (see bench/segmentation.py for why not this folder).
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH] + [str(BENCH / "lib")]

import argparse
import asyncio
import shutil
import tempfile
from datetime import date

import httpx
from benchkit import (
    create_key,
    fresh_database,
    full_run,
    import_file,
    machine,
    presigned_reads,
    segmentation_behind_gateway,
    wrk,
)

from segmentation.synthetic import generate

PROFILE_SCRIPT = """
request = function()
  return wrk.format("GET", string.format("/v1/segmentation/customers/C%07d/profile", math.random(1, {customers})))
end
"""
# wrk calls delay() before each request of a connection: connections x 1000 / delay_ms requests/s at most.
PACED_CONNECTIONS = 48
PACING = """
delay = function()
  return {delay_ms}
end
"""
# A headers table given to wrk.format replaces wrk's -H headers, so the key goes in for the writes.
MIXED_SCRIPT = """
local counter = 0
request = function()
  counter = counter + 1
  local dice = math.random(1, 10)
  local customer = string.format("C%07d", math.random(1, {customers}))
  if dice <= 7 then
    return wrk.format("GET", "/v1/segmentation/customers/" .. customer .. "/profile")
  elseif dice == 8 then
    return wrk.format("GET", "/v1/segmentation/customers?limit=50")
  end
  local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "{authorization}"}}
  local id = string.format("L%d-%d", math.random(1, 1000000000), counter)
  if dice == 9 then
    local body = string.format('{{"customer_external_id": "%s", "ordered_at": "2026-11-20T10:00:00Z", '
      .. '"net_amount": "42.00", "currency": "EUR"}}', customer)
    return wrk.format("PUT", "/v1/segmentation/orders/" .. id, headers, body)
  end
  local body = string.format('{{"name": "Load %s", "kind": "b2b", "consent": {{"email": true}}}}', id)
  return wrk.format("PUT", "/v1/segmentation/customers/" .. id, headers, body)
end
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--paced-rate", type=int, default=1200, help="at most this many reads/s in the paced run")
    parser.add_argument("--database", default="retention_load", help="created anew next to the development one")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 1

    url = fresh_database(args.database)
    with segmentation_behind_gateway(url) as (segmentation, gateway):
        key = asyncio.run(create_key(url))
        dataset = generate(args.customers, seed=1, as_of=date(2026, 11, 23))
        with tempfile.TemporaryDirectory() as tmp:
            for entity, table in (("customers", dataset.customers), ("orders", dataset.orders)):
                path = Path(tmp) / f"{entity}.csv"
                path.write_bytes(table.content)
                job, _ = import_file(gateway, key, entity, path)
                assert job["rows_rejected"] == 0, job
        with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=600) as client:
            full_run(client, "2026-11-23")
        print(f"machine: {machine()}")
        print(
            f"load: wrk, 2 threads, {args.connections} connections, {args.seconds} s a scenario, "
            f"{args.customers} customers, {dataset.orders.rows} orders"
        )
        run = {"seconds": args.seconds, "connections": args.connections}
        auth = [f"Authorization: Bearer {key}"]
        reads = PROFILE_SCRIPT.format(customers=args.customers)
        signed_reads = presigned_reads("/v1/segmentation/customers/C%07d/profile", args.customers)
        direct = wrk("profile reads, direct", segmentation.url, signed_reads, [], **run)
        through = wrk("profile reads, via gateway", gateway.url, reads, auth, **run)
        paced_run = {"seconds": args.seconds, "connections": PACED_CONNECTIONS}
        pacing = PACING.format(delay_ms=round(PACED_CONNECTIONS * 1000 / args.paced_rate))
        paced = wrk("profile reads, via gateway, paced", gateway.url, reads + pacing, auth, **paced_run)
        mixed = MIXED_SCRIPT.format(customers=args.customers, authorization=f"Bearer {key}")
        wrk("mixed ERP and frontend, via gateway", gateway.url, mixed, auth, **run)
        print(f"gateway cost: {1 - through['rps'] / direct['rps']:.0%} of direct throughput (target at most 30 %)")
        print(
            f"profile reads via gateway: {through['rps']:.0f}/s at saturation; paced, {paced['rps']:.0f}/s with "
            f"p99 {paced.get('p99', float('nan')):.0f} ms; {through['non_2xx'] + paced['non_2xx']} errors "
            f"(target at least 1,000/s, p99 under 50 ms, no errors)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
