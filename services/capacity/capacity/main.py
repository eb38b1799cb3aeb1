"""Capacity service: what the company can deliver per week, what its existing customers will need of it, and
how much of the rest acquisition may promise, granted exactly to concurrent campaigns."""

from pathlib import Path

import httpx
from fastapi import FastAPI

from capacity import maintenance
from capacity.baseline.router import router as baseline_router
from capacity.clients.segmentation import SegmentationClient
from capacity.db import metadata
from capacity.planning.metrics import CapacityMetrics
from capacity.planning.router import router as planning_router
from capacity.reservations.router import router as reservations_router
from capacity.resources.router import exceptions_router
from capacity.resources.router import router as resources_router
from capacity.settings import CapacitySettings
from servicekit.app import create_service_app
from servicekit.signing import Signer

COMPONENT_DIR = Path(__file__).resolve().parent.parent


def create_app(
    settings: CapacitySettings | None = None, *, segmentation_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """`segmentation_transport`: how to reach segmentation instead of the network (tests fake it with it)."""
    settings = settings or CapacitySettings()

    async def start(app: FastAPI) -> None:
        app.state.segmentation = SegmentationClient(
            settings.segmentation_url,
            timeout_seconds=settings.segmentation_timeout_seconds,
            transport=segmentation_transport,
            signer=Signer(settings.signing_secrets(), "capacity"),
        )
        maintenance.start(app)

    async def stop(app: FastAPI) -> None:
        await app.state.segmentation.aclose()

    app = create_service_app(
        name="capacity",
        description="Resources and weekly capacity; the existing customers' baseline and reserve; headroom, "
        "acquisition limits and reservations for campaigns; utilisation and lead times; what-if.",
        settings=settings,
        metadata=metadata,
        component_dir=COMPONENT_DIR,
        routers=[resources_router, exceptions_router, baseline_router, planning_router, reservations_router],
        on_startup=[start],
        on_shutdown=[stop],
        business_metrics=[CapacityMetrics(settings.time_zone)],
    )
    return app
