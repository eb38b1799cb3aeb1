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
from servicekit.testing import app_client, serve_in_loop

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

            yield Gateway(client, new_key)
