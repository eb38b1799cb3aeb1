"""HTTP for interactions: upsert by the ERP's id, read one, list with filters and cursor pagination."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from segmentation.interactions import service
from segmentation.interactions.schemas import Interaction, InteractionFilters, InteractionKind, InteractionUpsert
from segmentation.types import CreateMissingCustomer, ExternalIdPath
from servicekit.bounds import Time
from servicekit.db import SessionDep
from servicekit.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(prefix="/v1/segmentation/interactions", tags=["interactions"])


@router.put(
    "/{external_id}",
    response_model=Interaction,
    responses={201: {"model": Interaction, "description": "Created"}},
    summary="Create or replace an interaction by the ERP's id",
)
async def put_interaction(
    external_id: ExternalIdPath,
    body: InteractionUpsert,
    session: SessionDep,
    response: Response,
    create_missing_customer: CreateMissingCustomer = False,
) -> Interaction:
    interaction, created = await service.upsert_interaction(
        session, external_id, body, create_missing_customer=create_missing_customer
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return interaction


@router.get("/{external_id}", response_model=Interaction, summary="One interaction")
async def get_interaction(external_id: ExternalIdPath, session: SessionDep) -> Interaction:
    return await service.get_interaction(session, external_id)


@router.get("", response_model=Page[Interaction], summary="Interactions, oldest first, a page at a time")
async def list_interactions(
    session: SessionDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    customer_external_id: Annotated[str | None, Query(max_length=128)] = None,
    kind: Annotated[InteractionKind | None, Query()] = None,
    open_complaints: Annotated[
        bool | None,
        Query(description="true: only complaints without resolved_at; false: everything but those."),
    ] = None,
    occurred_from: Annotated[Time | None, Query(description="Occurred at or after (RFC 3339).")] = None,
    occurred_before: Annotated[Time | None, Query(description="Occurred before (RFC 3339).")] = None,
) -> Page[Interaction]:
    filters = InteractionFilters(
        customer_external_id=customer_external_id,
        kind=kind,
        open_complaints=open_complaints,
        occurred_from=occurred_from,
        occurred_before=occurred_before,
    )
    return await service.list_interactions(session, filters, cursor, limit)
