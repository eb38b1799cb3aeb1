"""Capacity service: what the company can deliver per week, what its existing customers will need of it, and
how much of the rest acquisition may promise, granted exactly to concurrent campaigns."""

from pathlib import Path

from fastapi import FastAPI

from capacity.db import metadata
from capacity.resources.router import exceptions_router
from capacity.resources.router import router as resources_router
from capacity.settings import CapacitySettings
from servicekit.app import create_service_app

COMPONENT_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: CapacitySettings | None = None) -> FastAPI:
    return create_service_app(
        name="capacity",
        description="Resources and weekly capacity with dated exceptions.",
        settings=settings or CapacitySettings(),
        metadata=metadata,
        component_dir=COMPONENT_DIR,
        routers=[resources_router, exceptions_router],
    )
