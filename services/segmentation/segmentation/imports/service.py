"""Bulk imports: a file in, set-based checks and one merge, every refused row listed with its reasons.

The job row is written on its own first (so the import can be watched and its failure recorded); the data
and the job's final counts are committed together, so a job says `succeeded` exactly when its rows are in.
A job whose import ended without saying so (the upload broke off, the process died) is ended as `failed`
by whoever next reads or replays it: its import's transaction holds a lock that is then free.
"""

from __future__ import annotations

import csv
import logging
import re
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from segmentation.classification.live import reclassify
from segmentation.company.repository import load_thresholds
from segmentation.db import SCHEMA
from segmentation.imports import repository
from segmentation.imports.errors import ImportGivenUp, ImportInProgress, ImportNotFound, UnreadableFile
from segmentation.imports.fields import ENTITIES, Entity
from segmentation.imports.schemas import ImportJob, RowError
from segmentation.imports.text import TextCheck
from segmentation.money import Money
from servicekit.db import is_database_outage
from servicekit.errors import AppError, BadRequest
from servicekit.pagination import Page, decode_cursor, encode_cursor
from servicekit.sql import SQL, ident

logger = logging.getLogger("segmentation.imports")
PROGRESS_EVERY_SECONDS = 1.0
MAX_HEADER_BYTES = 65_536


@dataclass
class Upload:
    entity: str
    format: str  # "csv" | "ndjson"
    body: AsyncIterable[bytes]
    idempotency_key: str | None
    idempotency_scope: str  # whose key (servicekit.idempotency)
    create_missing_customers: bool


async def run(
    sessions: async_sessionmaker[AsyncSession], upload: Upload, stale_after: timedelta
) -> tuple[ImportJob, bool]:
    """Register the job, then stage, check and merge the file in one transaction; on any failure the job says
    why. Returns (job, replayed): for a reused Idempotency-Key, the earlier import and True.
    """
    entity = ENTITIES[upload.entity]
    job_id = uuid.uuid4()
    progress = _Progress(sessions, job_id)
    header: list[str] = []
    registered = recorded = False
    problem: AppError | None = None
    try:
        async with sessions() as session, session.begin():
            # Taken before the job exists and held until this transaction ends: a job seen unfinished while
            # its lock is free was interrupted (see repository.end_abandoned_jobs).
            await repository.hold_job_lock(session, job_id)
            earlier = await _register(sessions, upload, job_id, stale_after)
            if earlier is not None:
                return earlier, True
            registered = True
            try:
                # In a savepoint: an error in the database aborts only this part, and the job's lock stays held
                # until the failure is recorded (so that no reader ends the job first, with a vaguer reason).
                async with session.begin_nested():
                    await session.execute(text("SET LOCAL statement_timeout = 0"))  # a large file takes minutes
                    body = progress.count(upload.body)
                    marks = TextCheck()
                    if upload.format == "csv":
                        header, rest = await _read_header(body, entity)
                        await repository.stage_csv(session, entity, header, marks.clean(rest), job_id)
                    else:
                        await repository.stage_ndjson(session, entity, marks.clean(body))
                    if marks.found:
                        await repository.refuse_marked(session, entity)
                    await progress.flush(status="processing")
                    counts = await _check_and_merge(session, entity, job_id, upload.create_missing_customers)
            except BaseException as exc:
                problem, recorded = await _record_failure(sessions, job_id, exc, header), True
                raise
            finished = await repository.update_open_job(  # not now(): this transaction began before the job
                session,
                job_id,
                status="succeeded",
                bytes_received=progress.bytes,
                finished_at=func.clock_timestamp(),
                **counts,
            )
            if not finished:  # given up by age meanwhile: its rows must not appear under a failed job
                raise ImportGivenUp()
    except BaseException as exc:
        if not registered:
            raise
        if not recorded:
            problem = await _record_failure(sessions, job_id, exc, header)
        if problem is None:
            raise
        raise problem from exc
    return await get_job(sessions, job_id), False


async def _register(
    sessions: async_sessionmaker[AsyncSession], upload: Upload, job_id: uuid.UUID, stale_after: timedelta
) -> ImportJob | None:
    """Write the job (committed at once, so it can be watched); or the finished job of a reused key."""
    values = {
        "id": job_id,
        "entity": upload.entity,
        "format": upload.format,
        "idempotency_key": upload.idempotency_key,
        "idempotency_scope": upload.idempotency_scope,
        "create_missing_customers": upload.create_missing_customers,
    }
    async with sessions() as session, session.begin():
        row = await repository.create_job(session, values)
        if row is None:  # the key was used before
            assert upload.idempotency_key is not None
            earlier = await repository.find_by_key(
                session, upload.entity, upload.idempotency_scope, upload.idempotency_key
            )
            if earlier is None:  # deleted meanwhile: take the key
                row = await repository.create_job(session, values)
            elif earlier.status == "succeeded":
                return ImportJob.model_validate(earlier)
            elif earlier.status == "failed" or await repository.end_abandoned_jobs(session, stale_after, earlier.id):
                # A failed attempt may be retried under the same key; so may one that was interrupted.
                await repository.delete_job(session, earlier.id)
                row = await repository.create_job(session, values)
            else:
                raise ImportInProgress(upload.idempotency_key)
        assert row is not None
        return None


async def _check_and_merge(
    session: AsyncSession, entity: Entity, job_id: uuid.UUID, create_missing_customers: bool
) -> dict[str, int]:
    thresholds = await load_thresholds(session)
    entity = entity.priced_in(Money.of(thresholds))
    await repository.check_fields(session, entity, customers_must_exist=not create_missing_customers)
    await repository.type_rows(session, entity, thresholds.time_zone)
    customers_created = 0
    if entity.belongs_to_customer and create_missing_customers:
        customers_created = await repository.create_missing_customers(session)
    created, updated = await repository.merge(session, entity)
    if created or updated or customers_created:  # a replay changes no fact, so no classification either
        await reclassify(session, repository.touched_customers_sql(entity))
    received = await repository.count_rows(session, "staged") + await _unparsed_lines(session)
    await repository.finish(session, job_id)
    rejected = await repository.save_errors(session, job_id)
    accepted = received - rejected
    return {
        "rows_received": received,
        "rows_rejected": rejected,
        "rows_accepted": accepted,
        "rows_created": created,
        "rows_updated": updated,
        "rows_unchanged": accepted - created - updated,
        "customers_created": customers_created,
    }


async def _unparsed_lines(session: AsyncSession) -> int:
    """NDJSON lines that are not JSON objects never reach `staged`, but they were received."""
    exists = await session.scalar(text("SELECT to_regclass('pg_temp.parsed') IS NOT NULL"))
    if not exists:
        return 0
    return await repository.count_rows(session, "parsed") - await repository.count_rows(session, "staged")


async def _read_header(body: AsyncIterator[bytes], entity: Entity) -> tuple[list[str], AsyncIterator[bytes]]:
    """The CSV header (checked against the entity's fields) and the rest of the body."""
    buffer = b""
    async for chunk in body:
        buffer += chunk
        if b"\n" in buffer or len(buffer) > MAX_HEADER_BYTES:
            break
    line, _, rest = buffer.partition(b"\n")
    try:
        header = next(csv.reader([line.decode("utf-8-sig").rstrip("\r")]), [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UnreadableFile(f"The CSV header line cannot be read: {exc}.") from exc
    header = [h.strip() for h in header]
    for h in header:  # an attribute's key becomes a text constant in SQL, which cannot hold NUL
        if "\x00" in h:
            raise UnreadableFile(f"The CSV header's column {h!r} holds a NUL character, which no name can hold.")
    unknown = [
        h
        for h in header
        if entity.field(h) is None and not (entity.has_attributes and h.startswith("attributes.") and len(h) > 11)
    ]
    missing = [f.path for f in entity.fields if f.required and f.path not in header]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if not header or unknown or missing or duplicated:
        parts = [
            f"unknown columns {unknown}" if unknown else "",
            f"missing columns {missing}" if missing else "",
            f"repeated columns {duplicated}" if duplicated else "",
        ]
        detail = "; ".join(p for p in parts if p) or "no header line"
        columns = ", ".join(f.path for f in entity.fields)
        raise UnreadableFile(f"The CSV header does not fit {entity.name}: {detail}. Columns: {columns}.")

    async def remainder() -> AsyncIterator[bytes]:
        if rest:
            yield rest
        async for chunk in body:
            yield chunk

    return header, remainder()


def _unreadable(exc: asyncpg.PostgresError, header: list[str]) -> UnreadableFile | None:
    """A COPY that failed on the file's shape (column count, quoting, encoding) is the client's to fix."""
    if exc.sqlstate not in ("22P04", "22021", "22P02", "54000", "22001"):
        return None
    context = getattr(exc, "context", None) or ""
    match = re.search(r"line (\d+)", context)
    # COPY counts from the first line it was given: for CSV that is the line after the header.
    line = str(int(match.group(1)) + (1 if header else 0)) if match else "?"
    message = re.sub(
        r'column "c(\d+)"', lambda m: f'column "{header[int(m.group(1))]}"', str(exc.args[0] if exc.args else exc)
    )
    return UnreadableFile(f"The file cannot be read at line {line}: {message}. Nothing was imported.")


async def _record_failure(
    sessions: async_sessionmaker[AsyncSession], job_id: uuid.UUID, exc: BaseException, header: list[str]
) -> AppError | None:
    """Mark the job failed, saying why; returns the problem to answer with instead of `exc`, if any."""
    problem: AppError | None = None
    if isinstance(exc, asyncpg.PostgresError):
        problem = _unreadable(exc, header)
        reason = (problem.detail or "") if problem else "the import failed in the database; nothing was imported"
    elif isinstance(exc, AppError):
        reason = exc.detail or exc.title
    elif isinstance(exc, StarletteHTTPException):  # the body limit, hit while streaming
        reason = f"{exc.detail}; nothing was imported"
    elif isinstance(exc, ClientDisconnect):
        reason = "the upload broke off; nothing was imported"
    else:
        cause = "the database was unavailable" if is_database_outage(exc) else "an internal error occurred"
        reason = f"{cause}; nothing was imported"
    await _fail(sessions, job_id, reason)
    return problem


async def _fail(sessions: async_sessionmaker[AsyncSession], job_id: uuid.UUID, reason: str) -> None:
    try:
        async with sessions() as session, session.begin():
            await repository.update_job(session, job_id, status="failed", error=reason, finished_at=func.now())
    except Exception:  # the database may be the reason; the job is then ended as interrupted when next read
        logger.exception("could not mark import %s as failed", job_id)


class _Progress:
    """Counts what arrives and writes it to the job about once a second, outside the import's transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], job_id: uuid.UUID) -> None:
        self.sessions = sessions
        self.job_id = job_id
        self.bytes = 0
        self.lines = 0
        self._written_at = time.monotonic()

    async def count(self, body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        async for chunk in body:
            self.bytes += len(chunk)
            self.lines += chunk.count(b"\n")
            if time.monotonic() - self._written_at > PROGRESS_EVERY_SECONDS:
                await self.flush()
            yield chunk

    async def flush(self, **values: str) -> None:
        self._written_at = time.monotonic()
        async with self.sessions() as session, session.begin():
            still_open = await repository.update_open_job(
                session, self.job_id, bytes_received=self.bytes, rows_received=self.lines, **values
            )
        if not still_open:  # given up by age meanwhile: stop rather than finish work that cannot be kept
            raise ImportGivenUp()


async def vacuum(engine: AsyncEngine, entity: str) -> None:
    """VACUUM (ANALYZE) the table an import filled, as autovacuum would later and throttled: the planner gets
    its statistics, and runs can read orders and invoices from their covering indexes alone, which needs the
    visibility map a vacuum sets. Best effort: a failure is logged, the import has succeeded anyway."""
    try:
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            table = ident(SCHEMA, ENTITIES[entity].name)
            await autocommit.execute(SQL("VACUUM (ANALYZE) {table}").format(table=table).clause)
        logger.info("vacuumed %s after a large import", entity)
    except Exception:
        logger.exception("vacuum of %s after an import failed", entity)


async def get_job(
    sessions: async_sessionmaker[AsyncSession], job_id: uuid.UUID, stale_after: timedelta | None = None
) -> ImportJob:
    """The job; with `stale_after`, ended first if it was interrupted (so a client polling it sees it end)."""
    async with sessions() as session, session.begin():
        if stale_after is not None:
            await repository.end_abandoned_jobs(session, stale_after, job_id)
        row = await repository.get_job(session, job_id)
    if row is None:
        raise ImportNotFound(job_id)
    return ImportJob.model_validate(row)


async def list_jobs(session: AsyncSession, cursor: str | None, limit: int, stale_after: timedelta) -> Page[ImportJob]:
    """Newest first; interrupted imports are ended first (the session commits with the request)."""
    position = decode_cursor(cursor, ("created_at", "id"))
    after = None
    if position is not None:
        try:
            after = (datetime.fromisoformat(str(position["created_at"])), uuid.UUID(str(position["id"])))
        except ValueError as exc:
            raise BadRequest("The cursor is malformed; use the next_cursor of a previous page.") from exc
    await repository.end_abandoned_jobs(session, stale_after)
    rows = await repository.list_jobs(session, after, limit)
    next_cursor = (
        encode_cursor({"created_at": rows[limit - 1].created_at.isoformat(), "id": str(rows[limit - 1].id)})
        if len(rows) > limit
        else None
    )
    return Page[ImportJob](items=[ImportJob.model_validate(r) for r in rows[:limit]], next_cursor=next_cursor)


async def list_errors(session: AsyncSession, job_id: uuid.UUID, cursor: str | None, limit: int) -> Page[RowError]:
    """The rejected rows, `limit` lines a page, each line with all of its errors."""
    if await repository.get_job(session, job_id) is None:
        raise ImportNotFound(job_id)
    position = decode_cursor(cursor, ("line",))
    after_line = position["line"] if position else 0
    if not isinstance(after_line, int) or isinstance(after_line, bool) or not 0 <= after_line < 2**63:
        raise BadRequest("The cursor is malformed; use the next_cursor of a previous page.")
    rows = await repository.errors_page(session, job_id, after_line, limit)
    lines = sorted({r.line for r in rows})
    shown = [r for r in rows if r.line in lines[:limit]]
    next_cursor = encode_cursor({"line": lines[limit - 1]}) if len(lines) > limit else None
    return Page[RowError](items=[RowError.model_validate(r) for r in shown], next_cursor=next_cursor)
