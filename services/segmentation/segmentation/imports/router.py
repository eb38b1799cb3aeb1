"""HTTP for bulk imports: POST a CSV or NDJSON stream, read the job and its row errors."""

import asyncio
import uuid
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response, status

from segmentation.imports import service
from segmentation.imports.errors import UnsupportedMediaType
from segmentation.imports.fields import ENTITIES
from segmentation.imports.schemas import ImportJob, RowError
from servicekit.app import keep_until_shutdown
from servicekit.db import SessionDep
from servicekit.errors import Unprocessable
from servicekit.idempotency import IdempotencyScopeDep
from servicekit.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(prefix="/v1/segmentation/imports", tags=["imports"])

_NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/jsonlines")
_CSV_TYPES = ("text/csv", "application/csv")


def _format_of(content_type: str, requested: str | None) -> str:
    if requested:
        return requested
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in _NDJSON_TYPES:
        return "ndjson"
    if media_type in _CSV_TYPES:
        return "csv"
    raise UnsupportedMediaType(
        f"Send the file as text/csv or application/x-ndjson (got {media_type or 'no Content-Type'}), "
        "or name it with ?format=csv|ndjson."
    )


def _request_body_doc() -> dict[str, object]:
    examples = {
        "text/csv": {"schema": {"type": "string"}, "example": "external_id,customer_external_id,ordered_at,"
                     "net_amount,currency\nA-1,K-1,2026-03-14T09:30:00Z,1250.50,EUR\n"},
        "application/x-ndjson": {"schema": {"type": "string"}, "example": '{"external_id": "K-1", "name": "Müller '
                                 'GmbH", "kind": "b2b", "consent": {"email": true}}\n'},
    }  # fmt: skip
    return {"requestBody": {"required": True, "content": examples}}


@router.post(
    "/{entity}",
    response_model=ImportJob,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": ImportJob, "description": "Replayed: the import with this Idempotency-Key"}},
    openapi_extra=_request_body_doc(),
    summary="Import a CSV or NDJSON file of customers, orders, invoices or interactions",
    description=(
        "Streams the file into the database, checks every row and merges the valid ones by external_id in one "
        "transaction; answers when they are committed. Rows with problems are refused and listed under "
        "`/imports/{id}/errors`; the others are stored. Replaying a file changes nothing. CSV: a header line "
        "naming the fields (nested ones dotted: `consent.email`, `revenue_potential.amount`, "
        "`attributes.<key>`). NDJSON: one JSON object per line, shaped like the PUT body plus `external_id`. "
        "Fields per entity: "
        + "; ".join(f"{name}: {', '.join(f.path for f in e.fields)}" for name, e in ENTITIES.items())
    ),
)
async def import_file(
    request: Request,
    response: Response,
    idempotency_scope: IdempotencyScopeDep,
    entity: Annotated[Literal["customers", "orders", "invoices", "interactions"], Path()],
    create_missing_customer: Annotated[
        bool, Query(description="Create customers for unknown customer_external_id instead of refusing the row.")
    ] = False,
    create_missing_customers: Annotated[
        bool | None,
        Query(deprecated=True, description="The former spelling of create_missing_customer, still taken."),
    ] = None,
    file_format: Annotated[Literal["csv", "ndjson"] | None, Query(alias="format")] = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> ImportJob:
    upload = service.Upload(
        entity=entity,
        format=_format_of(request.headers.get("content-type", ""), file_format),
        body=request.stream(),
        idempotency_key=idempotency_key,
        idempotency_scope=idempotency_scope,
        create_missing_customers=_create_missing(request, create_missing_customer, create_missing_customers),
    )
    sessions = request.app.state.sessionmaker
    job, replayed = await service.run(sessions, upload, _stale_after(request))
    if not replayed and job.rows_accepted >= request.app.state.settings.import_vacuum_min_rows:
        vacuum = service.vacuum(request.app.state.engine, entity)
        keep_until_shutdown(request.app, asyncio.create_task(vacuum, name=f"vacuum-{entity}"))
    response.headers["Location"] = f"/v1/segmentation/imports/{job.id}"
    if replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return job


def _create_missing(request: Request, spelled: bool, formerly_spelled: bool | None) -> bool:
    """The PUTs' spelling, or the import's former one (ERP integrations still send it); both, only if they agree."""
    if formerly_spelled is None:
        return spelled
    if "create_missing_customer" in request.query_params and formerly_spelled != spelled:
        raise Unprocessable(
            "create_missing_customers (deprecated) contradicts create_missing_customer; send create_missing_customer alone.",
            field=["query", "create_missing_customers"],
        )
    return formerly_spelled


def _stale_after(request: Request) -> timedelta:
    return timedelta(seconds=request.app.state.settings.import_stale_after_seconds)


@router.get("", response_model=Page[ImportJob], summary="Imports, newest first")
async def list_imports(
    request: Request, session: SessionDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[ImportJob]:
    return await service.list_jobs(session, cursor, limit, _stale_after(request))


@router.get("/{import_id}", response_model=ImportJob, summary="One import, with its progress and counts")
async def get_import(request: Request, import_id: uuid.UUID) -> ImportJob:
    return await service.get_job(request.app.state.sessionmaker, import_id, _stale_after(request))


@router.get(
    "/{import_id}/errors",
    response_model=Page[RowError],
    summary="The refused rows of an import, in file order; `limit` counts lines",
)
async def list_import_errors(
    import_id: uuid.UUID, session: SessionDep, limit: LimitQuery = 100, cursor: CursorQuery = None
) -> Page[RowError]:
    return await service.list_errors(session, import_id, cursor, limit)
