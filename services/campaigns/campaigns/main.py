"""Campaigns service: targeted campaigns for existing and new customers, scored, gated by capacity, measured."""

from pathlib import Path

import httpx
from fastapi import FastAPI

from campaigns.audience.router import router as audience_router
from campaigns.campaigns.router import router as campaigns_router
from campaigns.clients.capacity import CapacityClient
from campaigns.clients.segmentation import SegmentationClient
from campaigns.db import metadata
from campaigns.forecast.router import router as priors_router
from campaigns.incentives.router import router as incentives_router
from campaigns.metrics import CampaignsMetrics
from campaigns.results.router import router as results_router
from campaigns.settings import CampaignsSettings
from campaigns.suggestions.router import router as suggestions_router
from servicekit.app import create_service_app
from servicekit.signing import Signer

COMPONENT_DIR = Path(__file__).resolve().parent.parent


def create_app(
    settings: CampaignsSettings | None = None,
    *,
    segmentation_transport: httpx.AsyncBaseTransport | None = None,
    capacity_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """`segmentation_transport`, `capacity_transport`: how to reach those services instead of the network
    (tests fake them with httpx.MockTransport)."""
    settings = settings or CampaignsSettings()

    async def start(app: FastAPI) -> None:
        signer = Signer(settings.signing_secrets(), "campaigns")
        app.state.segmentation = SegmentationClient(
            settings.segmentation_url,
            timeout_seconds=settings.segmentation_timeout_seconds,
            transport=segmentation_transport,
            signer=signer,
        )
        app.state.capacity = CapacityClient(
            settings.capacity_url,
            timeout_seconds=settings.capacity_timeout_seconds,
            transport=capacity_transport,
            signer=signer,
        )

    async def stop(app: FastAPI) -> None:
        await app.state.segmentation.aclose()
        await app.state.capacity.aclose()

    app = create_service_app(
        name="campaigns",
        description="Reactivation, second-order, nurture, loyalty, complaint-recovery and acquisition campaigns: "
        "audiences scored by expected value, incentives under the loyalty rule, consent and contact caps, "
        "forecasts from Beta priors, capacity gating, attribution and results, suggestions.",
        settings=settings,
        metadata=metadata,
        component_dir=COMPONENT_DIR,
        routers=[
            campaigns_router,
            audience_router,
            results_router,
            incentives_router,
            priors_router,
            suggestions_router,
        ],
        on_startup=[start],
        on_shutdown=[stop],
        business_metrics=[CampaignsMetrics()],
    )
    return app
