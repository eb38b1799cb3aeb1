"""HTTP for resources: read one by key, list with cursor pagination (writing comes later)."""

from typing import Annotated

from fastapi import APIRouter, Path

from capacity.resources import service
from capacity.resources.schemas import KEY_PATTERN, Resource
from servicekit.db import SessionDep
from servicekit.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(prefix="/v1/capacity/resources", tags=["resources"])

ResourceKeyPath = Annotated[str, Path(pattern=KEY_PATTERN, description="The resource's key, e.g. assembly-hours.")]


@router.get("/{key}", response_model=Resource, summary="One resource")
async def get_resource(key: ResourceKeyPath, session: SessionDep) -> Resource:
    return await service.get_resource(session, key)


@router.get("", response_model=Page[Resource], summary="Resources, oldest first, a page at a time")
async def list_resources(session: SessionDep, limit: LimitQuery = 50, cursor: CursorQuery = None) -> Page[Resource]:
    return await service.list_resources(session, cursor, limit)
