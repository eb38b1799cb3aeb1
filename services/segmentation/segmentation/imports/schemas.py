import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ImportStatus = Literal["receiving", "processing", "succeeded", "failed"]


class ImportJob(BaseModel):
    """One bulk import: what arrived, what was taken, what was refused (see its errors)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    entity: Literal["customers", "orders", "invoices", "interactions"]
    format: Literal["ndjson", "csv"]
    status: ImportStatus = Field(description="receiving -> processing -> succeeded | failed")
    idempotency_key: str | None
    create_missing_customers: bool
    bytes_received: int
    rows_received: int = Field(description="Data rows in the file (blank NDJSON lines not counted).")
    rows_accepted: int = Field(description="Valid rows, stored: created + updated + unchanged.")
    rows_rejected: int = Field(description="Rows refused; each is listed with its reasons under /errors.")
    rows_created: int
    rows_updated: int
    rows_unchanged: int = Field(description="Rows identical to what was stored already (a replay changes nothing).")
    customers_created: int = Field(description="Customers auto-created for unknown customer ids.")
    error: str | None = Field(description="Why the whole import failed, when it did.")
    created_at: datetime
    finished_at: datetime | None


class RowError(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    line: int = Field(description="Line of the file (CSV: the header is line 1; NDJSON: the first line is 1).")
    field: str = Field(description="The field, as named in the file; `line` for a problem with the whole line.")
    message: str
