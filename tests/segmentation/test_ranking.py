"""A run's ABC ends, top N and medians found by selection are those found by sorting everyone in Postgres, on
figures with ties, zeros, customers outside the active base and external ids that sort differently by byte."""

import random
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from segmentation.classification import ranking
from servicekit.sql import SQL

FIGURES = ranking.Figures(SQL("figures"), SQL("f.potential"))


@pytest.fixture
async def session(db_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_async_engine(db_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with AsyncSession(engine) as session, session.begin():
            await session.execute(
                text("""CREATE TEMP TABLE figures (
                revenue_12m numeric(18, 2), external_id text, in_active_base boolean, potential numeric(18, 2))""")
            )
            yield session
    finally:
        await engine.dispose()


async def fill(session: AsyncSession, rows: list[tuple[Decimal, str, bool, Decimal]]) -> None:
    await session.execute(text("TRUNCATE figures"))
    if rows:
        await session.execute(
            text(
                "INSERT INTO figures SELECT * FROM unnest(CAST(:r AS numeric[]), CAST(:e AS text[]), "
                "CAST(:a AS boolean[]), CAST(:p AS numeric[]))"
            ),
            {
                "r": [r[0] for r in rows],
                "e": [r[1] for r in rows],
                "a": [r[2] for r in rows],
                "p": [r[3] for r in rows],
            },
        )


def money(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(Decimal("0.01"))


def customers(seed: int, n: int, revenues: list[Decimal] | None = None) -> list[tuple[Decimal, str, bool, Decimal]]:
    """`n` customers; revenue drawn from `revenues` (ties) or spread over five orders of magnitude, a fifth
    without revenue; external ids from an alphabet whose byte order differs from a natural one."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        if revenues is not None:
            revenue = rng.choice(revenues)
        else:
            revenue = Decimal(0) if rng.random() < 0.2 else money(10 ** rng.uniform(0, 5))
        external_id = "".join(rng.choice("aZ9Äß-") for _ in range(rng.randint(1, 4))) + f"#{i}"  # unique
        potential = money(rng.uniform(0, 5000)) if rng.random() < 0.7 else revenue
        rows.append((revenue, external_id, rng.random() < 0.6, potential))
    return rows


SHARES = [
    (Decimal("0.80"), Decimal("0.95"), 50),
    (Decimal("0.5"), Decimal("1"), 1),
    (Decimal("0"), Decimal("0.01"), None),
    (Decimal("0.99"), Decimal("1.00"), 100_000),
]


@pytest.mark.parametrize(
    "rows",
    [
        customers(1, 3000),
        customers(2, 2500, revenues=[Decimal("0"), Decimal("10.00"), Decimal("10.01"), Decimal("250.50")]),
        customers(3, 400, revenues=[Decimal("99.99")]),  # one bucket holds every customer with revenue
        customers(4, 1),
        [],
        [(Decimal(0), "A", False, Decimal(0)), (Decimal(0), "B", True, Decimal(0))],  # no revenue at all
    ],
    ids=["spread", "ties", "all-equal", "one", "none", "no-revenue"],
)
async def test_selection_finds_what_sorting_finds(session: AsyncSession, rows: list) -> None:
    await fill(session, rows)
    for a_share, b_share, top_n in SHARES:
        selected = await ranking.cut_values(session, FIGURES, a_share, b_share, top_n)
        sorted_ = await ranking.by_sorting(session, FIGURES, a_share, b_share, top_n)
        assert selected == sorted_, (a_share, b_share, top_n)
    if len(rows) > 100:
        assert selected.a is not None, "the comparison compared something"
        assert selected.revenue_median is not None


async def test_many_customers_in_the_chosen_buckets_are_sorted_in_postgres(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fill(session, customers(5, 2000))
    chosen = await ranking.cut_values(session, FIGURES, Decimal("0.8"), Decimal("0.95"), 10)
    sorted_everyone = []

    async def by_sorting(*args: object) -> ranking.CutValues:
        sorted_everyone.append(args)
        return await original(*args)  # type: ignore[arg-type]

    original = ranking.by_sorting
    monkeypatch.setattr(ranking, "by_sorting", by_sorting)
    monkeypatch.setattr(ranking, "MOST_FETCHED", 0)
    assert await ranking.cut_values(session, FIGURES, Decimal("0.8"), Decimal("0.95"), 10) == chosen
    assert len(sorted_everyone) == 1
