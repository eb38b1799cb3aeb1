"""Customer reads and upserts through the gateway, and reads straight from the service for comparison.

Starts segmentation and the gateway (one uvicorn worker each) on a fresh `retention_bench` database next
to the development database (DATABASE_URL or the embedded server), seeds customers with one INSERT, and
drives each scenario with wrk (Debian package `wrk`), which needs far less CPU than a Python client.
The load generator still shares the machine's cores with the servers and Postgres.

    .venv/bin/python bench/customers_api.py [--customers 100000] [--seconds 10] [--connections 32]
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

import asyncpg
from benchkit import create_key, fresh_database, machine, presigned_reads, segmentation_behind_gateway, wrk

READ_SCRIPT = """
request = function()
  return wrk.format("GET", string.format("/v1/segmentation/customers/C%07d", math.random(1, {customers})))
end
"""
PAGE_SCRIPT = """
request = function()
  return wrk.format("GET", "/v1/segmentation/customers?limit=100")
end
"""
# A headers table given to wrk.format replaces wrk's -H headers, so the key goes in here.
UPSERT_SCRIPT = """
local counter = 0
request = function()
  counter = counter + 1
  local id = string.format("W%d-%d", math.random(1, 1000000000), counter)
  local body = string.format('{{"name": "Customer %s", "kind": "b2b", "consent": {{"email": true}}}}', id)
  local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "{authorization}"}}
  return wrk.format("PUT", "/v1/segmentation/customers/" .. id, headers, body)
end
"""


async def seed(url: str, customers: int) -> str:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            """
            INSERT INTO segmentation.customers (external_id, name, kind, consent_email)
            SELECT format('C%s', lpad(n::text, 7, '0')), format('Customer %s', n),
                   CASE WHEN n % 3 = 0 THEN 'b2c' ELSE 'b2b' END, n % 2 = 0
            FROM generate_series(1, $1) AS n
            """,
            customers,
        )
        await connection.execute("ANALYZE segmentation.customers")
    finally:
        await connection.close()
    return await create_key(url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 1

    url = fresh_database("retention_bench")
    key = asyncio.run(seed(url, args.customers))
    auth = [f"Authorization: Bearer {key}"]
    with segmentation_behind_gateway(url) as (segmentation, gateway):
        print(f"machine: {machine()}")
        print(
            f"load: wrk, 2 threads, {args.connections} connections, {args.seconds} s a run, {args.customers} customers"
        )
        run = {"seconds": args.seconds, "connections": args.connections}
        direct = presigned_reads("/v1/segmentation/customers/C%07d", args.customers)
        wrk("GET customer, direct", segmentation.url, direct, [], **run)
        wrk("GET customer, via gateway", gateway.url, READ_SCRIPT.format(customers=args.customers), auth, **run)
        wrk("GET page of 100, via gateway", gateway.url, PAGE_SCRIPT, auth, **run)
        wrk(
            "PUT customer (upsert), via gateway",
            gateway.url,
            UPSERT_SCRIPT.format(authorization=f"Bearer {key}"),
            auth,
            **run,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
