"""`make run` as a new user meets it: deploy/local/devstack.py started for real, as a process, on free ports and a
database of its own. Every start prints the gateway URL and the one development key of its data directory, that key
works through the gateway and the demo data is there; a process that cannot start is named, with why."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from servicekit.pg import create_database, database_name, drop_database, with_database
from servicekit.testing import free_port
from tests.deploy.tools import ROOT

DEVSTACK = ROOT / "deploy" / "local" / "devstack.py"
DEMO_CUSTOMERS = 12
# Against hanging only: a start on a busy machine takes a minute at most; the stack's own deadline is 300 s.
START_DEADLINE_SECONDS = 600


@dataclass
class Banner:
    url: str
    key: str
    key_file: Path
    demo: str


class Devstack:
    """One `make run`, its output collected as it comes."""

    def __init__(self, env: dict[str, str]):
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, str(DEVSTACK)],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def banner(self) -> Banner:
        """Wait for the lines `make run` prints once the stack is ready, and read them."""
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while not any(line.startswith("  Stop ") for line in self.lines):
            assert self.process.poll() is None, f"make run stopped without its banner:\n{self.output}"
            assert time.monotonic() < deadline, f"no banner within {START_DEADLINE_SECONDS} s:\n{self.output}"
            time.sleep(0.2)
        fields = {line[2:15].strip(): line[15:] for line in self.lines if line.startswith("  ") and line[2:3] != " "}
        kept = re.search(r"kept in (\S+)\)", fields["API key"])
        assert kept, fields["API key"]
        return Banner(fields["Gateway"].split()[0], fields["API key"].split()[0], Path(kept[1]), fields["Demo data"])

    def exit_code(self) -> int:
        """Wait for it to stop by itself."""
        try:
            code = self.process.wait(START_DEADLINE_SECONDS)
        finally:
            self._reader.join(10)
        return code

    def stop(self) -> int:
        """Ctrl-C, as a user stops it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(10)
        return self.process.returncode


@pytest.fixture
def devstack_database(postgres_server_url: str, database_url: str) -> Iterator[str]:
    """A database of its own (each start migrates it and imports into it), dropped afterwards."""
    url = with_database(postgres_server_url, f"{database_name(database_url)}_devstack")
    create_database(url, drop_first=True)
    yield url
    drop_database(url)


@pytest.fixture
def ports() -> dict[str, int]:
    return {name: free_port() for name in ("GATEWAY", "SEGMENTATION", "CAMPAIGNS", "CAPACITY")}


@pytest.fixture
def stack_env(devstack_database: str, ports: dict[str, int], tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": devstack_database,
        "DEMO_CUSTOMERS": str(DEMO_CUSTOMERS),
        "DEV_DATA_DIR": str(tmp_path / "data"),
        "GATEWAY_HOST": "127.0.0.1",
        **{f"{name}_PORT": str(port) for name, port in ports.items()},
    }


def run_until_banner(env: dict[str, str]) -> tuple[Banner, list[str]]:
    """One start: its banner, and the customers the key reads through the gateway while it runs."""
    stack = Devstack(env)
    try:
        banner = stack.banner()
        response = httpx.get(
            f"{banner.url}/v1/segmentation/customers",
            params={"limit": 100},
            headers={"Authorization": f"Bearer {banner.key}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        customers = [customer["external_id"] for customer in response.json()["items"]]
    finally:
        code = stack.stop()
    assert code == 0, stack.output
    return banner, customers


def test_three_starts_print_the_url_and_the_same_working_key_with_demo_data(
    stack_env: dict[str, str], ports: dict[str, int]
) -> None:
    first, customers = run_until_banner(stack_env)
    assert first.url == f"http://127.0.0.1:{ports['GATEWAY']}"
    assert first.demo.startswith(f"{DEMO_CUSTOMERS} customers, ")
    assert len(customers) == DEMO_CUSTOMERS
    assert first.key_file.read_text().strip() == first.key
    assert first.key_file.parent == Path(stack_env["DEV_DATA_DIR"])
    assert stat.S_IMODE(first.key_file.stat().st_mode) == 0o600, "the key is readable by its owner alone"

    for _ in range(2):
        again, customers_again = run_until_banner(stack_env)
        assert again.url == first.url
        assert again.key == first.key, "one development key per data directory, not a new one per start"
        assert again.demo.startswith("already there: the database has customers")
        assert customers_again == customers, "the demo data is there, imported once"


def test_a_key_that_no_longer_works_is_replaced_and_never_printed(stack_env: dict[str, str]) -> None:
    stack_env["DEMO_CUSTOMERS"] = "0"
    first, _ = run_until_banner(stack_env)
    revoked = subprocess.run(
        [sys.executable, "-m", "gateway.keys", "revoke", first.key[:11]],
        env={**os.environ, "DATABASE_URL": stack_env["DATABASE_URL"]},
        capture_output=True,
        text=True,
    )
    assert revoked.returncode == 0, revoked.stderr

    second, _ = run_until_banner(stack_env)  # reads customers with the key it printed
    assert second.key != first.key
    assert second.key_file.read_text().strip() == second.key


def test_a_service_whose_port_is_taken_is_named_with_the_port(stack_env: dict[str, str], ports: dict[str, int]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports["CAPACITY"]))
        holder.listen()
        stack = Devstack(stack_env)
        try:
            code = stack.exit_code()
        finally:
            stack.stop()
    assert code != 0
    assert f"capacity cannot start: port {ports['CAPACITY']} on 127.0.0.1 is already in use" in stack.output
    assert "CAPACITY_PORT=" in stack.output, "it says how to choose another port"


def test_a_service_that_dies_is_named_with_its_exit_code_and_last_lines(stack_env: dict[str, str]) -> None:
    stack_env["CAPACITY_HISTORY_WEEKS"] = "99"  # at most 52: capacity refuses to start
    stack = Devstack(stack_env)
    try:
        code = stack.exit_code()
    finally:
        stack.stop()
    assert code != 0
    report = stack.output[stack.output.index("The stack stopped: ") :]
    assert report.startswith("The stack stopped: capacity exited with code 1 during the start."), stack.output
    assert "Likely cause  a setting is invalid" in report
    assert "history_weeks" in report, "its last lines name the setting"
    assert "API key " not in stack.output, "no banner for a stack that did not start"


def test_every_make_run_setting_is_in_the_readme(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("devstack", DEVSTACK)
    assert spec is not None
    assert spec.loader is not None
    devstack = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "devstack", devstack)  # its dataclasses look their module up there
    spec.loader.exec_module(devstack)
    readme = (ROOT / "README.md").read_text()
    for field in devstack.StackSettings.model_fields.values():
        assert f"`{field.validation_alias}`" in readme, f"{field.validation_alias} is not in the README"
