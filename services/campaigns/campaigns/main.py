"""Campaigns service: targeted campaigns for existing and new customers, planned against capacity."""

from pathlib import Path

from fastapi import FastAPI

from campaigns.campaigns.router import router as campaigns_router
from campaigns.db import metadata
from campaigns.metrics import CampaignsMetrics
from campaigns.settings import CampaignsSettings
from servicekit.app import create_service_app

COMPONENT_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: CampaignsSettings | None = None) -> FastAPI:
    return create_service_app(
        name="campaigns",
        description="Reactivation, second-order, nurture, loyalty, complaint-recovery and acquisition campaigns.",
        settings=settings or CampaignsSettings(),
        metadata=metadata,
        component_dir=COMPONENT_DIR,
        routers=[campaigns_router],
        business_metrics=[CampaignsMetrics()],
    )
