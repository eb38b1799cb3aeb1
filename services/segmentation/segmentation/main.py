"""Segmentation service: the ERP's facts about customers, and every classification of them."""

from pathlib import Path

from fastapi import FastAPI

from segmentation.classification.router import router as classification_router
from segmentation.company.router import router as company_router
from segmentation.customers.router import router as customers_router
from segmentation.db import metadata
from segmentation.imports.router import router as imports_router
from segmentation.interactions.router import router as interactions_router
from segmentation.invoices.router import router as invoices_router
from segmentation.metrics import SegmentationMetrics
from segmentation.orderdays.index import start_following_zone
from segmentation.orders.router import router as orders_router
from segmentation.predictive.router import router as predictive_router
from segmentation.settings import SegmentationSettings
from servicekit.app import create_service_app

COMPONENT_DIR = Path(__file__).resolve().parent.parent


async def _follow_zone(app: FastAPI) -> None:
    """The orders' index of days may lag the time zone: a build was interrupted, or the zone set by hand."""
    start_following_zone(app)


def create_app(settings: SegmentationSettings | None = None) -> FastAPI:
    return create_service_app(
        name="segmentation",
        description="Customers, orders, invoices and interactions from the ERP; lifecycle, Z0-Z4, ABC and more.",
        settings=settings or SegmentationSettings(),
        metadata=metadata,
        component_dir=COMPONENT_DIR,
        routers=[
            company_router,
            customers_router,
            orders_router,
            invoices_router,
            interactions_router,
            imports_router,
            classification_router,
            predictive_router,
        ],
        business_metrics=[SegmentationMetrics()],
        on_startup=[_follow_zone],
    )
