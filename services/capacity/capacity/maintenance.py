"""Work nobody asks for: marking expired holds, and refreshing the baseline when it is older than its maximum
age. It runs every CAPACITY_MAINTENANCE_INTERVAL_SECONDS in each process (cheap and harmless when several
do: the sweep skips rows others hold, and a second refresh only adds a forecast)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from capacity.baseline.service import current_forecast
from capacity.clients.segmentation import SegmentationClient
from capacity.reservations.repository import expire_holds
from capacity.settings import CapacitySettings
from servicekit.app import keep_until_shutdown
from servicekit.errors import AppError

logger = logging.getLogger("capacity.maintenance")


async def run_once(app: FastAPI) -> None:
    settings: CapacitySettings = app.state.settings
    client: SegmentationClient = app.state.segmentation
    try:
        async with app.state.sessionmaker() as session, session.begin():
            expired = await expire_holds(session)
        if expired:
            logger.info("%s held reservations expired", expired)
        async with app.state.sessionmaker() as session, session.begin():
            await current_forecast(session, client, settings)
    except AppError as exc:  # segmentation unreachable and nothing stored: said, and tried again next time
        logger.warning("maintenance: %s", exc.detail)
    except Exception:  # the database away, say: the next round tries again
        logger.exception("maintenance failed")


async def _loop(app: FastAPI, interval: float) -> None:
    while True:
        await run_once(app)
        await asyncio.sleep(interval)


def start(app: FastAPI) -> None:
    interval = app.state.settings.maintenance_interval_seconds
    if interval > 0:
        keep_until_shutdown(app, asyncio.create_task(_loop(app, interval), name="capacity-maintenance"))
