"""`make run`: the whole stack on one machine.

Postgres (DATABASE_URL, else the embedded server under .data/), every schema migrated, the development API key of
the data directory (made on the first start, then kept and printed on every start while it still works), then the
four processes of the Procfile under honcho until Ctrl-C. Once every component answers its own /readyz, demo data
goes into an empty database and the gateway URL and the key are printed. If a process dies, this says which one and
why.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from honcho.environ import parse_procfile
from honcho.manager import Manager
from honcho.printer import Message, Printer
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.keys import service as keys
from gateway.keys.schemas import Scope
from gateway.settings import GatewaySettings
from servicekit.db import build_engine, sessionmaker_for
from servicekit.migrations import discover_components, upgrade
from servicekit.pg import LocalPostgresSettings, database_name, ensure_database_url
from servicekit.settings import plain_database_url

ROOT = Path(__file__).resolve().parents[2]
KEY_NAME = "development (make run)"
# A busy 2-core machine takes half a minute or more to import four apps and open their pools: wait long.
READY_TIMEOUT_SECONDS = 300.0
WAITING_NOTE_EVERY_SECONDS = 30.0
# How long the demo import keeps retrying a call that could not reach a service (a 503, a refused connection).
DEMO_RETRY_SECONDS = 120.0
TAIL_LINES = 15  # of a dead process's output, shown with the report of its death


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    gateway_host: str = Field(default="127.0.0.1", validation_alias="GATEWAY_HOST")
    gateway_port: int = Field(default=8100, validation_alias="GATEWAY_PORT")
    segmentation_port: int = Field(default=8101, validation_alias="SEGMENTATION_PORT")
    campaigns_port: int = Field(default=8102, validation_alias="CAMPAIGNS_PORT")
    capacity_port: int = Field(default=8103, validation_alias="CAPACITY_PORT")
    demo_customers: int = Field(default=1000, ge=0, validation_alias="DEMO_CUSTOMERS")
    dev_data_dir: Path = Field(default=Path(".data"), validation_alias="DEV_DATA_DIR")

    def listeners(self) -> dict[str, tuple[str, int]]:
        """Where each process of the Procfile listens, by its name there (the Procfile reads the same variables)."""
        return {
            "segmentation": ("127.0.0.1", self.segmentation_port),
            "campaigns": ("127.0.0.1", self.campaigns_port),
            "capacity": ("127.0.0.1", self.capacity_port),
            "gateway": (self.gateway_host, self.gateway_port),
        }

    def local_url(self, name: str) -> str:
        host, port = self.listeners()[name]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104


# --- the development key -----------------------------------------------------------------------------------------


def key_file(settings: StackSettings, database_url_setting: str) -> Path:
    """Where the development key is kept: one per data directory, and one per database when DATABASE_URL names one
    (so that switching between databases does not void the other's key)."""
    if not database_url_setting:
        return settings.dev_data_dir / "development-key"
    parts = urlsplit(plain_database_url(database_url_setting))
    host = parts.hostname or parse_qs(parts.query).get("host", ["local"])[0]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{host}-{parts.port or 5432}-{database_name(database_url_setting)}")
    return settings.dev_data_dir / f"development-key-{slug.strip('_')}"


def read_key(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def store_key(path: Path, key: str) -> None:
    """Readable by this user alone; replaced whole, so that a crash never leaves half a key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a file left from before keeps its mode through O_CREAT
        os.write(fd, f"{key}\n".encode())
    finally:
        os.close(fd)
    os.replace(partial, path)


async def _key_for_database(database_url: str, stored: str | None) -> tuple[str, bool]:
    """The stored key when it still authenticates with admin scope, else a new admin key; and whether it is new."""
    settings = GatewaySettings(database_url=database_url)
    secret = settings.api_key_secret.get_secret_value()
    engine = build_engine(settings, application_name="make-run")
    try:
        async with sessionmaker_for(engine)() as session, session.begin():
            if stored and keys.is_well_formed(stored):
                found = await keys.authenticate(session, keys.hash_key(secret, stored))
                if found is not None and found.grants(Scope.admin):
                    return stored, False
            created = await keys.create_key(session, secret, KEY_NAME, [Scope.admin])
            return created.key, True
    finally:
        await engine.dispose()


def development_key(path: Path, database_url: str) -> tuple[str, str]:
    """The key and how it came to be, in words for the banner."""
    stored = read_key(path)
    key, new = asyncio.run(_key_for_database(database_url, stored))
    if not new:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return key, f"kept in {path}"
    why = "the one kept there no longer works: revoked, or a new database" if stored else "none was kept there yet"
    try:
        store_key(path, key)
    except OSError as exc:
        return key, f"new, {why}; could not be kept in {path} ({exc.strerror}): the next start makes another"
    return key, f"new, {why}; kept in {path}"


# --- before the start: ports -------------------------------------------------------------------------------------


def port_in_use(host: str, port: int) -> bool:
    """Whether binding there fails as it would for uvicorn (connections left in TIME_WAIT do not count)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError:
        return False  # a host that does not resolve: uvicorn says so itself, and the report shows its words
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError:
            return True
    return False


def port_variable(name: str) -> str:
    return f"{name.upper()}_PORT"


def taken_ports(settings: StackSettings) -> list[str]:
    """A sentence for each process whose port something else holds already."""
    return [
        f"{name} cannot start: port {port} on {host} is already in use (another `make run`?). Stop what listens "
        f"there, or choose another port: {port_variable(name)}=<port> make run"
        for name, (host, port) in settings.listeners().items()
        if port_in_use(host, port)
    ]


# --- while running: what each process said, and which one stopped first -------------------------------------------


class RecordingPrinter(Printer):
    """honcho's printer, keeping the last lines of each process and noting the first process that stopped by itself
    (honcho reports a stop only as a line of its own, 'NAME stopped (rc=N)')."""

    _STOPPED = re.compile(r"^(\S+) stopped \(rc=(-?\d+)\)")

    def __init__(self) -> None:
        super().__init__()
        self.tails: dict[str, deque[str]] = defaultdict(lambda: deque(maxlen=TAIL_LINES))
        self.first_stopped: tuple[str, int] | None = None
        self.stopping = False  # Ctrl-C or a SIGTERM: what stops after that was stopped by honcho

    def write(self, message: Message) -> None:
        super().write(message)
        text = message.data.decode("utf-8", "replace") if isinstance(message.data, bytes) else message.data
        if message.name != "system":
            self.tails[message.name].extend(line for line in text.splitlines() if line.strip())
            return
        if text.startswith(("SIGINT received", "SIGTERM received")):
            self.stopping = True
        stopped = self._STOPPED.match(text)
        if stopped and self.first_stopped is None and not self.stopping:
            self.first_stopped = (stopped[1], int(stopped[2]))


def likely_cause(name: str, returncode: int, output: str, settings: StackSettings) -> str | None:
    host, port = settings.listeners()[name]
    lowered = output.lower()
    if "address already in use" in lowered or "errno 98" in lowered or port_in_use(host, port):
        return (
            f"port {port} on {host} is already in use by another program: stop it, or choose another port "
            f"with {port_variable(name)}=<port> make run"
        )
    if returncode in (-9, 137):
        return "it was killed (SIGKILL): out of memory?"
    if "validationerror" in lowered or "validation error" in lowered:
        return "a setting is invalid: the lines below name the variable and what it allows"
    if "modulenotfounderror" in lowered:
        return "a package is missing: `make clean run` installs everything anew"
    if "could not connect" in lowered or "connection refused" in lowered:
        return "it could not reach Postgres (DATABASE_URL)"
    return None


def death_report(name: str, returncode: int, tail: list[str], settings: StackSettings, ready: bool) -> str:
    when = "while running" if ready else "during the start"
    lines = [f"\nThe stack stopped: {name} exited with code {returncode} {when}."]
    cause = likely_cause(name, returncode, "\n".join(tail), settings)
    if cause:
        lines.append(f"  Likely cause  {cause}")
    if tail:
        lines.append("  Its last lines of output:")
        lines.extend(f"    {line}" for line in tail)
    else:
        lines.append("  It printed nothing.")
    lines.append("Fix that and run `make run` again.")
    return "\n".join(lines)


# --- once started: readiness, demo data, the banner ---------------------------------------------------------------


@dataclass
class Startup:
    """What the banner thread knows, shared with the main thread."""

    settings: StackSettings
    key: str
    key_note: str
    stopping: threading.Event
    ready: bool = False

    @property
    def url(self) -> str:
        return self.settings.local_url("gateway")


def _readiness(url: str) -> str | None:
    """None when ready, else why not, in a few words."""
    try:
        response = httpx.get(f"{url}/readyz", timeout=5)
    except httpx.HTTPError as exc:
        return "not listening yet" if isinstance(exc, httpx.ConnectError) else f"no answer ({type(exc).__name__})"
    if response.status_code == 200:
        return None
    return f"{response.status_code}: {_detail(response)}"


def wait_until_ready(startup: Startup) -> dict[str, str]:
    """Poll every component's own /readyz until all answer 200 (the gateway's says nothing of its services);
    returns those not ready by the deadline, with why."""
    waiting = {name: "not listening yet" for name in startup.settings.listeners()}
    started = time.monotonic()
    next_note = started + WAITING_NOTE_EVERY_SECONDS
    while waiting and not startup.stopping.is_set():
        for name in list(waiting):
            reason = _readiness(startup.settings.local_url(name))
            if reason is None:
                del waiting[name]
            else:
                waiting[name] = reason
        now = time.monotonic()
        if not waiting or now - started > READY_TIMEOUT_SECONDS:
            break
        if now >= next_note:
            print(f"\nStill starting after {now - started:.0f} s: {_list(waiting)}", flush=True)
            next_note = now + WAITING_NOTE_EVERY_SECONDS
        startup.stopping.wait(0.5)
    return waiting


class DemoImportFailed(Exception):
    pass


class KeyRefused(Exception):
    pass


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:300]
    return str(body)[:300]


def _seconds(retry_after: str) -> float:
    try:
        return float(retry_after)
    except ValueError:  # absent, or an HTTP date: the backoff alone decides
        return 0.0


def _list(reasons: dict[str, str]) -> str:
    return "; ".join(f"{name} ({reason})" for name, reason in reasons.items())


def request_with_retries(
    client: httpx.Client, method: str, path: str, stopping: threading.Event, **kwargs: Any
) -> httpx.Response:
    """A call that is retried while it could not reach its service (nothing happened there): a refused connection
    or a 503. A success is returned; a 401 or 403 raises KeyRefused, any other failure DemoImportFailed."""
    deadline = time.monotonic() + DEMO_RETRY_SECONDS
    delay = 0.5
    while True:
        try:
            response = client.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if time.monotonic() + delay > deadline or stopping.is_set():
                raise DemoImportFailed(f"{method} {path}: the gateway could not be reached ({exc})") from exc
        else:
            if response.status_code in (401, 403):
                raise KeyRefused(f"{response.status_code}: {_detail(response)}")
            if response.status_code != 503 or time.monotonic() + delay > deadline or stopping.is_set():
                if response.is_error:
                    raise DemoImportFailed(f"{method} {path} answered {response.status_code}: {_detail(response)}")
                return response
            delay = max(delay, min(_seconds(response.headers.get("retry-after", "")), 10.0))
        stopping.wait(delay)
        delay = min(delay * 2, 5.0)


def import_demo_data(startup: Startup) -> str:
    """Synthetic customers and their history, into an empty database only (never over real data). The first call
    also proves that the key works through the gateway (KeyRefused otherwise)."""
    from segmentation.synthetic import generate

    customers = startup.settings.demo_customers
    auth = {"Authorization": f"Bearer {startup.key}"}
    with httpx.Client(base_url=startup.url, headers=auth, timeout=60) as client:
        existing = request_with_retries(
            client, "GET", "/v1/segmentation/customers", startup.stopping, params={"limit": 1}
        ).json()
        if customers == 0:
            return "none (DEMO_CUSTOMERS=0)"
        if existing["items"]:
            return "already there: the database has customers (demo data goes into an empty one only)"
        counts = []
        for entity, table in generate(customers, seed=1).entities():
            response = request_with_retries(
                client,
                "POST",
                f"/v1/segmentation/imports/{entity}",
                startup.stopping,
                content=table.content,
                headers={"Content-Type": "text/csv"},
                timeout=600,
            )
            counts.append(f"{response.json()['rows_accepted']} {entity}")
        # A first segmentation run, so that profiles show classifications from the start.
        request_with_retries(client, "POST", "/v1/segmentation/runs", startup.stopping, json={}, timeout=120)
    return f"{', '.join(counts)}, classified (synthetic; DEMO_CUSTOMERS=0 skips it)"


def banner(startup: Startup, demo: str, key_works: bool) -> str:
    url, key = startup.url, startup.key
    lines = [f"\n  Gateway      {url}   (API docs: {url}/docs)", f"  Demo data    {demo}"]
    if key_works:
        prefix = key[: keys.SHOWN_PREFIX_LENGTH]
        lines += [
            f"  API key      {key}   (scope admin; {startup.key_note})",
            f'  New key      make keys ARGS="revoke {prefix}", then make run again; `make keys` manages keys',
            f"  Try          curl -H 'Authorization: Bearer {key}' {url}/v1/segmentation/customers",
        ]
    else:
        lines.append(
            "  API key      none that works: the gateway refused the development key. Make one with "
            'make keys ARGS="create --name me --scope admin"'
        )
    lines.append("  Stop         Ctrl-C\n")
    return "\n".join(lines)


def announce_when_ready(startup: Startup) -> None:
    """The banner thread: it never ends without saying why, and prints the URL and the key whenever it can."""
    try:
        not_ready = wait_until_ready(startup)
        if startup.stopping.is_set():
            return
        if not_ready:
            print(
                f"\nNot ready after {READY_TIMEOUT_SECONDS:.0f} s: {_list(not_ready)}. The stack keeps running; the "
                "log above says more. Demo data is imported on a start where every component gets ready.",
                flush=True,
            )
            print(banner(startup, "not imported (see above)", key_works=True), flush=True)
            return
        startup.ready = True
        try:
            demo = import_demo_data(startup)
        except KeyRefused as exc:
            print(banner(startup, f"not imported: the key was refused ({exc})", key_works=False), flush=True)
            return
        except (DemoImportFailed, httpx.HTTPError, KeyError, ValueError) as exc:
            demo = (
                f"not imported: {exc}. The stack works without it; a start on an empty database tries again "
                "(delete .data/ to start from nothing)"
            )
        if not startup.stopping.is_set():
            print(banner(startup, demo, key_works=True), flush=True)
    except Exception as exc:  # whatever went wrong, say so: a silent thread left the stack running without a word
        print(
            f"\nThe start-up report failed ({type(exc).__name__}: {exc}); the stack keeps running.\n"
            f"  Gateway      {startup.url}\n  API key      {startup.key}   (scope admin; {startup.key_note})\n",
            flush=True,
        )


# --- main --------------------------------------------------------------------------------------------------------


def main() -> int:
    settings = StackSettings()
    taken = taken_ports(settings)
    if taken:
        print("\n".join(taken), flush=True)
        return 1
    print("Starting Postgres ...", flush=True)
    configured_url = LocalPostgresSettings().database_url
    database_url = ensure_database_url()
    env = {**os.environ, "DATABASE_URL": database_url}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for component in discover_components(ROOT):
        upgrade(component, database_url)
    print("Schemas migrated.", flush=True)
    key, key_note = development_key(key_file(settings, configured_url), database_url)

    printer = RecordingPrinter()
    manager = Manager(printer)
    procfile = parse_procfile((Path(__file__).parent / "Procfile").read_text())
    for name, command in procfile.processes.items():
        manager.add_process(name, command, env=env, cwd=str(ROOT))
    startup = Startup(settings, key, key_note, threading.Event())
    threading.Thread(target=announce_when_ready, args=(startup,), daemon=True, name="banner").start()
    manager.loop()  # until Ctrl-C or a process exits; then every process is stopped
    startup.stopping.set()
    if printer.first_stopped is not None:
        name, returncode = printer.first_stopped
        print(death_report(name, returncode, list(printer.tails[name]), settings, startup.ready), flush=True)
        return returncode or 1
    # Ctrl-C (130) or a SIGTERM (143) is the normal way to stop; the embedded Postgres stops as this process exits.
    return 0 if manager.returncode in (None, 130, 143) else manager.returncode


if __name__ == "__main__":
    sys.exit(main())
