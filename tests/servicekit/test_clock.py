"""{SERVICE}_FIXED_NOW stops a service's clock: today and this week are the same in every request, in the tasks a
request starts and in the app's lifespan, read in the company's time zone (which may be a day ahead of UTC)."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request

from segmentation.db import metadata
from segmentation.main import COMPONENT_DIR
from servicekit import clock
from servicekit.app import create_service_app
from servicekit.settings import ServiceSettings
from servicekit.testing import app_client

SUNDAY_LATE = datetime(2026, 12, 6, 23, 59, tzinfo=UTC)

router = APIRouter()


@router.get("/today")
async def today(zone: str) -> dict[str, str]:
    return {
        "now": clock.now().isoformat(),
        "today": clock.today(zone).isoformat(),
        "week": clock.week_of(clock.today(zone)).isoformat(),
    }


@router.get("/later")
async def later() -> dict[str, str]:
    async def in_the_background() -> str:
        await asyncio.sleep(0)
        return clock.now().isoformat()

    return {"now": await asyncio.create_task(in_the_background())}


@router.get("/at-startup")
async def at_startup(request: Request) -> dict[str, str]:
    return {"now": request.app.state.started_at}


async def remember_startup(app: FastAPI) -> None:
    app.state.started_at = clock.now().isoformat()


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(database_url=db_url, fixed_now="2026-12-07T00:59:00+01:00")  # SUNDAY_LATE in Berlin
    app = create_service_app(
        name="clock-test",
        settings=settings,
        metadata=metadata,
        component_dir=COMPONENT_DIR,
        routers=[router],
        on_startup=[remember_startup],
    )
    async with app_client(app) as client:
        yield client


@pytest.mark.parametrize(
    ("zone", "today", "week"),
    [
        ("UTC", "2026-12-06", "2026-11-30"),  # Sunday: the last day of the week
        ("Europe/Berlin", "2026-12-07", "2026-12-07"),  # east of UTC: already Monday, a new week
        ("Pacific/Auckland", "2026-12-07", "2026-12-07"),
        ("America/New_York", "2026-12-06", "2026-11-30"),
    ],
)
async def test_a_fixed_clock_gives_the_companys_day_and_week(
    client: httpx.AsyncClient, zone: str, today: str, week: str
) -> None:
    found = (await client.get("/today", params={"zone": zone})).json()
    assert datetime.fromisoformat(found["now"]) == SUNDAY_LATE
    assert (found["today"], found["week"]) == (today, week)


async def test_tasks_a_request_starts_and_the_lifespan_read_the_same_clock(client: httpx.AsyncClient) -> None:
    assert datetime.fromisoformat((await client.get("/later")).json()["now"]) == SUNDAY_LATE
    assert datetime.fromisoformat((await client.get("/at-startup")).json()["now"]) == SUNDAY_LATE


def test_a_fixed_clock_needs_an_offset() -> None:
    with pytest.raises(ValueError, match="timezone"):
        ServiceSettings(fixed_now="2026-12-06T23:59:00")
