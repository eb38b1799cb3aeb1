from collections.abc import AsyncIterator

import httpx
import pytest

from capacity.main import create_app
from capacity.settings import CapacitySettings
from servicekit.testing import app_client


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(CapacitySettings(database_url=db_url, log_json=False))
    async with app_client(app) as client:
        yield client
