"""Known keys are cached briefly: a revoked key keeps working at most `api_key_cache_seconds`."""

import asyncio

from gateway.keys import service as keys
from gateway.keys.schemas import Scope
from gateway.main import create_app
from gateway.settings import GatewaySettings
from segmentation.main import create_app as create_segmentation
from segmentation.settings import SegmentationSettings
from servicekit.testing import app_client, serve_in_loop


async def test_a_revoked_key_stops_working_once_its_cache_entry_expires(db_url: str) -> None:
    segmentation = create_segmentation(SegmentationSettings(database_url=db_url, log_json=False))
    async with serve_in_loop(segmentation) as segmentation_url:
        settings = GatewaySettings(
            database_url=db_url, log_json=False, segmentation_url=segmentation_url, api_key_cache_seconds=0.5
        )
        app = create_app(settings)
        secret = settings.api_key_secret.get_secret_value()
        async with app_client(app) as client:
            async with app.state.sessionmaker() as session, session.begin():
                created = await keys.create_key(session, secret, "cached", [Scope.read])
            auth = {"Authorization": f"Bearer {created.key}"}
            assert (await client.get("/v1/segmentation/customers", headers=auth)).status_code == 200

            async with app.state.sessionmaker() as session, session.begin():
                assert await keys.revoke_key(session, created.prefix)
            assert (await client.get("/v1/segmentation/customers", headers=auth)).status_code == 200, "cached"
            await asyncio.sleep(0.6)
            assert (await client.get("/v1/segmentation/customers", headers=auth)).status_code == 401
