from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from segmentation.main import create_app
from segmentation.settings import SegmentationSettings
from servicekit.testing import IsolatedDatabase

# The segmentation app's clock in these tests (SEGMENTATION_FIXED_NOW): what an ingest classifies "as of today",
# so that no test depends on the day or the hour it runs. The last half hour of a Sunday in UTC, when the
# company's day east of UTC (Europe/Berlin) is already Monday.
NOW = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
TODAY = NOW.date()  # in UTC, the company's time zone unless a test configures another


@pytest.fixture
async def client(isolated_db: IsolatedDatabase) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(SegmentationSettings(database_url=isolated_db.url, log_json=False, fixed_now=NOW))
    async with isolated_db.client(app) as client:
        yield client
