"""All SQL of bulk imports: the job rows, and the set-based staging, checking and merging of a file.

A file is COPYed into a table of text columns (a CSV's: an unlogged table of the import's own; an NDJSON
file's: a temporary one), normalised by the view `staged`, checked field by field into `row_errors`, cast
into `typed`, checked across fields and against the customers, and merged into its table by one statement
that updates the rows that differ and one that inserts the new ones. All of it runs in the caller's
transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from segmentation.db import SCHEMA
from segmentation.imports.fields import CURRENCIES, Entity, Field
from segmentation.imports.models import ImportErrorRow, ImportRow
from segmentation.imports.text import BAD_MARK, NUL_MARK
from segmentation.types import FIRST_YEAR, LAST_YEAR
from servicekit.bounds import DATE_RANGE, MAX_AMOUNT
from servicekit.db import favour_parallel_workers, group_by_sorting

_WHOLE_DIGITS = len(str(int(MAX_AMOUNT)))

# --- job rows -------------------------------------------------------------------------------------


async def create_job(session: AsyncSession, values: dict[str, Any]) -> ImportRow | None:
    """A new job; None when (entity, idempotency_scope, idempotency_key) is taken."""
    statement = insert(ImportRow).values(**values).on_conflict_do_nothing().returning(ImportRow)
    return (await session.execute(statement)).scalar_one_or_none()


async def find_by_key(session: AsyncSession, entity: str, scope: str, key: str) -> ImportRow | None:
    return await session.scalar(
        select(ImportRow).where(
            ImportRow.entity == entity, ImportRow.idempotency_scope == scope, ImportRow.idempotency_key == key
        )
    )


async def delete_job(session: AsyncSession, job_id: uuid.UUID) -> None:
    await session.execute(delete(ImportRow).where(ImportRow.id == job_id))


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> ImportRow | None:
    return await session.get(ImportRow, job_id)


async def update_job(session: AsyncSession, job_id: uuid.UUID, **values: Any) -> None:
    await session.execute(update(ImportRow).where(ImportRow.id == job_id).values(**values))


OPEN_STATUSES = ("receiving", "processing")


async def update_open_job(session: AsyncSession, job_id: uuid.UUID, **values: Any) -> bool:
    """Update a job still receiving or processing; False when it has ended (or is gone) meanwhile."""
    statement = update(ImportRow).where(ImportRow.id == job_id, ImportRow.status.in_(OPEN_STATUSES)).values(**values)
    return (await session.execute(statement)).rowcount == 1  # type: ignore[attr-defined]


# An import holds this lock, keyed by its job's id, for the whole of its transaction, and takes it before
# the job row is written: a job seen receiving or processing whose lock is free has no import running
# any more (its upload broke off, its process died, its database connection was cut), on any replica.
_JOB_LOCK = "SELECT pg_advisory_xact_lock(hashtext('segmentation.imports.job'), hashtext(CAST(:id AS text)))"
_JOB_IS_FREE = "pg_try_advisory_xact_lock(hashtext('segmentation.imports.job'), hashtext(CAST(id AS text)))"
INTERRUPTED = (
    "the import was interrupted before it finished (its upload broke off, or the process serving it stopped); "
    "nothing was imported"
)


async def hold_job_lock(session: AsyncSession, job_id: uuid.UUID) -> None:
    await session.execute(text(_JOB_LOCK), {"id": str(job_id)})


async def end_abandoned_jobs(
    session: AsyncSession, stale_after: timedelta, job_id: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """Mark failed the open jobs (all, or `job_id`) that nothing runs any more, or that ran past `stale_after`.

    Returns their ids. A job given up by age whose import is in fact still running cannot succeed any more:
    its final update finds the job ended and rolls the import back.
    """
    only = "AND id = :job_id" if job_id is not None else ""
    given_up = (
        f"the import was still unfinished after {int(stale_after.total_seconds())} seconds and was given up; "
        "nothing was imported"
    )
    # MATERIALIZED: the lock is tried only for open jobs. A lock taken here is held until this transaction
    # ends; no import can want it, since an import takes its job's lock before the job exists.
    result = await session.execute(
        text(f"""
        WITH open AS MATERIALIZED (
            SELECT id, created_at < now() - make_interval(secs => :stale) AS overdue
            FROM {SCHEMA}.imports WHERE status IN ('receiving', 'processing') {only}
        ), ended AS (
            SELECT id, overdue FROM open WHERE overdue OR {_JOB_IS_FREE}
        )
        UPDATE {SCHEMA}.imports AS job
        SET status = 'failed', finished_at = now(), error = CASE WHEN ended.overdue THEN :given_up ELSE :interrupted END
        FROM ended WHERE job.id = ended.id AND job.status IN ('receiving', 'processing')
        RETURNING job.id"""),
        {"stale": stale_after.total_seconds(), "job_id": job_id, "given_up": given_up, "interrupted": INTERRUPTED},
    )
    return list(result.scalars())


async def list_jobs(session: AsyncSession, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[ImportRow]:
    query = select(ImportRow).order_by(ImportRow.created_at.desc(), ImportRow.id.desc())
    if after is not None:
        query = query.where(tuple_(ImportRow.created_at, ImportRow.id) < tuple_(*after))
    return list(await session.scalars(query.limit(limit + 1)))


async def errors_page(session: AsyncSession, job_id: uuid.UUID, after_line: int, lines: int) -> list[ImportErrorRow]:
    """Every error of up to `lines` + 1 rejected lines after `after_line` (a line's errors stay together)."""
    next_lines = (
        select(ImportErrorRow.line)
        .where(ImportErrorRow.import_id == job_id, ImportErrorRow.line > after_line)
        .group_by(ImportErrorRow.line)
        .order_by(ImportErrorRow.line)
        .limit(lines + 1)
    )
    query = (
        select(ImportErrorRow)
        .where(ImportErrorRow.import_id == job_id, ImportErrorRow.line.in_(next_lines))
        .order_by(ImportErrorRow.line, ImportErrorRow.field)
    )
    return list(await session.scalars(query))


# --- staging --------------------------------------------------------------------------------------


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Cheap shapes first, ranges by substring compare: PostgreSQL's regex engine is slow with bounded repeats
# ({1,128}) and alternations, and these run once per field per row.
_DATE_SHAPE = r"\d{4}-\d\d-\d\d"
_TIME_SHAPE = r"[Tt ]\d\d:\d\d(:\d\d(\.\d{1,6})?)?([Zz]|[+-](0\d|1[0-5]):?[0-5]\d)"


def _date_in_range(v: str) -> str:
    """A YYYY-MM-DD prefix names a real day (2026-02-30 does not); never raises."""
    return (
        f"substr({v}, 1, 1) <> '0' AND substr({v}, 6, 2) BETWEEN '01' AND '12' AND substr({v}, 9, 2) BETWEEN '01' AND '31'"
        f" AND (substr({v}, 9, 2) <= '28'"  # every month has these: the costly month length only for the rest
        f" OR substr({v}, 9, 2)::int <= extract(day from make_date(substr({v}, 1, 4)::int, substr({v}, 6, 2)::int, 1)"
        " + interval '1 month - 1 day'))"
    )


def _in_supported_years(v: str) -> str:
    # The year of a YYYY-MM-DD... value that passed the shape checks: compared as text, no cast.
    return (f"WHEN substr({v}, 1, 4) NOT BETWEEN '{FIRST_YEAR}' AND '{LAST_YEAR}' "
            f"THEN 'must lie {DATE_RANGE}'")  # fmt: skip


def _day_cases(v: str) -> list[str]:
    """CASE branches giving the problem with a value of the shape YYYY-MM-DD, or none."""
    return [_in_supported_years(v), f"WHEN NOT ({_date_in_range(v)}) THEN 'is not a day of the calendar'"]


def _time_in_range(v: str) -> str:
    return (
        f"substr({v}, 12, 2) <= '23' AND substr({v}, 15, 2) <= '59'"
        f" AND (substr({v}, 17, 1) <> ':' OR substr({v}, 18, 2) <= '59')"
    )


_NOT_A_TIME = "'must be an RFC 3339 time with a time zone, or a day YYYY-MM-DD'"


def _time_cases(v: str, input_check: bool) -> list[str]:
    """CASE branches giving the problem with a value that is not a day alone as a time, or none."""
    cases = []
    if input_check:
        # The usual shape by its separators, then Postgres's own parser; its 24:00 and leap seconds are not
        # RFC 3339. Which part is wrong is looked for only in rows that are.
        canonical = (f"(length({v}) = 20 AND substr({v}, 5, 1) = '-' AND substr({v}, 8, 1) = '-' "
                     f"AND substr({v}, 11, 1) = 'T' AND substr({v}, 20, 1) = 'Z')")  # fmt: skip
        cases.append(f"WHEN NOT ({canonical} OR {v} ~ '^{_DATE_SHAPE}{_TIME_SHAPE}$') THEN {_NOT_A_TIME}")
        cases.append(_in_supported_years(v))
        cases.append(
            f"WHEN NOT pg_input_is_valid({v}, 'timestamptz') OR substr({v}, 12, 2) = '24' OR substr({v}, 18, 2) = '60' "
            f"THEN CASE WHEN {v} !~ '^{_DATE_SHAPE}{_TIME_SHAPE}$' THEN {_NOT_A_TIME} "
            f"WHEN NOT ({_date_in_range(v)}) THEN 'is not a day of the calendar' ELSE 'is not a time of the day' END"
        )
    else:
        canonical = f"(length({v}) = 20 AND translate({v}, '0123456789', '') = '--T::Z')"  # the usual shape, no regex
        cases.append(f"WHEN NOT ({canonical} OR {v} ~ '^{_DATE_SHAPE}{_TIME_SHAPE}$') THEN {_NOT_A_TIME}")
        cases.append(_in_supported_years(v))
        cases.append(f"WHEN NOT ({_date_in_range(v)}) THEN 'is not a day of the calendar'")
        cases.append(f"WHEN NOT ({_time_in_range(v)}) THEN 'is not a time of the day'")
    return cases


def _error_expression(f: Field, input_check: bool = False, value: str | None = None) -> str:
    """SQL giving the problem with field `f` of a staged row (or with the trimmed `value`), or NULL. Never raises.
    `input_check`: the server has pg_input_is_valid (Postgres 16 and newer), which checks a time as a cast
    would, without raising."""
    v = value or _ident(f.column)
    cases = [f"WHEN {v} IS NULL THEN " + ("'is required'" if f.required else "NULL")]
    if f.kind == "external_id":
        cases.append(
            rf"WHEN length({v}) > 128 OR {v} ~ '[\x01-\x1f\x7f/]' THEN 'must be 1-128 characters, no / or control characters'"
        )
    elif f.kind == "text":
        cases.append(f"WHEN length({v}) > {f.max_length} THEN 'must be at most {f.max_length} characters'")
    elif f.kind in ("amount", "signed_amount"):
        cases.append(
            rf"WHEN {v} !~ '^-?[0-9]+(\.[0-9][0-9]?)?$' THEN 'must be a decimal number with at most two places'"
        )
        # Digits before the point, leading zeros aside: at most those of servicekit.bounds.MAX_AMOUNT.
        low = f"-{MAX_AMOUNT}" if f.kind == "signed_amount" else "0"
        cases.append(
            f"WHEN length(ltrim(split_part(ltrim({v}, '-'), '.', 1), '0')) > {_WHOLE_DIGITS} "
            f"THEN 'must be from {low} to {MAX_AMOUNT}'"
        )
        if f.kind == "amount":
            cases.append(f"WHEN {v} ~ '^-' THEN 'must not be negative'")
    elif f.kind == "date":
        cases.append(f"WHEN {v} !~ '^{_DATE_SHAPE}$' THEN 'must be a date YYYY-MM-DD'")
        cases.extend(_day_cases(v))
    elif f.kind == "timestamp":
        # A day alone is checked as a day; type_rows makes it the start of that day in the company's time zone.
        cases.append(f"WHEN {v} ~ '^{_DATE_SHAPE}$' THEN CASE {' '.join(_day_cases(v))} END")
        cases.extend(_time_cases(v, input_check))
    elif f.kind == "bool":
        cases.append(
            f"WHEN lower({v}) NOT IN ('true', 'false', 't', 'f', '1', '0', 'yes', 'no') THEN 'must be true or false'"
        )
    elif f.kind == "enum":
        choices = ", ".join(_literal(c) for c in f.choices)
        cases.append(f"WHEN {v} NOT IN ({choices}) THEN {_literal('must be one of ' + ', '.join(f.choices))}")
    elif f.kind == "currency":
        codes = ", ".join(_literal(c) for c in CURRENCIES)
        cases.append(f"WHEN {v} NOT IN ({codes}) THEN 'is not an ISO 4217 currency code'")
    elif f.kind == "small_int":
        cases.append(
            f"WHEN {v} !~ '^[0-9]{{1,4}}$' OR {v}::int > {f.maximum} THEN 'must be a whole number from 0 to {f.maximum}'"
        )
    if f.narrowed_to:
        narrowed = ", ".join(_literal(c) for c in f.narrowed_to)
        cases.append(f"WHEN {v} NOT IN ({narrowed}) THEN {_literal(f.narrowed_message)}")
    return "CASE " + " ".join(cases) + " END"


def _valid_expression(f: Field, input_check: bool = False) -> str:
    """SQL over a row of `unchecked` (the values as received, not yet trimmed) that is true only when field `f`
    trimmed passes `_error_expression`, and cheap for the usual values: a row it holds for is not checked in
    detail. It may be stricter (a value it refuses is checked in detail), never laxer. Never NULL, never
    raises. The control characters of external ids are looked for by `_ids_clean`, for all of them at once.
    A value that passes these shapes has no spaces around it, so trimming would not change it."""
    v = _ident(f.column)
    needs_no_trim = f"{v} <> '' AND {v} NOT LIKE ' %' AND {v} NOT LIKE '% '"
    if f.kind == "external_id":
        check = f"{needs_no_trim} AND length({v}) <= 128"
    elif f.kind == "text":
        check = f"length({v}) <= {f.max_length}"
        if f.required:
            check = f"btrim({v}) <> '' AND {check}"
    elif f.kind in ("amount", "signed_amount"):
        # One regex: each call costs about as much as a cast (the text is converted for the regex engine).
        sign = "-?" if f.kind == "signed_amount" else ""
        check = rf"{v} ~ '^{sign}[0-9]+(\.[0-9][0-9]?)?$' AND length(split_part({v}, '.', 1)) <= {_WHOLE_DIGITS}"
    elif f.kind == "date" and input_check:
        check = _valid_day(v)
    elif f.kind == "timestamp" and input_check:
        # The usual shape by LIKE (a fraction of a regex's cost), then Postgres's own parser, as the detailed
        # check does; its 24:00 and leap seconds are refused, the years compared as text. Or a day alone.
        check = (f"({v} LIKE '____-__-__T__:__:__Z' AND pg_input_is_valid({v}, 'timestamptz')"
                 f" AND {v} COLLATE \"C\" >= '{FIRST_YEAR}' AND {v} COLLATE \"C\" < '{LAST_YEAR + 1}'"
                 f" AND {v} NOT LIKE '___________24%' AND {v} NOT LIKE '_________________60%')"
                 f" OR (length({v}) = 10 AND {_valid_day(v)})")  # fmt: skip
    elif f.kind in ("enum", "currency"):
        allowed = f.choices if f.kind == "enum" else CURRENCIES
        allowed = tuple(c for c in allowed if c in f.narrowed_to) if f.narrowed_to else allowed
        check = f"{v} IN ({', '.join(_literal(c) for c in allowed)})" if allowed else "false"
    else:
        trimmed = f"nullif(btrim({v}), '')"
        return f"({_error_expression(f, input_check, value=trimmed)}) IS NULL"
    if f.narrowed_to and f.kind not in ("enum", "currency"):
        check += f" AND {v} IN ({', '.join(_literal(c) for c in f.narrowed_to)})"
    return f"({v} IS NOT NULL AND {check})" if f.required else f"({v} IS NULL OR ({check}))"


def _valid_day(v: str) -> str:
    """SQL (Postgres 16 and newer): `v` is a day YYYY-MM-DD of the supported years."""
    return (f"{v} ~ '^{_DATE_SHAPE}$' AND pg_input_is_valid({v}, 'date')"
            f" AND {v} COLLATE \"C\" >= '{FIRST_YEAR}' AND {v} COLLATE \"C\" < '{LAST_YEAR + 1}'")  # fmt: skip


def _ids_clean(entity: Entity) -> str:
    """SQL: no external id of the row holds a / or a control character. One regex over all of them together."""
    ids = [_ident(f.column) for f in entity.fields if f.kind == "external_id"]
    return rf"concat({', '.join(ids)}) !~ '[\x01-\x1f\x7f/]'" if ids else "true"


def _typed_expression(f: Field) -> str:
    v = _ident(f.column)
    casts = {
        "amount": f"{v}::numeric(18, 2)",
        "signed_amount": f"{v}::numeric(18, 2)",
        "date": f"{v}::date",
        # A day alone: the start of that day in the company's time zone (type_rows), as the PUTs store it.
        "timestamp": f"CASE WHEN length({v}) = 10 THEN {v}::date::timestamp AT TIME ZONE current_setting('{ZONE_SETTING}')"
        f" ELSE {v}::timestamptz END",
        "bool": f"lower({v}) IN ('true', 't', '1', 'yes')",
        "small_int": f"{v}::smallint",
    }
    return f"{casts.get(f.kind, v)} AS {v}"


def upload_table(job_id: uuid.UUID) -> str:
    """The table a CSV file is COPYed into: unlogged rather than temporary, so that the checks, which cost more
    than the COPY itself, can scan it with parallel workers (they cannot read a session's temporary tables).
    Created and dropped in the import's transaction: no other session ever sees it, a failure leaves nothing."""
    return f"{SCHEMA}.import_upload_{job_id.hex}"


async def stage_csv(
    session: AsyncSession, entity: Entity, header: list[str], body: AsyncIterable[bytes], job_id: uuid.UUID
) -> None:
    """COPY a CSV body (after its header line) into `staged`, one text column per header column."""
    attribute_keys = [h.split(".", 1)[1] for h in header if h.startswith("attributes.")]
    upload_columns = [f"c{i}" for i in range(len(header))]
    upload = upload_table(job_id)
    await session.execute(text(
        f"CREATE UNLOGGED TABLE {upload} (line bigint GENERATED ALWAYS AS IDENTITY (START 2), "
        + ", ".join(f"{c} text" for c in upload_columns) + ")"
    ))  # fmt: skip
    await _copy(session, upload, upload_columns, body)
    by_header = dict(zip(header, upload_columns, strict=True))
    received = {f.column: by_header.get(f.path, "NULL::text") for f in entity.fields}  # as received, or none
    selected = [f"nullif(btrim({value}), '') AS {_ident(column)}" for column, value in received.items()]
    if entity.has_attributes:
        pairs = ", ".join(f"{_literal(k)}, nullif({by_header['attributes.' + k]}, '')" for k in attribute_keys)
        selected.append(
            f"jsonb_strip_nulls(jsonb_build_object({pairs})) AS attributes" if pairs else "NULL::jsonb AS attributes"
        )
    # A view, not a table: each field is trimmed where it is read (the checks, then the merge), which costs less
    # than writing every row of a large file once more.
    await session.execute(text(f"CREATE TEMP VIEW staged AS SELECT line, {', '.join(selected)} FROM {upload}"))
    unchecked = ", ".join(f"{value} AS {_ident(column)}" for column, value in received.items())
    await session.execute(text(f"CREATE TEMP VIEW unchecked AS SELECT line, {unchecked} FROM {upload}"))
    await _create_row_errors(session)


async def stage_ndjson(session: AsyncSession, entity: Entity, body: AsyncIterable[bytes]) -> None:
    """COPY NDJSON lines into `staged`: each line parsed as JSON in the database, fields taken by path."""
    await session.execute(text(
        "CREATE TEMP TABLE upload (line bigint GENERATED ALWAYS AS IDENTITY, raw text) ON COMMIT DROP"
    ))  # fmt: skip
    # Control characters cannot occur in JSON text, so \x01 and \x02 never split or quote a line.
    await _copy(session, "upload", ["raw"], body, delimiter="\x01", quote="\x02")
    # The line itself is kept only where it is not JSON, to say why (OFFSET 0: each line is parsed once).
    await session.execute(text(
        "CREATE TEMP TABLE parsed ON COMMIT DROP AS SELECT line, doc, CASE WHEN doc IS NULL THEN raw END AS raw "
        f"FROM (SELECT line, raw, {SCHEMA}.parse_jsonb(raw) AS doc FROM upload "
        "      WHERE raw IS NOT NULL AND btrim(raw) <> '' OFFSET 0) p"
    ))  # fmt: skip
    selected = [f"nullif(btrim(doc #>> {_literal(f.json_path)}), '') AS {_ident(f.column)}" for f in entity.fields]
    if entity.has_attributes:
        selected.append("doc -> 'attributes' AS attributes")
    await session.execute(text(
        f"CREATE TEMP TABLE staged ON COMMIT DROP AS SELECT line, {', '.join(selected)} FROM parsed "
        "WHERE jsonb_typeof(doc) = 'object'"
    ))  # fmt: skip
    await session.execute(text("CREATE TEMP VIEW unchecked AS SELECT * FROM staged"))  # trimmed already
    await _create_row_errors(session)
    # Why a line is not a JSON object, in which field where the problem is in a value: asked only of those lines.
    await _record(
        session,
        f"""
        SELECT line, coalesce(CASE WHEN problem.message LIKE 'is not JSON%' THEN NULL ELSE problem.field END, 'line'),
               problem.message
        FROM parsed, {SCHEMA}.json_line_problem(raw) AS problem
        WHERE jsonb_typeof(doc) IS DISTINCT FROM 'object' AND (raw IS NULL OR NOT {_marked("raw")})""",
    )
    known = ", ".join(_literal(k) for k in sorted(entity.top_level_keys))
    await _record(
        session,
        f"""
        SELECT line, key, 'is not a field of {entity.name}' FROM parsed, jsonb_object_keys(doc) AS key
        WHERE jsonb_typeof(doc) = 'object' AND key NOT IN ({known})""",
    )
    for parent, children in entity.nested_objects.items():
        allowed = ", ".join(_literal(c) for c in sorted(children))
        await _record(
            session,
            f"""
            SELECT line, {_literal(parent)}, 'must be an object with {", ".join(sorted(children))}' FROM parsed
            WHERE jsonb_typeof(doc -> {_literal(parent)}) NOT IN ('object', 'null')
            UNION ALL
            SELECT line, {_literal(parent)} || '.' || key, 'is not a field of ' || {_literal(parent)} FROM parsed,
                   jsonb_object_keys(CASE jsonb_typeof(doc -> {_literal(parent)}) WHEN 'object' THEN doc -> {_literal(parent)} END) AS key
            WHERE key NOT IN ({allowed})""",
        )
    scalar_checks = " UNION ALL ".join(
        f"SELECT line, {_literal(f.path)}, 'must be a single value, not a list or object' FROM parsed "
        f"WHERE jsonb_typeof(doc #> {_literal(f.json_path)}) IN ('object', 'array')"
        for f in entity.fields
    )
    await _record(session, scalar_checks)
    if entity.has_attributes:
        await _record(
            session,
            """
            SELECT line, 'attributes', 'must be an object of at most 100 single values' FROM staged
            WHERE attributes IS NOT NULL AND attributes <> 'null'::jsonb AND (
                jsonb_typeof(attributes) <> 'object'
                OR (SELECT count(*) FROM jsonb_each(attributes)) > 100
                OR EXISTS (SELECT 1 FROM jsonb_each(attributes) a WHERE jsonb_typeof(a.value) IN ('object', 'array')))""",
        )


def _marked(value: str) -> str:
    """SQL: the text holds a mark of imports.text (a NUL or bytes that were not UTF-8)."""
    return f"(strpos({value}, {_literal(NUL_MARK)}) > 0 OR strpos({value}, {_literal(BAD_MARK)}) > 0)"


def _why_marked(value: str) -> str:
    return (f"CASE WHEN strpos({value}, {_literal(NUL_MARK)}) > 0 THEN 'holds a NUL character, which text cannot hold' "
            "ELSE 'holds bytes that are not UTF-8 text' END")  # fmt: skip


async def refuse_marked(session: AsyncSession, entity: Entity) -> None:
    """Refuse the staged rows holding a mark of imports.text, naming the field (an attribute by its key); an
    NDJSON line the mark made unparsable as a whole. Only for a file that held any: a pass per field."""
    parts = [
        f"SELECT line, {_literal(f.path)}, {_why_marked(_ident(f.column))} FROM staged WHERE {_marked(_ident(f.column))}"
        for f in entity.fields
    ]
    if entity.has_attributes:
        parts.append(
            f"SELECT line, 'attributes.' || a.key, {_why_marked('a.key || a.value')} FROM staged, "
            "jsonb_each_text(CASE jsonb_typeof(attributes) WHEN 'object' THEN attributes END) AS a "
            f"WHERE {_marked('a.key || a.value')}"
        )
    if await session.scalar(text("SELECT to_regclass('pg_temp.parsed') IS NOT NULL")):
        parts.append(
            f"SELECT line, 'line', {_why_marked('raw')} FROM parsed WHERE raw IS NOT NULL AND {_marked('raw')}"
        )
    await _record(session, " UNION ALL ".join(parts))


async def _copy(
    session: AsyncSession, table: str, columns: list[str], body: AsyncIterable[bytes], **options: str
) -> None:
    """COPY FROM STDIN on the session's own connection (so inside its transaction), streaming the body."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    schema, _, name = table.rpartition(".")
    await driver.copy_to_table(name, schema_name=schema or None, source=body, columns=columns, format="csv", **options)


async def _create_row_errors(session: AsyncSession) -> None:
    await session.execute(text(
        "CREATE TEMP TABLE row_errors (line bigint, field text, message text, PRIMARY KEY (line, field)) ON COMMIT DROP"
    ))  # fmt: skip


async def _record(session: AsyncSession, select_sql: str, params: dict[str, Any] | None = None) -> None:
    await session.execute(
        text(f"INSERT INTO row_errors (line, field, message) {select_sql} ON CONFLICT DO NOTHING"), params or {}
    )


# --- checking and merging -------------------------------------------------------------------------


async def check_fields(session: AsyncSession, entity: Entity, customers_must_exist: bool) -> None:
    """Every field of every staged row, external ids that repeat within the file and, if `customers_must_exist`,
    the customer a row belongs to."""
    # Every row is tested by the cheap checks (_valid_expression) on the values as received, by parallel workers
    # (a CSV's; an NDJSON file's temporary tables are read by one process); only the rows they refuse are checked
    # field by field, trimmed, into an array of every field's message, unnested. Checking every row in detail
    # costs several times as much.
    input_check = int(await session.scalar(text("SELECT current_setting('server_version_num')"))) >= 160000
    valid = [_ids_clean(entity), *(_valid_expression(f, input_check) for f in entity.fields)]
    customer = customers_must_exist and entity.belongs_to_customer
    # A valid id needs no trimming (_valid_expression), so the customer is found by the id as received.
    join = (f"LEFT JOIN (SELECT external_id AS customer_key FROM {SCHEMA}.customers) c "
            "ON c.customer_key = u.customer_external_id" if customer else "")  # fmt: skip
    valid += ["c.customer_key IS NOT NULL"] if customer else []
    await favour_parallel_workers(session, True)
    refused = await session.execute(
        text(f"""CREATE TEMP TABLE refused ON COMMIT DROP AS
                 SELECT u.line FROM unchecked u {join} WHERE ({" AND ".join(valid)}) IS NOT TRUE""")
    )
    repeated = await _repeated_id_hashes(session)
    await favour_parallel_workers(session, False)
    if refused.rowcount:  # type: ignore[attr-defined]
        names = ", ".join(_literal(f.path) for f in entity.fields)
        messages = ", ".join(
            f"coalesce({_error_expression(f, input_check)}, CASE WHEN NOT EXISTS (SELECT FROM {SCHEMA}.customers c "
            f"WHERE c.external_id = s.customer_external_id) THEN 'no customer with this external_id' END)"
            if customer and f.path == "customer_external_id"
            else _error_expression(f, input_check)
            for f in entity.fields
        )
        await _record(
            session,
            f"""
            SELECT s.line, e.field, e.message
            FROM (SELECT line, ARRAY[{messages}]::text[] AS messages
                  FROM (SELECT s.* FROM staged s JOIN refused USING (line) OFFSET 0) s) s  -- each field trimmed once
            CROSS JOIN LATERAL unnest(ARRAY[{names}], s.messages) AS e(field, message)
            WHERE e.message IS NOT NULL""",
        )
    await session.execute(text("DROP TABLE refused"))
    if repeated:
        await _record(
            session,
            """
            WITH candidates AS MATERIALIZED (
                SELECT line, external_id FROM staged
                WHERE hashtextextended(external_id, 0) = ANY (CAST(:repeated AS bigint[])))
            SELECT s.line, 'external_id', 'appears more than once in this file (first on line ' || d.first_line || ')'
            FROM (SELECT external_id, min(line) AS first_line FROM candidates GROUP BY external_id HAVING count(*) > 1) d
            JOIN candidates s ON s.external_id = d.external_id AND s.line <> d.first_line""",
            {"repeated": repeated},
        )


async def _repeated_id_hashes(session: AsyncSession) -> list[int]:
    """The 64-bit hashes of the external ids that occur more than once in the file; usually none.

    Grouped by sorting: sorting millions of bigints costs about half of hashing as many texts (measured over
    9.1 million order ids: 4.6 s against 8.6 s). Only the rows with a repeated hash have their ids compared.
    """
    await group_by_sorting(session, True)
    repeated = list(
        await session.scalars(text(
            "SELECT hashtextextended(external_id, 0) FROM staged WHERE external_id IS NOT NULL "
            "GROUP BY 1 HAVING count(*) > 1"
        ))
    )  # fmt: skip
    await group_by_sorting(session, False)
    return repeated


# The company's time zone while an import runs, for `typed` to read: a view's text takes no bound parameters.
ZONE_SETTING = "segmentation.import_time_zone"


async def type_rows(session: AsyncSession, entity: Entity, time_zone: str) -> None:
    """`typed`: a view of the rows without errors, cast to their types; then the checks across fields.

    A time given as a day alone is the start of that day in `time_zone`, the company's: the view reads the zone
    from a setting of this transaction (ZONE_SETTING), which outlives neither the transaction nor the view.

    A view rather than a copy: it leaves out whatever `row_errors` holds when it is read, so the checks
    after this one need not delete from it. `finish` drops it (a temporary view outlives the transaction).
    The rows with errors are left out behind OFFSET 0, which the planner does not push conditions through:
    a condition on a cast value (a check across fields) must never see a refused value, whose cast raises.
    """
    await session.execute(
        text("SELECT set_config(:setting, :zone, true)"), {"setting": ZONE_SETTING, "zone": time_zone}
    )
    columns = ", ".join(_typed_expression(f) for f in entity.fields)
    attributes = ", attributes" if entity.has_attributes else ""
    await session.execute(
        text(f"""
        CREATE TEMP VIEW typed AS SELECT line, {columns}{attributes}
        FROM (SELECT * FROM staged s WHERE NOT EXISTS (SELECT 1 FROM row_errors e WHERE e.line = s.line) OFFSET 0) s""")
    )
    for check in entity.cross_checks:
        await _record(
            session,
            f"SELECT line, {_literal(check.field)}, {_literal(check.message)} FROM typed WHERE NOT ({check.condition})",
        )


def touched_customers_sql(entity: Entity) -> str:
    """SQL selecting the ids of the customers the typed rows belong to (to classify them again)."""
    key = "customer_external_id" if entity.belongs_to_customer else "external_id"
    return f"SELECT c.id FROM {SCHEMA}.customers c JOIN typed t ON c.external_id = t.{key}"


async def finish(session: AsyncSession, job_id: uuid.UUID) -> None:
    """Drop the views over the temporary tables, which go with the transaction (a CSV's `staged` is a view),
    and a CSV's upload table."""
    await session.execute(text("DROP VIEW typed, unchecked"))
    await session.execute(text(
        "DO $$ BEGIN IF EXISTS (SELECT FROM pg_views WHERE viewname = 'staged' AND schemaname LIKE 'pg_temp%') "
        "THEN DROP VIEW staged; END IF; END $$"
    ))  # fmt: skip
    await session.execute(text(f"DROP TABLE IF EXISTS {upload_table(job_id)}"))


async def create_missing_customers(session: AsyncSession) -> int:
    result = await session.execute(
        text(f"""
        INSERT INTO {SCHEMA}.customers (external_id, name, auto_created)
        SELECT DISTINCT customer_external_id, customer_external_id, true FROM typed
        ORDER BY customer_external_id  -- two imports creating the same customers wait for each other in one order
        ON CONFLICT (external_id) DO NOTHING""")
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


# Imports of one entity merge one after another (the lock is held until the import commits): each decides
# what to insert and what to update from what it read, so two at once could insert the same new external id
# (a unique violation) or update rows in different orders (a deadlock). The single-row writers (the PUTs,
# and customers made for a fact) do not take it: if one stores an external id that the merge is about to
# insert, the merge is redone as one INSERT ... ON CONFLICT, which waits for that writer and updates its row.
# A plain insert rather than ON CONFLICT every time: speculative insertion costs about half as much again
# as the insert itself (184,000 new orders: 4.9-5.9 s against 3.4 s, foreign-key checks not counted).
_MERGE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('segmentation.imports.merge'), hashtext(:entity))"


async def merge(session: AsyncSession, entity: Entity) -> tuple[int, int]:
    """Store the typed rows by external id; rows equal to what is stored are left alone. (created, updated)"""
    await session.execute(text(_MERGE_LOCK), {"entity": entity.name})
    try:
        async with session.begin_nested():
            return await _update_and_insert(session, entity)
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) != "23505":  # a unique violation: someone else was first
            raise
    return await _upsert(session, entity)


def _merge_parts(entity: Entity) -> tuple[str, list[str], list[str]]:
    table = f"{SCHEMA}.{entity.name}"
    columns = [column for column, _ in entity.merge]
    sources = [source for _, source in entity.merge]
    return table, columns, sources


def _customer_join(entity: Entity) -> str:
    return f"JOIN {SCHEMA}.customers c ON c.external_id = t.customer_external_id" if entity.belongs_to_customer else ""


async def _update_and_insert(session: AsyncSession, entity: Entity) -> tuple[int, int]:
    """Update the stored rows that differ, insert the new ones; rows equal to what is stored are not written.

    Two statements, each counted by its command tag: counting the rows a statement returned costs a pass over
    them (9.1 million new orders: 1.5 s). The new rows go straight from `typed` into the table, not through a
    CTE: collecting them first costs more than finding the stored ones twice (measured: 205,000 new orders
    merge in the time of a plain INSERT ... SELECT, 0.5-0.9 s less than through a CTE of every row).
    """
    table, columns, sources = _merge_parts(entity)
    join = _customer_join(entity)
    stored = ", ".join(f"o.{c}" for c in columns)
    updated = await session.execute(
        text(f"""
        WITH changed AS MATERIALIZED (
            SELECT o.id AS stored_id, {", ".join(f"{s} AS {c}" for c, s in zip(columns, sources, strict=True))}
            FROM typed t {join} JOIN {table} o ON o.external_id = t.external_id
            WHERE ({stored}) IS DISTINCT FROM ({", ".join(sources)})
        )
        UPDATE {table} AS target SET {", ".join(f"{c} = i.{c}" for c in columns)}, updated_at = now()
        FROM changed i WHERE target.id = i.stored_id""")
    )
    created = await session.execute(
        text(f"""
        INSERT INTO {table} (external_id, {", ".join(columns)})
        SELECT t.external_id, {", ".join(sources)} FROM typed t {join}
        WHERE NOT EXISTS (SELECT 1 FROM {table} o WHERE o.external_id = t.external_id)""")
    )
    return int(created.rowcount), int(updated.rowcount)  # type: ignore[attr-defined]


async def _upsert(session: AsyncSession, entity: Entity) -> tuple[int, int]:
    """The same as one INSERT ... ON CONFLICT DO UPDATE: slower, but safe against any concurrent insert."""
    table, columns, sources = _merge_parts(entity)
    changed = ", ".join(f"target.{c}" for c in columns)
    incoming = ", ".join(f"EXCLUDED.{c}" for c in columns)
    row = (
        await session.execute(
            text(f"""
        WITH merged AS (
            INSERT INTO {table} AS target (external_id, {", ".join(columns)})
            SELECT t.external_id, {", ".join(sources)} FROM typed t {_customer_join(entity)}
            ON CONFLICT (external_id) DO UPDATE
            SET {", ".join(f"{c} = EXCLUDED.{c}" for c in columns)}, updated_at = now()
            WHERE ({changed}) IS DISTINCT FROM ({incoming})
            RETURNING (xmax = 0) AS created
        )
        SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM merged""")
        )
    ).one()
    return int(row[0]), int(row[1])


async def save_errors(session: AsyncSession, job_id: uuid.UUID) -> int:
    """Keep the row errors with the job; returns how many rows were rejected."""
    await session.execute(
        text(
            f"INSERT INTO {SCHEMA}.import_errors (import_id, line, field, message) SELECT :id, line, field, message FROM row_errors"
        ),
        {"id": job_id},
    )
    return int(await session.scalar(text("SELECT count(DISTINCT line) FROM row_errors")) or 0)


async def count_rows(session: AsyncSession, table: str) -> int:
    return int(await session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


async def rows_by_entity_and_status(connection: AsyncConnection) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(entity, status) -> (jobs, rows accepted, rows rejected), over every import job."""
    found = await connection.execute(
        select(
            ImportRow.entity,
            ImportRow.status,
            func.count(),
            func.coalesce(func.sum(ImportRow.rows_accepted), 0),
            func.coalesce(func.sum(ImportRow.rows_rejected), 0),
        ).group_by(ImportRow.entity, ImportRow.status)
    )
    return {(e, s): (int(n), int(ok), int(bad)) for e, s, n, ok, bad in found}
