"""SQL composed with servicekit.sql: every value reaches Postgres as the same value, never as SQL of its own."""

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from servicekit.settings import async_database_url
from servicekit.sql import SQL, ident, literal


@pytest.fixture
async def session(db_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_async_engine(async_database_url(db_url))
    try:
        async with AsyncSession(engine) as session, session.begin():
            yield session
    finally:
        await engine.dispose()


HOSTILE_TEXTS = [
    "O'Brien",
    "'; DROP TABLE x; --",
    "back\\slash\\'",
    "$$ dollar $$",
    "Ünïcødé ✓ 𝄞",
    "-- comment",
    "/* open comment",
    "",
    "'",
    "''",
]


@pytest.mark.parametrize("value", HOSTILE_TEXTS)
async def test_a_text_reaches_postgres_as_itself(session: AsyncSession, value: str) -> None:
    statement = SQL("SELECT {v}, 1").format(v=value)
    assert tuple((await session.execute(statement.clause)).one()) == (value, 1)


@pytest.mark.parametrize(
    "value",
    [
        0,
        -1,
        2**62,
        -(2**62),
        Decimal("63.275"),
        Decimal("-0.01"),
        Decimal("1E+3"),
        Decimal("12345678901234567.89"),
        0.1,
        -2.5e-300,
        True,
        False,
        dt.date(1900, 1, 1),
        dt.date(2099, 12, 31),
        dt.datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.UTC),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
    ],
    ids=repr,
)
async def test_a_value_reaches_postgres_as_itself(session: AsyncSession, value: object) -> None:
    found = await session.scalar(SQL("SELECT {v}").format(v=value).clause)
    assert found == value
    assert isinstance(found, type(value)) or isinstance(value, dt.datetime | uuid.UUID), "of its type"


async def test_null(session: AsyncSession) -> None:
    assert await session.scalar(SQL("SELECT {v} IS NULL").format(v=None).clause) is True


async def test_a_negative_number_after_a_minus_is_still_a_number(session: AsyncSession) -> None:
    # Spliced as text, `10 -{v}` with -1 would read `10 --1`: a comment, leaving `SELECT 10`.
    assert await session.scalar(SQL("SELECT 10 -{v}").format(v=-1).clause) == 11
    assert await session.scalar(SQL("SELECT 10 -{v}").format(v=Decimal("-1.5")).clause) == Decimal("11.5")


async def test_a_name_is_quoted_whatever_it_holds(session: AsyncSession) -> None:
    name = 'odd "name"; DROP TABLE x'
    await session.execute(SQL("CREATE TEMP TABLE {t} ({c} int)").format(t=ident(name), c=ident("select")).clause)
    await session.execute(SQL("INSERT INTO {t} VALUES (7)").format(t=ident(name)).clause)
    assert await session.scalar(SQL("SELECT {c} FROM {t}").format(t=ident(name), c=ident("select")).clause) == 7


def test_pieces_are_inserted_as_they_are_and_values_as_literals() -> None:
    table = ident("segmentation", "orders")
    condition = SQL("day >= {since}").format(since=dt.date(2026, 1, 1))
    statement = SQL("SELECT count(*) FROM {table} WHERE {condition} AND x = {}").format(
        "it's", table=table, condition=condition
    )
    assert str(statement) == (
        "SELECT count(*) FROM \"segmentation\".\"orders\" WHERE day >= DATE '2026-01-01' AND x = 'it''s'"
    )
    assert str(SQL(", ").join([ident("a"), SQL("b + 1"), 2])) == '"a", b + 1, 2'
    assert str(SQL("ARRAY[{{1,2}}]")) == "ARRAY[{{1,2}}]", "the text is kept as written until formatted"
    assert str(SQL("'{{1,2}}' = {v}").format(v=1)) == "'{1,2}' = 1", "doubled braces are braces once formatted"


@pytest.mark.parametrize(
    ("value", "refusal"),
    [
        ("a\x00b", "NUL"),
        ("10 :name", "bind"),
        ("a\\:", "bind"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (Decimal("NaN"), "finite"),
        (dt.datetime(2026, 1, 1, 12, 0), "time zone"),
        (object(), "no SQL literal"),
    ],
    ids=repr,
)
def test_values_postgres_would_not_read_back_are_refused(value: object, refusal: str) -> None:
    with pytest.raises((ValueError, TypeError), match=refusal):
        literal(value)


@pytest.mark.parametrize("name", ["", "a\x00", "x:y", "x\\:"])
def test_names_that_cannot_be_quoted_safely_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a name"):
        ident(name)


def test_a_placeholder_may_not_format_its_value() -> None:
    with pytest.raises(ValueError, match="format spec"):
        SQL("SELECT {v:>10}").format(v=1)
