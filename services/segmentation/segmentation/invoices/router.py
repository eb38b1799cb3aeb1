"""HTTP for invoices: upsert by the ERP's id, read one, list with filters and cursor pagination."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from segmentation.invoices import service
from segmentation.invoices.schemas import Invoice, InvoiceFilters, InvoiceUpsert
from segmentation.types import CreateMissingCustomer, ExternalIdPath
from servicekit.bounds import Day
from servicekit.db import SessionDep
from servicekit.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(prefix="/v1/segmentation/invoices", tags=["invoices"])


@router.put(
    "/{external_id}",
    response_model=Invoice,
    responses={201: {"model": Invoice, "description": "Created"}},
    summary="Create or replace an invoice by the ERP's id",
)
async def put_invoice(
    external_id: ExternalIdPath,
    body: InvoiceUpsert,
    session: SessionDep,
    response: Response,
    create_missing_customer: CreateMissingCustomer = False,
) -> Invoice:
    invoice, created = await service.upsert_invoice(
        session, external_id, body, create_missing_customer=create_missing_customer
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return invoice


@router.get("/{external_id}", response_model=Invoice, summary="One invoice")
async def get_invoice(external_id: ExternalIdPath, session: SessionDep) -> Invoice:
    return await service.get_invoice(session, external_id)


@router.get("", response_model=Page[Invoice], summary="Invoices, oldest first, a page at a time")
async def list_invoices(
    session: SessionDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    customer_external_id: Annotated[str | None, Query(max_length=128)] = None,
    open: Annotated[bool | None, Query(description="true: unpaid (paid_on null) only; false: paid only.")] = None,
    overdue_on: Annotated[
        Day | None, Query(description="Only invoices unpaid and past due on this date (due_on before it).")
    ] = None,
) -> Page[Invoice]:
    filters = InvoiceFilters(customer_external_id=customer_external_id, open=open, overdue_on=overdue_on)
    return await service.list_invoices(session, filters, cursor, limit)
