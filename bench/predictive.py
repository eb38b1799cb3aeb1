"""The predictive model at scale: a fit, and the scoring of every customer in a full run.

On a database next to the development one (DATABASE_URL or the embedded server) holding N synthetic
customers (segmentation.synthetic, about 10 orders each; imported through the gateway unless --reuse finds
them there already):
  1. a full run without a model (the rules alone), after a first one that stored every classification;
  2. a fit (POST /predictive/fits until it succeeds): the summary in SQL and both maximum-likelihood fits;
  3. a full run with the model, after a first one that wrote what the model changed (potentials, phases):
     its scoring costs the difference to the run of 1.
Prints the fit, the scoring and their sum next to the target (under 10 s at a million customers).

    .venv/bin/python bench/predictive.py [--customers 1000000] [--seed 1] [--database retention_predictive] [--reuse]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and bench/segmentation.py would hide the service
# package; what the benchmarks share lives in bench/lib, which hides nothing.
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH] + [str(BENCH / "lib")]

import argparse
import asyncio
import subprocess
import tempfile
import time
from datetime import date

import asyncpg
import httpx
from benchkit import create_key, full_run, import_file, machine, psql_binary, segmentation_behind_gateway

from segmentation.synthetic import generate
from servicekit.migrations import discover_components, upgrade
from servicekit.pg import create_database, ensure_database_url, with_database

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 23)


async def forget_classifications(url: str) -> None:
    """A reused database starts as a loaded one: no runs, fits or classifications yet."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "TRUNCATE segmentation.runs, segmentation.classifications, segmentation.classification_changes, "
            "segmentation.classification_bases, segmentation.predictive_fits, segmentation.prediction_terms"
        )
    finally:
        await connection.close()


async def customers_in(url: str) -> int:
    try:
        connection = await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        return 0
    try:
        return await connection.fetchval("SELECT count(*) FROM segmentation.customers")
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await connection.close()


def fit(client: httpx.Client, calibration_end: str) -> tuple[float, dict]:
    started = time.perf_counter()
    location = client.post("/v1/segmentation/predictive/fits", json={"calibration_end": calibration_end}).headers[
        "location"
    ]
    while (job := client.get(location).json())["status"] == "running":
        time.sleep(0.05)
    assert job["status"] == "succeeded", job
    return time.perf_counter() - started, job


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", default="retention_predictive", help="next to the development one")
    parser.add_argument("--reuse", action="store_true", help="keep the database if it holds the customers already")
    args = parser.parse_args()

    url = with_database(ensure_database_url(), args.database)
    load = not (args.reuse and asyncio.run(customers_in(url)) == args.customers)
    if load:
        create_database(url, drop_first=True)
    for component in discover_components(ROOT):
        upgrade(component, url)
    if not load:
        asyncio.run(forget_classifications(url))
    print(f"machine: {machine()}")

    with segmentation_behind_gateway(url) as (_, gateway):
        key = asyncio.run(create_key(url))
        if load:
            dataset = generate(args.customers, seed=args.seed, as_of=AS_OF)
            with tempfile.TemporaryDirectory() as tmp:
                for entity, table in (("customers", dataset.customers), ("orders", dataset.orders)):
                    path = Path(tmp) / f"{entity}.csv"
                    path.write_bytes(table.content)
                    job, _ = import_file(gateway, key, entity, path)
                    assert job["rows_rejected"] == 0, job
            subprocess.run([psql_binary(), url, "-v", "ON_ERROR_STOP=1", "-q", "-c", "VACUUM (ANALYZE)"], check=True)
        with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=3600) as client:
            print(f"data: {args.customers} customers, {'imported' if load else 'reused'}")
            full_run(client, AS_OF.isoformat())  # the first run stores every classification
            rules_seconds, _ = full_run(client, AS_OF.isoformat())
            print(f"full run without a model (the rules alone): {rules_seconds:.1f} s")
            fit_seconds, job = fit(client, AS_OF.isoformat())
            purchases, spend = job["purchases"], job["spend"]
            estimates = ", ".join(f"{k} {purchases[k]:.3f}" for k in ("r", "alpha", "a", "b"))
            estimates += "; " + ", ".join(f"{k} {spend[k]:.2f}" for k in ("p", "q", "gamma"))
            print(
                f"fit: {job['customers']} customers, {job['repeat_customers']} repeat buyers "
                f"in {fit_seconds:.1f} s ({estimates})"
            )
            switch_seconds, state = full_run(client, AS_OF.isoformat())
            print(
                f"first run with the model: {switch_seconds:.1f} s ({state['changes']} changes recorded: the "
                "potentials and phases the model moves are written once)"
            )
            scored_seconds, _ = full_run(client, AS_OF.isoformat())
            scoring = scored_seconds - rules_seconds
            print(f"full run with the model: {scored_seconds:.1f} s, so scoring every customer costs {scoring:.1f} s")
            print(f"fit + scoring: {fit_seconds + scoring:.1f} s (target under 10 s at 1,000,000 customers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
