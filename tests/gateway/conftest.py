from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from gateway.keys import service as keys
from gateway.keys.schemas import Scope
from gateway.main import create_app as create_gateway
from gateway.settings import GatewaySettings
from segmentation.main import create_app as create_segmentation
from segmentation.settings import SegmentationSettings
from servicekit.testing import app_client

BODY_LIMIT = 16_384
ORIGIN = "https://app.example.com"


@dataclass
class Gateway:
    client: httpx.AsyncClient
    new_key: Callable[..., Awaitable[str]]

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def gateway(db_url: str) -> AsyncIterator[Gateway]:
    """The gateway in-process, with segmentation behind it in-process too; the other services are absent."""
    segmentation = create_segmentation(SegmentationSettings(database_url=db_url, log_json=False))
    async with segmentation.router.lifespan_context(segmentation):
        settings = GatewaySettings(
            database_url=db_url,
            log_json=False,
            request_body_limit_bytes=BODY_LIMIT,
            cors_origins=[ORIGIN],
            campaigns_url="http://127.0.0.1:9",  # discard port: nothing listens
        )
        app = create_gateway(settings, {"segmentation": httpx.ASGITransport(app=segmentation)})
        async with app_client(app) as client:

            async def new_key(*scopes: Scope, name: str = "test") -> str:
                async with app.state.sessionmaker() as session, session.begin():
                    created = await keys.create_key(
                        session, settings.api_key_secret.get_secret_value(), name, list(scopes)
                    )
                return created.key

            yield Gateway(client, new_key)
