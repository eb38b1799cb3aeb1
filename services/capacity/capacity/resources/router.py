"""HTTP for resources (upsert by key, read, list) and their dated capacity exceptions."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from capacity.resources import service
from capacity.resources.schemas import KEY_PATTERN, CapacityException, CapacityExceptionCreate, Resource, ResourcePut
from capacity.weeks import current_week
from servicekit.db import SessionDep
from servicekit.idempotency import IdempotencyKeyHeader, IdempotencyScopeDep, mark_replayed
from servicekit.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(prefix="/v1/capacity/resources", tags=["resources"])
exceptions_router = APIRouter(prefix="/v1/capacity/exceptions", tags=["resources"])

ResourceKeyPath = Annotated[str, Path(pattern=KEY_PATTERN, description="The resource's key, e.g. assembly-hours.")]
ResourceKeyQuery = Annotated[str | None, Query(pattern=KEY_PATTERN, description="Only this resource.")]
IdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.put(
    "/{key}",
    response_model=Resource,
    responses={201: {"model": Resource, "description": "Created"}},
    summary="Create or replace a resource: capacity, loads per order, reserve, a new customer's load",
)
async def put_resource(key: ResourceKeyPath, body: ResourcePut, session: SessionDep, response: Response) -> Resource:
    resource, created = await service.put_resource(session, key, body)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return resource


@router.get("/{key}", response_model=Resource, summary="One resource")
async def get_resource(key: ResourceKeyPath, session: SessionDep) -> Resource:
    return await service.get_resource(session, key)


@router.get("", response_model=Page[Resource], summary="Resources, oldest first, a page at a time")
async def list_resources(session: SessionDep, limit: LimitQuery = 50, cursor: CursorQuery = None) -> Page[Resource]:
    return await service.list_resources(session, cursor, limit)


@exceptions_router.post(
    "",
    response_model=CapacityException,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": CapacityException, "description": "Replayed: the exception with this Idempotency-Key"}},
    summary="A holiday, shutdown or extra shift: another capacity in every week its dates touch",
)
async def create_exception(
    request: Request,
    body: CapacityExceptionCreate,
    session: SessionDep,
    response: Response,
    idempotency_scope: IdempotencyScopeDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> CapacityException:
    this_week = current_week(request.app.state.settings.time_zone)
    created, replayed = await service.create_exception(
        session, body, idempotency_key, this_week, idempotency_scope=idempotency_scope
    )
    location = f"/v1/capacity/exceptions/{created.id}"
    if replayed:
        mark_replayed(response, location)
    else:
        response.headers["Location"] = location
    return created


@exceptions_router.get("", response_model=Page[CapacityException], summary="Capacity exceptions, oldest first")
async def list_exceptions(
    session: SessionDep, resource: ResourceKeyQuery = None, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[CapacityException]:
    return await service.list_exceptions(session, resource, cursor, limit)


@exceptions_router.get("/{exception_id}", response_model=CapacityException, summary="One capacity exception")
async def get_exception(exception_id: IdPath, session: SessionDep) -> CapacityException:
    return await service.get_exception(session, exception_id)


@exceptions_router.delete(
    "/{exception_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a capacity exception"
)
async def delete_exception(exception_id: IdPath, session: SessionDep) -> None:
    await service.delete_exception(session, exception_id)
