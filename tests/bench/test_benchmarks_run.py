"""The benchmarks run end to end at a small size (a smoke test: nothing here is timed)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from servicekit.pg import database_name

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, postgres_server_url: str, *args: str) -> str:
    """Run bench/`script` with `args` next to the test server; its output, once it has succeeded."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        env={**os.environ, "DATABASE_URL": postgres_server_url},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_the_segmentation_benchmark_runs_end_to_end(postgres_server_url: str) -> None:
    output = run_bench("segmentation.py", postgres_server_url, "--customers", "300", "--database", "bench_smoke")
    assert "import orders    via gateway" in output
    assert "import / raw COPY" in output
    assert "full segmentation run, first run (all new): 300 customers" in output
    assert "full segmentation run, next day's run: 300 customers" in output
    assert "order PUT -> updated profile" in output


def test_the_predictive_benchmark_runs_end_to_end(postgres_server_url: str) -> None:
    output = run_bench("predictive.py", postgres_server_url, "--customers", "2000", "--database", "bench_smoke")
    assert "full run without a model (the rules alone)" in output
    assert "fit: " in output
    assert "repeat buyers" in output
    assert "fit + scoring" in output


def test_the_capacity_benchmark_runs_end_to_end_and_stays_exact(postgres_server_url: str) -> None:
    args = ["--requests", "40", "--concurrency", "8", "--customers", "100", "--database", "bench_capacity_smoke"]
    output = run_bench("capacity.py", postgres_server_url, *args)
    assert "machine: " in output
    assert "reservations: " in output
    assert "requests/s" in output
    assert "p95" in output
    assert "exact: yes" in output
    assert "0 other" in output


def test_the_load_benchmark_runs_end_to_end(postgres_server_url: str) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk (Debian package wrk) is not installed; .ci/run installs it")
    args = ["--customers", "300", "--seconds", "1", "--connections", "2", "--database", "bench_smoke"]
    output = run_bench("load.py", postgres_server_url, *args)
    scenarios = (
        "profile reads, direct",
        "profile reads, via gateway",
        "profile reads, via gateway, paced",
        "mixed ERP and frontend, via gateway",
    )
    for scenario in scenarios:
        assert scenario in output
    assert "gateway cost:" in output


def test_the_soak_runs_end_to_end_and_every_invariant_holds(postgres_server_url: str) -> None:
    database = f"{database_name(postgres_server_url)}_soak_smoke"  # apart from other runs on the same server
    args = ["--minutes", "0.3", "--customers", "300", "--import-customers", "300", "--batch", "50", "--room", "50"]
    output = run_bench("soak.py", postgres_server_url, *args, "--database", database)
    assert "machine: " in output
    for operation in ("import orders", "run poll", "campaign approve", "reserve", "release", "headroom"):
        assert f"\n{operation} " in output
    lines = output.split("invariants:\n", 1)[1].splitlines()
    verdicts = dict(line.strip().split(": ", 1) for line in lines if not line.startswith("    "))  # not the details
    invariants = (
        "no overbooking",
        "idempotency",
        "imports counted",
        "campaigns hold their capacity",
        "answers",
        "runs",
    )
    assert verdicts == dict.fromkeys(invariants, "ok"), output


def test_the_auth_flood_benchmark_runs_end_to_end(postgres_server_url: str) -> None:
    database = f"{database_name(postgres_server_url)}_auth_flood_smoke"  # apart from other runs on the same server
    args = ["--customers", "20", "--flood-rate", "80", "--window", "0.5", "--windows", "2"]
    output = run_bench("auth_flood.py", postgres_server_url, *args, "--database", database)
    assert "machine: " in output
    for line in ("legitimate reads alone", "legitimate reads during the flood", "the gateway's key checks meanwhile"):
        assert output.count(line) == 2, "with the limit and without"
    assert "429: " in output.split("without it", 1)[0], "with the limit, the flood is refused"
    assert "429: " not in output.split("without it", 1)[1]
    assert "target: within 20%" in output
