"""`make run`: the whole stack on one machine.

Postgres (DATABASE_URL, else the embedded server under .data/), every schema migrated, a fresh
development API key, then the four processes of the Procfile under honcho until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from honcho.environ import parse_procfile
from honcho.manager import Manager
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.migrations import discover_components, upgrade
from servicekit.pg import ensure_database_url

ROOT = Path(__file__).resolve().parents[2]


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    gateway_host: str = Field(default="127.0.0.1", validation_alias="GATEWAY_HOST")
    gateway_port: int = Field(default=8100, validation_alias="GATEWAY_PORT")
    demo_customers: int = Field(default=1000, ge=0, validation_alias="DEMO_CUSTOMERS")


def create_development_key(env: dict[str, str]) -> str:
    name = f"development-{time.strftime('%Y%m%d-%H%M%S')}"
    output = subprocess.run(
        [sys.executable, "-m", "gateway.keys", "create", "--name", name, "--scope", "admin", "--json"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return json.loads(output)["key"]


def import_demo_data(url: str, key: str, customers: int) -> str:
    """Synthetic customers and their history, into an empty database only (never over real data)."""
    from segmentation.synthetic import generate

    auth = {"Authorization": f"Bearer {key}"}
    existing = httpx.get(f"{url}/v1/segmentation/customers", params={"limit": 1}, headers=auth, timeout=10)
    if customers == 0 or existing.json()["items"]:
        return ""
    counts = []
    for entity, table in generate(customers, seed=1).entities():
        response = httpx.post(
            f"{url}/v1/segmentation/imports/{entity}",
            content=table.content,
            headers={**auth, "Content-Type": "text/csv"},
            timeout=600,
        )
        response.raise_for_status()
        counts.append(f"{response.json()['rows_accepted']} {entity}")
    # A first segmentation run, so that profiles show classifications from the start.
    httpx.post(f"{url}/v1/segmentation/runs", headers=auth, json={}, timeout=60).raise_for_status()
    return f"  Demo data    {', '.join(counts)}, classified (synthetic; DEMO_CUSTOMERS=0 skips it)\n"


def announce_when_ready(url: str, key: str, demo_customers: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    else:
        print(f"\nThe gateway at {url} did not become ready within 60 s; see the log above.", flush=True)
        return
    try:
        demo = import_demo_data(url, key, demo_customers)
    except httpx.HTTPError as exc:
        demo = f"  Demo data    not imported: {exc}\n"
    print(
        f"\n  Gateway      {url}   (API docs: {url}/docs)\n"
        f"{demo}"
        f"  API key      {key}   (scope admin, made for this run; `make keys` manages keys)\n"
        f"  Try          curl -H 'Authorization: Bearer {key}' {url}/v1/segmentation/customers\n"
        f"  Stop         Ctrl-C\n",
        flush=True,
    )


def main() -> int:
    settings = StackSettings()
    print("Starting Postgres ...", flush=True)
    database_url = ensure_database_url()
    env = {**os.environ, "DATABASE_URL": database_url}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for component in discover_components(ROOT):
        upgrade(component, database_url)
    print("Schemas migrated.", flush=True)
    key = create_development_key(env)

    manager = Manager()
    procfile = parse_procfile((Path(__file__).parent / "Procfile").read_text())
    for name, command in procfile.processes.items():
        manager.add_process(name, command, env=env, cwd=str(ROOT))
    host = "127.0.0.1" if settings.gateway_host in ("0.0.0.0", "::") else settings.gateway_host  # noqa: S104
    url = f"http://{host}:{settings.gateway_port}"
    threading.Thread(target=announce_when_ready, args=(url, key, settings.demo_customers), daemon=True).start()
    manager.loop()  # until Ctrl-C or a process exits; then every process is stopped
    # Ctrl-C (130) is the normal way to stop; the embedded Postgres stops as this process exits.
    return 0 if manager.returncode in (None, 130) else manager.returncode


if __name__ == "__main__":
    sys.exit(main())
