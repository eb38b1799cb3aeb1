"""HTTP for customers: upsert by the ERP's id, read one, list with cursor pagination."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from segmentation.customers import service
from segmentation.customers.schemas import Customer, CustomerFilters, CustomerUpsert
from segmentation.types import ExternalIdPath
from servicekit.bounds import Time
from servicekit.db import SessionDep
from servicekit.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(prefix="/v1/segmentation/customers", tags=["customers"])


@router.put(
    "/{external_id}",
    response_model=Customer,
    responses={201: {"model": Customer, "description": "Created"}},
    summary="Create or replace a customer by the ERP's id",
)
async def put_customer(
    external_id: ExternalIdPath, body: CustomerUpsert, session: SessionDep, response: Response
) -> Customer:
    customer, created = await service.upsert_customer(session, external_id, body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return customer


@router.get("/{external_id}", response_model=Customer, summary="One customer")
async def get_customer(external_id: ExternalIdPath, session: SessionDep) -> Customer:
    return await service.get_customer(session, external_id)


@router.get("", response_model=Page[Customer], summary="Customers, oldest first, a page at a time")
async def list_customers(
    session: SessionDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    kind: Annotated[Literal["b2b", "b2c"] | None, Query()] = None,
    key_account: Annotated[bool | None, Query()] = None,
    updated_since: Annotated[Time | None, Query(description="Only customers changed since (RFC 3339).")] = None,
) -> Page[Customer]:
    filters = CustomerFilters(kind=kind, key_account=key_account, updated_since=updated_since)
    return await service.list_customers(session, filters, cursor, limit)
