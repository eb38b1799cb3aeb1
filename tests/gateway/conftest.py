import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.keys import service as keys
from gateway.keys.schemas import Scope
from gateway.main import create_app as create_gateway
from gateway.settings import GatewaySettings
from segmentation.main import create_app as create_segmentation
from segmentation.settings import SegmentationSettings
from servicekit.testing import app_client, serve_in_loop

BODY_LIMIT = 16_384
ORIGIN = "https://app.example.com"


@dataclass
class Gateway:
    client: httpx.AsyncClient
    new_key: Callable[..., Awaitable[str]]
    app: FastAPI

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    @asynccontextmanager
    async def client_from(self, host: str) -> AsyncIterator[httpx.AsyncClient]:
        """Another client of the same gateway, whose requests come from `host` (`client` calls from 127.0.0.1)."""
        transport = httpx.ASGITransport(app=self.app, client=(host, 50_000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
async def gateway(db_url: str) -> AsyncIterator[Gateway]:
    """The gateway in-process, calling segmentation over real HTTP; the other services are absent."""
    segmentation = create_segmentation(SegmentationSettings(database_url=db_url, log_json=False))
    async with serve_in_loop(segmentation) as segmentation_url:
        settings = GatewaySettings(
            segmentation_url=segmentation_url,
            database_url=db_url,
            log_json=False,
            request_body_limit_bytes=BODY_LIMIT,
            cors_origins=[ORIGIN],
            campaigns_url="http://127.0.0.1:9",  # discard port: nothing listens
            api_key_cache_seconds=0,  # revocations show at once; test_key_cache covers the cache
        )
        app = create_gateway(settings)
        async with app_client(app) as client:

            async def new_key(*scopes: Scope, name: str = "test") -> str:
                async with app.state.sessionmaker() as session, session.begin():
                    created = await keys.create_key(
                        session, settings.api_key_secret.get_secret_value(), name, list(scopes)
                    )
                return created.key

            yield Gateway(client, new_key, app)


@asynccontextmanager
async def gateway_for(db_url: str, **settings: Any) -> AsyncIterator[Gateway]:
    """The gateway in-process with the given settings, e.g. `segmentation_url` of a fake service."""
    gateway_settings = GatewaySettings(database_url=db_url, log_json=False, **settings)
    app = create_gateway(gateway_settings)
    async with app_client(app) as client:

        async def new_key(*scopes: Scope, name: str = "test") -> str:
            async with app.state.sessionmaker() as session, session.begin():
                secret = gateway_settings.api_key_secret.get_secret_value()
                created = await keys.create_key(session, secret, name, list(scopes))
            return created.key

        yield Gateway(client, new_key, app)


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeService:
    """A service behind the gateway, over real HTTP: answers `status` (or `?status=`) after `?delay=` seconds,
    and keeps every request it got."""

    status: int = 200
    calls: list[Call] = field(default_factory=list)

    def app(self) -> Starlette:
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return Starlette(routes=[Route("/{path:path}", self._answer, methods=methods)])

    async def _answer(self, request: Request) -> JSONResponse:
        call = Call(request.method, request.url.path, dict(request.headers), b"")
        self.calls.append(call)  # before the body, so that a request whose body broke off counts too
        call.body = body = await request.body()
        await asyncio.sleep(float(request.query_params.get("delay", 0)))
        status = int(request.query_params.get("status", self.status))
        return JSONResponse({"call": len(self.calls), "received": len(body)}, status_code=status)


@pytest.fixture
async def fake_service() -> AsyncIterator[tuple[FakeService, str]]:
    """A fake service and its base URL."""
    service = FakeService()
    async with serve_in_loop(service.app()) as url:
        yield service, url


def metric(text: str, name: str, **labels: str) -> float:
    """One sample of the Prometheus text `text` (0 when absent, as for a counter not yet incremented)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0
