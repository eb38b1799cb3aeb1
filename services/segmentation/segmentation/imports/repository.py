"""All SQL of bulk imports: the job rows, and the set-based staging, checking and merging of a file.

A file is COPYed into a table of text columns (a CSV's: an unlogged table of the import's own; an NDJSON
file's: a temporary one), normalised by the view `staged`, checked field by field into `row_errors`, cast
into `typed`, checked across fields and against the customers, and merged into its table by one statement
that updates the rows that differ and one that inserts the new ones. All of it runs in the caller's
transaction. The statements are composed with servicekit.sql: names through `ident`, values of the file's
own (an attribute's key) and of the company's settings as literals, never spliced.
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
from servicekit.sql import SQL, ident, literal

_WHOLE_DIGITS = len(str(int(MAX_AMOUNT)))
_IMPORTS = ident(SCHEMA, "imports")
_CUSTOMERS = ident(SCHEMA, "customers")

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
_JOB_IS_FREE = SQL("pg_try_advisory_xact_lock(hashtext('segmentation.imports.job'), hashtext(CAST(id AS text)))")
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
    only = SQL("AND id = :job_id") if job_id is not None else SQL("")
    given_up = (
        f"the import was still unfinished after {int(stale_after.total_seconds())} seconds and was given up; "
        "nothing was imported"
    )
    # MATERIALIZED: the lock is tried only for open jobs. A lock taken here is held until this transaction
    # ends; no import can want it, since an import takes its job's lock before the job exists.
    statement = SQL("""
        WITH open AS MATERIALIZED (
            SELECT id, created_at < now() - make_interval(secs => :stale) AS overdue
            FROM {imports} WHERE status IN ('receiving', 'processing') {only}
        ), ended AS (
            SELECT id, overdue FROM open WHERE overdue OR {job_is_free}
        )
        UPDATE {imports} AS job
        SET status = 'failed', finished_at = now(), error = CASE WHEN ended.overdue THEN :given_up ELSE :interrupted END
        FROM ended WHERE job.id = ended.id AND job.status IN ('receiving', 'processing')
        RETURNING job.id""").format(imports=_IMPORTS, only=only, job_is_free=_JOB_IS_FREE)
    result = await session.execute(
        statement.clause,
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

# Cheap shapes first, ranges by substring compare: PostgreSQL's regex engine is slow with bounded repeats
# ({1,128}) and alternations, and these run once per field per row.
_DATE_SHAPE = r"\d{4}-\d\d-\d\d"
_TIME_SHAPE = r"[Tt ]\d\d:\d\d(:\d\d(\.\d{1,6})?)?([Zz]|[+-](0\d|1[0-5]):?[0-5]\d)"
_A_DATE = f"^{_DATE_SHAPE}$"  # regular expressions, as literals
_A_TIME = f"^{_DATE_SHAPE}{_TIME_SHAPE}$"


def _date_in_range(v: SQL) -> SQL:
    """A YYYY-MM-DD prefix names a real day (2026-02-30 does not); never raises."""
    return SQL(
        "substr({v}, 1, 1) <> '0' AND substr({v}, 6, 2) BETWEEN '01' AND '12' AND substr({v}, 9, 2) BETWEEN '01' AND '31'"
        " AND (substr({v}, 9, 2) <= '28'"  # every month has these: the costly month length only for the rest
        " OR substr({v}, 9, 2)::int <= extract(day from make_date(substr({v}, 1, 4)::int, substr({v}, 6, 2)::int, 1)"
        " + interval '1 month - 1 day'))"
    ).format(v=v)


def _in_supported_years(v: SQL) -> SQL:
    # The year of a YYYY-MM-DD... value that passed the shape checks: compared as text, no cast.
    return SQL("WHEN substr({v}, 1, 4) NOT BETWEEN {first} AND {last} THEN {message}").format(
        v=v, first=str(FIRST_YEAR), last=str(LAST_YEAR), message=f"must lie {DATE_RANGE}"
    )


def _day_cases(v: SQL) -> list[SQL]:
    """CASE branches giving the problem with a value of the shape YYYY-MM-DD, or none."""
    in_range = _date_in_range(v)
    return [
        _in_supported_years(v),
        SQL("WHEN NOT ({in_range}) THEN 'is not a day of the calendar'").format(in_range=in_range),
    ]


def _time_in_range(v: SQL) -> SQL:
    return SQL(
        "substr({v}, 12, 2) <= '23' AND substr({v}, 15, 2) <= '59'"
        " AND (substr({v}, 17, 1) <> ':' OR substr({v}, 18, 2) <= '59')"
    ).format(v=v)


_NOT_A_TIME = "must be an RFC 3339 time with a time zone, or a day YYYY-MM-DD"


def _time_cases(v: SQL, input_check: bool) -> list[SQL]:
    """CASE branches giving the problem with a value that is not a day alone as a time, or none."""
    cases = []
    if input_check:
        # The usual shape by its separators, then Postgres's own parser; its 24:00 and leap seconds are not
        # RFC 3339. Which part is wrong is looked for only in rows that are.
        canonical = SQL(
            "(length({v}) = 20 AND substr({v}, 5, 1) = '-' AND substr({v}, 8, 1) = '-' "
            "AND substr({v}, 11, 1) = 'T' AND substr({v}, 20, 1) = 'Z')"
        ).format(v=v)
        cases.append(
            SQL("WHEN NOT ({canonical} OR {v} ~ {shape}) THEN {message}").format(
                canonical=canonical, v=v, shape=_A_TIME, message=_NOT_A_TIME
            )
        )
        cases.append(_in_supported_years(v))
        cases.append(
            SQL(
                "WHEN NOT pg_input_is_valid({v}, 'timestamptz') OR substr({v}, 12, 2) = '24' OR substr({v}, 18, 2) = '60' "
                "THEN CASE WHEN {v} !~ {shape} THEN {message} "
                "WHEN NOT ({in_range}) THEN 'is not a day of the calendar' ELSE 'is not a time of the day' END"
            ).format(v=v, shape=_A_TIME, message=_NOT_A_TIME, in_range=_date_in_range(v))
        )
    else:
        canonical = SQL("(length({v}) = 20 AND translate({v}, '0123456789', '') = '--T::Z')").format(v=v)  # no regex
        cases.append(
            SQL("WHEN NOT ({canonical} OR {v} ~ {shape}) THEN {message}").format(
                canonical=canonical, v=v, shape=_A_TIME, message=_NOT_A_TIME
            )
        )
        cases.append(_in_supported_years(v))
        cases.append(
            SQL("WHEN NOT ({in_range}) THEN 'is not a day of the calendar'").format(in_range=_date_in_range(v))
        )
        cases.append(SQL("WHEN NOT ({in_range}) THEN 'is not a time of the day'").format(in_range=_time_in_range(v)))
    return cases


def _error_expression(f: Field, input_check: bool = False, value: SQL | None = None) -> SQL:
    """SQL giving the problem with field `f` of a staged row (or with the trimmed `value`), or NULL. Never raises.
    `input_check`: the server has pg_input_is_valid (Postgres 16 and newer), which checks a time as a cast
    would, without raising."""
    v = ident(f.column) if value is None else value
    cases = [SQL("WHEN {v} IS NULL THEN {problem}").format(v=v, problem="is required" if f.required else None)]
    if f.kind == "external_id":
        cases.append(
            SQL(
                r"WHEN length({v}) > 128 OR {v} ~ '[\x01-\x1f\x7f/]' THEN 'must be 1-128 characters, no / or control characters'"
            ).format(v=v)
        )
    elif f.kind == "text":
        cases.append(
            SQL("WHEN length({v}) > {most} THEN {message}").format(
                v=v, most=f.max_length, message=f"must be at most {f.max_length} characters"
            )
        )
    elif f.kind in ("amount", "signed_amount"):
        cases.append(
            SQL(
                r"WHEN {v} !~ '^-?[0-9]+(\.[0-9][0-9]?)?$' THEN 'must be a decimal number with at most two places'"
            ).format(v=v)
        )
        # Digits before the point, leading zeros aside: at most those of servicekit.bounds.MAX_AMOUNT.
        low = f"-{MAX_AMOUNT}" if f.kind == "signed_amount" else "0"
        cases.append(
            SQL("WHEN length(ltrim(split_part(ltrim({v}, '-'), '.', 1), '0')) > {digits} THEN {message}").format(
                v=v, digits=_WHOLE_DIGITS, message=f"must be from {low} to {MAX_AMOUNT}"
            )
        )
        if f.kind == "amount":
            cases.append(SQL("WHEN {v} ~ '^-' THEN 'must not be negative'").format(v=v))
    elif f.kind == "date":
        cases.append(SQL("WHEN {v} !~ {shape} THEN 'must be a date YYYY-MM-DD'").format(v=v, shape=_A_DATE))
        cases.extend(_day_cases(v))
    elif f.kind == "timestamp":
        # A day alone is checked as a day; type_rows makes it the start of that day in the company's time zone.
        # Its length first: a regular expression for every time of every row costs the import (docs/benchmarks.md).
        cases.append(
            SQL("WHEN length({v}) = 10 AND {v} ~ {shape} THEN CASE {day_cases} END").format(
                v=v, shape=_A_DATE, day_cases=SQL(" ").join(_day_cases(v))
            )
        )
        cases.extend(_time_cases(v, input_check))
    elif f.kind == "bool":
        cases.append(
            SQL(
                "WHEN lower({v}) NOT IN ('true', 'false', 't', 'f', '1', '0', 'yes', 'no') THEN 'must be true or false'"
            ).format(v=v)
        )
    elif f.kind == "enum":
        cases.append(
            SQL("WHEN {v} NOT IN ({choices}) THEN {message}").format(
                v=v, choices=SQL(", ").join(f.choices), message="must be one of " + ", ".join(f.choices)
            )
        )
    elif f.kind == "currency":
        cases.append(
            SQL("WHEN {v} NOT IN ({codes}) THEN 'is not an ISO 4217 currency code'").format(
                v=v, codes=SQL(", ").join(CURRENCIES)
            )
        )
    elif f.kind == "small_int":
        cases.append(
            SQL("WHEN {v} !~ '^[0-9]{{1,4}}$' OR {v}::int > {maximum} THEN {message}").format(
                v=v, maximum=f.maximum, message=f"must be a whole number from 0 to {f.maximum}"
            )
        )
    if f.narrowed_to:
        cases.append(
            SQL("WHEN {v} NOT IN ({narrowed}) THEN {message}").format(
                v=v, narrowed=SQL(", ").join(f.narrowed_to), message=f.narrowed_message
            )
        )
    return SQL("CASE {cases} END").format(cases=SQL(" ").join(cases))


def _valid_expression(f: Field, input_check: bool = False) -> SQL:
    """SQL over a row of `unchecked` (the values as received, not yet trimmed) that is true only when field `f`
    trimmed passes `_error_expression`, and cheap for the usual values: a row it holds for is not checked in
    detail. It may be stricter (a value it refuses is checked in detail), never laxer. Never NULL, never
    raises. The control characters of external ids are looked for by `_ids_clean`, for all of them at once.
    A value that passes these shapes has no spaces around it, so trimming would not change it."""
    v = ident(f.column)
    needs_no_trim = SQL("{v} <> '' AND {v} NOT LIKE ' %' AND {v} NOT LIKE '% '").format(v=v)
    if f.kind == "external_id":
        check = SQL("{needs_no_trim} AND length({v}) <= 128").format(needs_no_trim=needs_no_trim, v=v)
    elif f.kind == "text":
        check = SQL("length({v}) <= {most}").format(v=v, most=f.max_length)
        if f.required:
            check = SQL("btrim({v}) <> '' AND {check}").format(v=v, check=check)
    elif f.kind in ("amount", "signed_amount"):
        # One regex: each call costs about as much as a cast (the text is converted for the regex engine).
        sign = "-?" if f.kind == "signed_amount" else ""
        check = SQL("{v} ~ {shape} AND length(split_part({v}, '.', 1)) <= {digits}").format(
            v=v, shape=rf"^{sign}[0-9]+(\.[0-9][0-9]?)?$", digits=_WHOLE_DIGITS
        )
    elif f.kind == "date" and input_check:
        check = _valid_day(v)
    elif f.kind == "timestamp" and input_check:
        # The usual shape by LIKE (a fraction of a regex's cost), then Postgres's own parser, as the detailed
        # check does; its 24:00 and leap seconds are refused, the years compared as text. Or a day alone.
        check = SQL(
            "({v} LIKE '____-__-__T__:__:__Z' AND pg_input_is_valid({v}, 'timestamptz')"
            ' AND {v} COLLATE "C" >= {first} AND {v} COLLATE "C" < {after}'
            " AND {v} NOT LIKE '___________24%' AND {v} NOT LIKE '_________________60%')"
            " OR (length({v}) = 10 AND {valid_day})"
        ).format(v=v, first=str(FIRST_YEAR), after=str(LAST_YEAR + 1), valid_day=_valid_day(v))
    elif f.kind in ("enum", "currency"):
        allowed = f.choices if f.kind == "enum" else CURRENCIES
        allowed = tuple(c for c in allowed if c in f.narrowed_to) if f.narrowed_to else allowed
        check = SQL("{v} IN ({allowed})").format(v=v, allowed=SQL(", ").join(allowed)) if allowed else SQL("false")
    else:
        trimmed = SQL("nullif(btrim({v}), '')").format(v=v)
        return SQL("({error}) IS NULL").format(error=_error_expression(f, input_check, value=trimmed))
    if f.narrowed_to and f.kind not in ("enum", "currency"):
        check += SQL(" AND {v} IN ({narrowed})").format(v=v, narrowed=SQL(", ").join(f.narrowed_to))
    template = SQL("({v} IS NOT NULL AND {check})") if f.required else SQL("({v} IS NULL OR ({check}))")
    return template.format(v=v, check=check)


def _valid_day(v: SQL) -> SQL:
    """SQL (Postgres 16 and newer): `v` is a day YYYY-MM-DD of the supported years."""
    return SQL(
        "{v} ~ {shape} AND pg_input_is_valid({v}, 'date')"
        ' AND {v} COLLATE "C" >= {first} AND {v} COLLATE "C" < {after}'
    ).format(v=v, shape=_A_DATE, first=str(FIRST_YEAR), after=str(LAST_YEAR + 1))


def _ids_clean(entity: Entity) -> SQL:
    """SQL: no external id of the row holds a / or a control character. One regex over all of them together."""
    ids = [ident(f.column) for f in entity.fields if f.kind == "external_id"]
    return SQL(r"concat({ids}) !~ '[\x01-\x1f\x7f/]'").format(ids=SQL(", ").join(ids)) if ids else SQL("true")


# The company's time zone while an import runs, for `typed` to read: a view's text takes no bound parameters.
ZONE_SETTING = "segmentation.import_time_zone"

_CASTS = {
    "amount": SQL("{v}::numeric(18, 2)"),
    "signed_amount": SQL("{v}::numeric(18, 2)"),
    "date": SQL("{v}::date"),
    # A day alone: the start of that day in the company's time zone (type_rows), as the PUTs store it.
    "timestamp": SQL(
        "CASE WHEN length({v}) = 10 THEN {v}::date::timestamp AT TIME ZONE current_setting({zone_setting})"
        " ELSE {v}::timestamptz END"
    ),
    "bool": SQL("lower({v}) IN ('true', 't', '1', 'yes')"),
    "small_int": SQL("{v}::smallint"),
}


def _typed_expression(f: Field) -> SQL:
    v = ident(f.column)
    value = _CASTS.get(f.kind, SQL("{v}")).format(v=v, zone_setting=ZONE_SETTING)
    return SQL("{value} AS {v}").format(value=value, v=v)


def upload_table(job_id: uuid.UUID) -> str:
    """The name of the table (in SCHEMA) a CSV file is COPYed into: unlogged rather than temporary, so that the
    checks, which cost more than the COPY itself, can scan it with parallel workers (they cannot read a
    session's temporary tables). Created and dropped in the import's transaction: no other session ever sees
    it, a failure leaves nothing."""
    return f"import_upload_{job_id.hex}"


def _attribute_key(key: str) -> SQL:
    """An attribute's key, from the CSV header, as a text constant, split at each ':' and joined again in SQL:
    inside one literal, SQLAlchemy would take ':name' for a bound parameter and '\\:' for an escaped colon."""
    if ":" not in key:
        return literal(key)
    return SQL("({parts})").format(parts=SQL(" || ':' || ").join(key.split(":")))


async def stage_csv(
    session: AsyncSession, entity: Entity, header: list[str], body: AsyncIterable[bytes], job_id: uuid.UUID
) -> None:
    """COPY a CSV body (after its header line) into `staged`, one text column per header column."""
    attribute_keys = [h.split(".", 1)[1] for h in header if h.startswith("attributes.")]
    upload_columns = [f"c{i}" for i in range(len(header))]
    upload = ident(SCHEMA, upload_table(job_id))
    columns = SQL(", ").join(SQL("{c} text").format(c=ident(c)) for c in upload_columns)
    await session.execute(
        SQL("CREATE UNLOGGED TABLE {upload} (line bigint GENERATED ALWAYS AS IDENTITY (START 2), {columns})")
        .format(upload=upload, columns=columns)
        .clause
    )
    await _copy(session, upload_table(job_id), upload_columns, body, schema=SCHEMA)
    by_header = {h: ident(c) for h, c in zip(header, upload_columns, strict=True)}
    # Each field as received, or none.
    received = {f.column: by_header.get(f.path, SQL("NULL::text")) for f in entity.fields}
    selected = [
        SQL("nullif(btrim({value}), '') AS {column}").format(value=value, column=ident(column))
        for column, value in received.items()
    ]
    if entity.has_attributes:
        pairs = [
            SQL("{key}, nullif({value}, '')").format(key=_attribute_key(k), value=by_header["attributes." + k])
            for k in attribute_keys
        ]
        selected.append(
            SQL("jsonb_strip_nulls(jsonb_build_object({pairs})) AS attributes").format(pairs=SQL(", ").join(pairs))
            if pairs
            else SQL("NULL::jsonb AS attributes")
        )
    # A view, not a table: each field is trimmed where it is read (the checks, then the merge), which costs less
    # than writing every row of a large file once more.
    await session.execute(
        SQL("CREATE TEMP VIEW staged AS SELECT line, {selected} FROM {upload}")
        .format(selected=SQL(", ").join(selected), upload=upload)
        .clause
    )
    unchecked = SQL(", ").join(
        SQL("{value} AS {column}").format(value=value, column=ident(column)) for column, value in received.items()
    )
    await session.execute(
        SQL("CREATE TEMP VIEW unchecked AS SELECT line, {unchecked} FROM {upload}")
        .format(unchecked=unchecked, upload=upload)
        .clause
    )
    await _create_row_errors(session)


async def stage_ndjson(session: AsyncSession, entity: Entity, body: AsyncIterable[bytes]) -> None:
    """COPY NDJSON lines into `staged`: each line parsed as JSON in the database, fields taken by path."""
    await session.execute(
        text("CREATE TEMP TABLE upload (line bigint GENERATED ALWAYS AS IDENTITY, raw text) ON COMMIT DROP")
    )
    # Control characters cannot occur in JSON text, so \x01 and \x02 never split or quote a line.
    await _copy(session, "upload", ["raw"], body, delimiter="\x01", quote="\x02")
    # The line itself is kept only where it is not JSON, to say why (OFFSET 0: each line is parsed once).
    await session.execute(
        SQL(
            "CREATE TEMP TABLE parsed ON COMMIT DROP AS SELECT line, doc, CASE WHEN doc IS NULL THEN raw END AS raw "
            "FROM (SELECT line, raw, {parse_jsonb}(raw) AS doc FROM upload "
            "      WHERE raw IS NOT NULL AND btrim(raw) <> '' OFFSET 0) p"
        )
        .format(parse_jsonb=ident(SCHEMA, "parse_jsonb"))
        .clause
    )
    selected = [
        SQL("nullif(btrim(doc #>> {path}), '') AS {column}").format(path=f.json_path, column=ident(f.column))
        for f in entity.fields
    ]
    if entity.has_attributes:
        selected.append(SQL("doc -> 'attributes' AS attributes"))
    await session.execute(
        SQL(
            "CREATE TEMP TABLE staged ON COMMIT DROP AS SELECT line, {selected} FROM parsed "
            "WHERE jsonb_typeof(doc) = 'object'"
        )
        .format(selected=SQL(", ").join(selected))
        .clause
    )
    await session.execute(text("CREATE TEMP VIEW unchecked AS SELECT * FROM staged"))  # trimmed already
    await _create_row_errors(session)
    # Why a line is not a JSON object, in which field where the problem is in a value: asked only of those lines.
    await _record(
        session,
        SQL("""
        SELECT line, coalesce(CASE WHEN problem.message LIKE 'is not JSON%' THEN NULL ELSE problem.field END, 'line'),
               problem.message
        FROM parsed, {json_line_problem}(raw) AS problem
        WHERE jsonb_typeof(doc) IS DISTINCT FROM 'object' AND (raw IS NULL OR NOT {marked})""").format(
            json_line_problem=ident(SCHEMA, "json_line_problem"), marked=_marked(SQL("raw"))
        ),
    )
    await _record(
        session,
        SQL("""
        SELECT line, key, {message} FROM parsed, jsonb_object_keys(doc) AS key
        WHERE jsonb_typeof(doc) = 'object' AND key NOT IN ({known})""").format(
            message=f"is not a field of {entity.name}", known=SQL(", ").join(sorted(entity.top_level_keys))
        ),
    )
    for parent, children in entity.nested_objects.items():
        await _record(
            session,
            SQL("""
            SELECT line, {parent}, {message} FROM parsed
            WHERE jsonb_typeof(doc -> {parent}) NOT IN ('object', 'null')
            UNION ALL
            SELECT line, {parent} || '.' || key, 'is not a field of ' || {parent} FROM parsed,
                   jsonb_object_keys(CASE jsonb_typeof(doc -> {parent}) WHEN 'object' THEN doc -> {parent} END) AS key
            WHERE key NOT IN ({allowed})""").format(
                parent=parent,
                message=f"must be an object with {', '.join(sorted(children))}",
                allowed=SQL(", ").join(sorted(children)),
            ),
        )
    scalar_checks = SQL(" UNION ALL ").join(
        SQL(
            "SELECT line, {field}, 'must be a single value, not a list or object' FROM parsed "
            "WHERE jsonb_typeof(doc #> {path}) IN ('object', 'array')"
        ).format(field=f.path, path=f.json_path)
        for f in entity.fields
    )
    await _record(session, scalar_checks)
    if entity.has_attributes:
        await _record(
            session,
            SQL("""
            SELECT line, 'attributes', 'must be an object of at most 100 single values' FROM staged
            WHERE attributes IS NOT NULL AND attributes <> 'null'::jsonb AND (
                jsonb_typeof(attributes) <> 'object'
                OR (SELECT count(*) FROM jsonb_each(attributes)) > 100
                OR EXISTS (SELECT 1 FROM jsonb_each(attributes) a WHERE jsonb_typeof(a.value) IN ('object', 'array')))"""),
        )


def _marked(value: SQL) -> SQL:
    """SQL: the text holds a mark of imports.text (a NUL or bytes that were not UTF-8)."""
    return SQL("(strpos({value}, {nul}) > 0 OR strpos({value}, {bad}) > 0)").format(
        value=value, nul=NUL_MARK, bad=BAD_MARK
    )


def _why_marked(value: SQL) -> SQL:
    return SQL(
        "CASE WHEN strpos({value}, {nul}) > 0 THEN 'holds a NUL character, which text cannot hold' "
        "ELSE 'holds bytes that are not UTF-8 text' END"
    ).format(value=value, nul=NUL_MARK)


async def refuse_marked(session: AsyncSession, entity: Entity) -> None:
    """Refuse the staged rows holding a mark of imports.text, naming the field (an attribute by its key); an
    NDJSON line the mark made unparsable as a whole. Only for a file that held any: a pass per field."""
    parts = [
        SQL("SELECT line, {field}, {why} FROM staged WHERE {marked}").format(
            field=f.path, why=_why_marked(ident(f.column)), marked=_marked(ident(f.column))
        )
        for f in entity.fields
    ]
    if entity.has_attributes:
        pair = SQL("a.key || a.value")
        parts.append(
            SQL(
                "SELECT line, 'attributes.' || a.key, {why} FROM staged, "
                "jsonb_each_text(CASE jsonb_typeof(attributes) WHEN 'object' THEN attributes END) AS a "
                "WHERE {marked}"
            ).format(why=_why_marked(pair), marked=_marked(pair))
        )
    if await session.scalar(text("SELECT to_regclass('pg_temp.parsed') IS NOT NULL")):
        raw = SQL("raw")
        parts.append(
            SQL("SELECT line, 'line', {why} FROM parsed WHERE raw IS NOT NULL AND {marked}").format(
                why=_why_marked(raw), marked=_marked(raw)
            )
        )
    await _record(session, SQL(" UNION ALL ").join(parts))


async def _copy(
    session: AsyncSession,
    table: str,
    columns: list[str],
    body: AsyncIterable[bytes],
    schema: str | None = None,
    **options: str,
) -> None:
    """COPY FROM STDIN on the session's own connection (so inside its transaction), streaming the body."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    await driver.copy_to_table(table, schema_name=schema, source=body, columns=columns, format="csv", **options)


async def _create_row_errors(session: AsyncSession) -> None:
    await session.execute(
        text(
            "CREATE TEMP TABLE row_errors (line bigint, field text, message text, PRIMARY KEY (line, field)) ON COMMIT DROP"
        )
    )


async def _record(session: AsyncSession, select_sql: SQL, params: dict[str, Any] | None = None) -> None:
    statement = SQL("INSERT INTO row_errors (line, field, message) {select} ON CONFLICT DO NOTHING")
    await session.execute(statement.format(select=select_sql).clause, params or {})


# --- checking and merging -------------------------------------------------------------------------


async def check_fields(session: AsyncSession, entity: Entity, customers_must_exist: bool) -> None:
    """Every field of every staged row, external ids that repeat within the file and, if `customers_must_exist`,
    the customer a row belongs to."""
    # Every row is tested by the cheap checks (_valid_expression) on the values as received, by parallel workers
    # (a CSV's; an NDJSON file's temporary tables are read by one process); only the rows they refuse are checked
    # field by field, trimmed, into an array of every field's message, unnested (see docs/benchmarks.md).
    input_check = int(await session.scalar(text("SELECT current_setting('server_version_num')"))) >= 160000
    valid = [_ids_clean(entity), *(_valid_expression(f, input_check) for f in entity.fields)]
    customer = customers_must_exist and entity.belongs_to_customer
    # A valid id needs no trimming (_valid_expression), so the customer is found by the id as received.
    join = SQL("")
    if customer:
        join = SQL(
            "LEFT JOIN (SELECT external_id AS customer_key FROM {customers}) c "
            "ON c.customer_key = u.customer_external_id"
        ).format(customers=_CUSTOMERS)
        valid.append(SQL("c.customer_key IS NOT NULL"))
    await favour_parallel_workers(session, True)
    refused = await session.execute(
        SQL("""CREATE TEMP TABLE refused ON COMMIT DROP AS
                 SELECT u.line FROM unchecked u {join} WHERE ({valid}) IS NOT TRUE""")
        .format(join=join, valid=SQL(" AND ").join(valid))
        .clause
    )
    repeated = await _repeated_id_hashes(session)
    await favour_parallel_workers(session, False)
    if refused.rowcount:  # type: ignore[attr-defined]
        unknown_customer = SQL(
            "CASE WHEN NOT EXISTS (SELECT FROM {customers} c "
            "WHERE c.external_id = s.customer_external_id) THEN 'no customer with this external_id' END"
        ).format(customers=_CUSTOMERS)
        messages = [
            SQL("coalesce({error}, {unknown_customer})").format(
                error=_error_expression(f, input_check), unknown_customer=unknown_customer
            )
            if customer and f.path == "customer_external_id"
            else _error_expression(f, input_check)
            for f in entity.fields
        ]
        await _record(
            session,
            SQL("""
            SELECT s.line, e.field, e.message
            FROM (SELECT line, ARRAY[{messages}]::text[] AS messages
                  FROM (SELECT s.* FROM staged s JOIN refused USING (line) OFFSET 0) s) s  -- each field trimmed once
            CROSS JOIN LATERAL unnest(ARRAY[{names}], s.messages) AS e(field, message)
            WHERE e.message IS NOT NULL""").format(
                messages=SQL(", ").join(messages), names=SQL(", ").join(f.path for f in entity.fields)
            ),
        )
    await session.execute(text("DROP TABLE refused"))
    if repeated:
        await _record(
            session,
            SQL("""
            WITH candidates AS MATERIALIZED (
                SELECT line, external_id FROM staged
                WHERE hashtextextended(external_id, 0) = ANY (CAST(:repeated AS bigint[])))
            SELECT s.line, 'external_id', 'appears more than once in this file (first on line ' || d.first_line || ')'
            FROM (SELECT external_id, min(line) AS first_line FROM candidates GROUP BY external_id HAVING count(*) > 1) d
            JOIN candidates s ON s.external_id = d.external_id AND s.line <> d.first_line"""),
            {"repeated": repeated},
        )


async def _repeated_id_hashes(session: AsyncSession) -> list[int]:
    """The 64-bit hashes of the external ids that occur more than once in the file; usually none.

    Grouped by sorting, which costs about half of hashing as many texts (docs/benchmarks.md). Only the rows
    with a repeated hash have their ids compared.
    """
    await group_by_sorting(session, True)
    statement = text(
        "SELECT hashtextextended(external_id, 0) FROM staged WHERE external_id IS NOT NULL "
        "GROUP BY 1 HAVING count(*) > 1"
    )
    repeated = list(await session.scalars(statement))
    await group_by_sorting(session, False)
    return repeated


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
    columns = SQL(", ").join(_typed_expression(f) for f in entity.fields)
    attributes = SQL(", attributes") if entity.has_attributes else SQL("")
    await session.execute(
        SQL("""
        CREATE TEMP VIEW typed AS SELECT line, {columns}{attributes}
        FROM (SELECT * FROM staged s WHERE NOT EXISTS (SELECT 1 FROM row_errors e WHERE e.line = s.line) OFFSET 0) s""")
        .format(columns=columns, attributes=attributes)
        .clause
    )
    for check in entity.cross_checks:
        await _record(
            session,
            SQL("SELECT line, {field}, {message} FROM typed WHERE NOT ({condition})").format(
                field=check.field, message=check.message, condition=check.condition
            ),
        )


def touched_customers_sql(entity: Entity) -> SQL:
    """SQL selecting the ids of the customers the typed rows belong to (to classify them again)."""
    key = SQL("customer_external_id") if entity.belongs_to_customer else SQL("external_id")
    return SQL("SELECT c.id FROM {customers} c JOIN typed t ON c.external_id = t.{key}").format(
        customers=_CUSTOMERS, key=key
    )


async def finish(session: AsyncSession, job_id: uuid.UUID) -> None:
    """Drop the views over the temporary tables, which go with the transaction (a CSV's `staged` is a view),
    and a CSV's upload table."""
    await session.execute(text("DROP VIEW typed, unchecked"))
    await session.execute(
        text(
            "DO $$ BEGIN IF EXISTS (SELECT FROM pg_views WHERE viewname = 'staged' AND schemaname LIKE 'pg_temp%') "
            "THEN DROP VIEW staged; END IF; END $$"
        )
    )
    upload = ident(SCHEMA, upload_table(job_id))
    await session.execute(SQL("DROP TABLE IF EXISTS {upload}").format(upload=upload).clause)


async def create_missing_customers(session: AsyncSession) -> int:
    result = await session.execute(
        SQL("""
        INSERT INTO {customers} (external_id, name, auto_created)
        SELECT DISTINCT customer_external_id, customer_external_id, true FROM typed
        ORDER BY customer_external_id  -- two imports creating the same customers wait for each other in one order
        ON CONFLICT (external_id) DO NOTHING""")
        .format(customers=_CUSTOMERS)
        .clause
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


# Imports of one entity merge one after another (the lock is held until the import commits): each decides
# what to insert and what to update from what it read, so two at once could insert the same new external id
# (a unique violation) or update rows in different orders (a deadlock). The single-row writers (the PUTs,
# and customers made for a fact) do not take it: if one stores an external id that the merge is about to
# insert, the merge is redone as one INSERT ... ON CONFLICT, which waits for that writer and updates its row.
# A plain insert rather than ON CONFLICT every time: speculative insertion costs about half as much again
# as the insert itself (docs/benchmarks.md).
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


def _merge_parts(entity: Entity) -> tuple[SQL, list[SQL], list[SQL]]:
    table = ident(SCHEMA, entity.name)
    columns = [ident(column) for column, _ in entity.merge]
    sources = [source for _, source in entity.merge]
    return table, columns, sources


def _customer_join(entity: Entity) -> SQL:
    if not entity.belongs_to_customer:
        return SQL("")
    return SQL("JOIN {customers} c ON c.external_id = t.customer_external_id").format(customers=_CUSTOMERS)


async def _update_and_insert(session: AsyncSession, entity: Entity) -> tuple[int, int]:
    """Update the stored rows that differ, insert the new ones; rows equal to what is stored are not written.

    Two statements, each counted by its command tag: counting the rows a statement returned costs a pass over
    them. The new rows go straight from `typed` into the table, not through a CTE: collecting them first costs
    more than finding the stored ones twice (docs/benchmarks.md).
    """
    table, columns, sources = _merge_parts(entity)
    join = _customer_join(entity)
    comma = SQL(", ")
    updated = await session.execute(
        SQL("""
        WITH changed AS MATERIALIZED (
            SELECT o.id AS stored_id, {changed}
            FROM typed t {join} JOIN {table} o ON o.external_id = t.external_id
            WHERE ({stored}) IS DISTINCT FROM ({sources})
        )
        UPDATE {table} AS target SET {assignments}, updated_at = now()
        FROM changed i WHERE target.id = i.stored_id""")
        .format(
            changed=comma.join(SQL("{s} AS {c}").format(s=s, c=c) for c, s in zip(columns, sources, strict=True)),
            join=join,
            table=table,
            stored=comma.join(SQL("o.{c}").format(c=c) for c in columns),
            sources=comma.join(sources),
            assignments=comma.join(SQL("{c} = i.{c}").format(c=c) for c in columns),
        )
        .clause
    )
    created = await session.execute(
        SQL("""
        INSERT INTO {table} (external_id, {columns})
        SELECT t.external_id, {sources} FROM typed t {join}
        WHERE NOT EXISTS (SELECT 1 FROM {table} o WHERE o.external_id = t.external_id)""")
        .format(table=table, columns=comma.join(columns), sources=comma.join(sources), join=join)
        .clause
    )
    return int(created.rowcount), int(updated.rowcount)  # type: ignore[attr-defined]


async def _upsert(session: AsyncSession, entity: Entity) -> tuple[int, int]:
    """The same as one INSERT ... ON CONFLICT DO UPDATE: slower, but safe against any concurrent insert."""
    table, columns, sources = _merge_parts(entity)
    comma = SQL(", ")
    statement = SQL("""
        WITH merged AS (
            INSERT INTO {table} AS target (external_id, {columns})
            SELECT t.external_id, {sources} FROM typed t {join}
            ON CONFLICT (external_id) DO UPDATE
            SET {assignments}, updated_at = now()
            WHERE ({stored}) IS DISTINCT FROM ({incoming})
            RETURNING (xmax = 0) AS created
        )
        SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM merged""").format(
        table=table,
        columns=comma.join(columns),
        sources=comma.join(sources),
        join=_customer_join(entity),
        assignments=comma.join(SQL("{c} = EXCLUDED.{c}").format(c=c) for c in columns),
        stored=comma.join(SQL("target.{c}").format(c=c) for c in columns),
        incoming=comma.join(SQL("EXCLUDED.{c}").format(c=c) for c in columns),
    )
    row = (await session.execute(statement.clause)).one()
    return int(row[0]), int(row[1])


async def save_errors(session: AsyncSession, job_id: uuid.UUID) -> int:
    """Keep the row errors with the job; returns how many rows were rejected."""
    statement = SQL(
        "INSERT INTO {import_errors} (import_id, line, field, message) SELECT :id, line, field, message FROM row_errors"
    ).format(import_errors=ident(SCHEMA, "import_errors"))
    await session.execute(statement.clause, {"id": job_id})
    return int(await session.scalar(text("SELECT count(DISTINCT line) FROM row_errors")) or 0)


async def count_rows(session: AsyncSession, table: str) -> int:
    return int(await session.scalar(SQL("SELECT count(*) FROM {table}").format(table=ident(table)).clause) or 0)


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
