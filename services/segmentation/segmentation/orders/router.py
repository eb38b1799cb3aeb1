"""HTTP for orders: upsert by the ERP's id, read one, list with filters and cursor pagination."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from segmentation.orders import service
from segmentation.orders.schemas import Order, OrderFilters, OrderStatus, OrderUpsert
from segmentation.types import CreateMissingCustomer, ExternalIdPath
from servicekit.bounds import Time
from servicekit.db import SessionDep
from servicekit.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(prefix="/v1/segmentation/orders", tags=["orders"])


@router.put(
    "/{external_id}",
    response_model=Order,
    responses={201: {"model": Order, "description": "Created"}},
    summary="Create or replace an order by the ERP's id",
)
async def put_order(
    external_id: ExternalIdPath,
    body: OrderUpsert,
    session: SessionDep,
    response: Response,
    create_missing_customer: CreateMissingCustomer = False,
) -> Order:
    order, created = await service.upsert_order(
        session, external_id, body, create_missing_customer=create_missing_customer
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return order


@router.get("/{external_id}", response_model=Order, summary="One order")
async def get_order(external_id: ExternalIdPath, session: SessionDep) -> Order:
    return await service.get_order(session, external_id)


@router.get("", response_model=Page[Order], summary="Orders, oldest first, a page at a time")
async def list_orders(
    session: SessionDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    customer_external_id: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[OrderStatus | None, Query()] = None,
    ordered_from: Annotated[Time | None, Query(description="Ordered at or after (RFC 3339).")] = None,
    ordered_before: Annotated[Time | None, Query(description="Ordered before (RFC 3339).")] = None,
) -> Page[Order]:
    filters = OrderFilters(
        customer_external_id=customer_external_id,
        status=status,
        ordered_from=ordered_from,
        ordered_before=ordered_before,
    )
    return await service.list_orders(session, filters, cursor, limit)
