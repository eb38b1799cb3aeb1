"""The benchmarks run end to end at a small size (a smoke test: nothing here is timed)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_segmentation_benchmark_runs_end_to_end(postgres_server_url: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "segmentation.py"), "--customers", "300", "--database", "bench_smoke"],
        env={**os.environ, "DATABASE_URL": postgres_server_url},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "import orders    via gateway" in result.stdout
    assert "import / raw COPY" in result.stdout
    assert "full segmentation run, first run (all new): 300 customers" in result.stdout
    assert "full segmentation run, next day's run: 300 customers" in result.stdout
    assert "order PUT -> updated profile" in result.stdout


def test_the_predictive_benchmark_runs_end_to_end(postgres_server_url: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "predictive.py"), "--customers", "2000", "--database", "bench_smoke"],
        env={**os.environ, "DATABASE_URL": postgres_server_url},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "full run without a model (the rules alone)" in result.stdout
    assert "fit: " in result.stdout
    assert "repeat buyers" in result.stdout
    assert "fit + scoring" in result.stdout


def test_the_capacity_benchmark_runs_end_to_end_and_stays_exact(postgres_server_url: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "capacity.py"), "--requests", "40", "--concurrency", "8",
         "--customers", "100", "--database", "bench_capacity_smoke"],
        env={**os.environ, "DATABASE_URL": postgres_server_url},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "machine: " in result.stdout
    assert "reservations: " in result.stdout
    assert "requests/s" in result.stdout
    assert "p95" in result.stdout
    assert "exact: yes" in result.stdout
    assert "0 other" in result.stdout


def test_the_load_benchmark_runs_end_to_end(postgres_server_url: str) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk (Debian package wrk) is not installed; .ci/run installs it")
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--customers", "300", "--seconds", "1",
         "--connections", "2", "--database", "bench_smoke"],
        env={**os.environ, "DATABASE_URL": postgres_server_url},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    for scenario in ("profile reads, direct", "profile reads, via gateway", "mixed ERP and frontend, via gateway"):
        assert scenario in result.stdout
    assert "gateway cost:" in result.stdout
