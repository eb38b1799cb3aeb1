"""The whole stack as real processes: gateway and the three services over real HTTP, on the test database."""

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest

from gateway.keys import service as keys
from gateway.keys.schemas import Scope
from gateway.settings import GatewaySettings
from servicekit.db import build_engine, sessionmaker_for
from servicekit.settings import ServiceSettings
from servicekit.testing import ServerProcess, signing_auth, truncate_all

SERVICES = ("segmentation", "campaigns", "capacity")
# Every process of a stack signs and verifies with it (not the development default, which a test could not tell
# apart from a component that was never given the setting).
SIGNING_SECRET = "e2e-internal-signing-secret"


def signed() -> httpx.Auth:
    """Signs a test's own calls straight to a service of the stack, as the gateway would."""
    return signing_auth(ServiceSettings(internal_signing_secret=SIGNING_SECRET))


@dataclass
class Stack:
    gateway: ServerProcess
    services: dict[str, ServerProcess]
    database_url: str

    def new_key(self, *scopes: Scope) -> str:
        async def create() -> str:
            settings = GatewaySettings(database_url=self.database_url)
            engine = build_engine(settings, application_name="e2e")
            try:
                async with sessionmaker_for(engine)() as session, session.begin():
                    created = await keys.create_key(
                        session, settings.api_key_secret.get_secret_value(), "e2e", list(scopes)
                    )
                    return created.key
            finally:
                await engine.dispose()

        return asyncio.run(create())


def running_stack(database_url: str, *, fixed_now: datetime | None = None, **gateway_env: str) -> Iterator[Stack]:
    """Start the four components on an emptied test database; stop them when the generator is closed.
    `fixed_now`: every component's clock stands still at that instant ({SERVICE}_FIXED_NOW)."""
    asyncio.run(truncate_all(database_url))
    env = {"DATABASE_URL": database_url, "INTERNAL_SIGNING_SECRET": SIGNING_SECRET}
    if fixed_now is not None:
        env |= {f"{name.upper()}_FIXED_NOW": fixed_now.isoformat() for name in (*SERVICES, "gateway")}
    services = {name: ServerProcess(f"{name}.main:create_app", env, name=name) for name in SERVICES}
    services["capacity"].env["CAPACITY_SEGMENTATION_URL"] = services["segmentation"].url  # its baseline's source
    services["campaigns"].env["CAMPAIGNS_SEGMENTATION_URL"] = services["segmentation"].url  # audiences, orders
    services["campaigns"].env["CAMPAIGNS_CAPACITY_URL"] = services["capacity"].url  # what-if, reservations
    gateway = ServerProcess(
        "gateway.main:create_app",
        {
            **env,
            **{f"GATEWAY_{name.upper()}_URL": process.url for name, process in services.items()},
            "GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "3",
            **gateway_env,
        },
        name="gateway",
    )
    started: list[ServerProcess] = []
    try:
        for process in [*services.values(), gateway]:
            started.append(process.start())
        yield Stack(gateway, services, database_url)
    finally:
        for process in started:
            process.stop()


@pytest.fixture(scope="module")
def stack(database_url: str) -> Iterator[Stack]:
    yield from running_stack(database_url)
