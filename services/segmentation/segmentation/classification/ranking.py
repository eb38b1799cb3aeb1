"""What a run derives from every customer's figures at once: where the ABC classes and the top N end, and the
medians of revenue and potential in the active base (the value matrix's default splits).

Only customers with revenue take part in ABC and the top N, ranked by revenue; ties go by external id, byte by
byte. A customer is A while the revenue ranked before him is under abc_a_share of the total (B: b_share). Only
the last A, the last B and the last of the top N are needed: each is the one customer where his class ends,
the revenue before him under the share and with his own not (the running sums only grow); with him, how many
customers have his revenue and how many of them rank up to him (where they are fewer, a tie was broken by
external id). The medians are `percentile_cont(0.5)`'s, in exact decimals: the middle value, or half the sum of
the two middle values.

Found by selection rather than by sorting every customer: one pass counts and sums the customers per bucket of
revenue and of potential (logarithmic buckets, 0.2 % wide); the buckets where an end or a median lies follow
from the counts and sums; only the customers of those buckets are fetched and ordered. A bucket only grows
with the value, so the order of the buckets is the order of the values. Where those buckets hold many
customers (many with the same figures), everyone is sorted in Postgres instead (`by_sorting`, which the tests
hold this to).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.sql import SQL

# Customers fetched from the chosen buckets at most; more, and everyone is sorted in Postgres instead.
MOST_FETCHED = 50_000
# Buckets per factor e: the values of a bucket lie within 0.2 % of each other (how many customers the chosen
# buckets hold: docs/benchmarks.md).
BUCKETS_PER_E = 512
_NOT_POSITIVE = SQL("-2147483648")  # -(2**31): the bucket of zero and less, below every other


@dataclass(frozen=True)
class End:
    """The last customer of a class: his revenue and external id; the customers with that revenue (`tied`) and
    those of them ranked up to him, himself included (`tied_through`). Fewer through than tied: a tie at his
    revenue falls into his class and the next, broken by external id."""

    revenue: Decimal
    external_id: str
    tied: int
    tied_through: int


_NO_JOIN = SQL("")


@dataclass(frozen=True)
class Figures:
    """The customers' figures: `every`, a table of features `f` (revenue_12m, external_id, in_active_base),
    joined by `join` to what `potential` (SQL over `f` and the joined) needs."""

    every: SQL
    potential: SQL
    join: SQL = _NO_JOIN


@dataclass(frozen=True)
class CutValues:
    customers: int
    a: End | None  # None: the class is empty (no customer has revenue, or no top N is configured)
    b: End | None
    top_n: End | None
    revenue_median: Decimal | None
    potential_median: Decimal | None

    @property
    def ends(self) -> dict[str, End | None]:
        return {"a": self.a, "b": self.b, "top_n": self.top_n}


def _bucket(value: SQL) -> SQL:
    return SQL("CASE WHEN ({value}) > 0 THEN floor(ln(({value})::float8) * {per_e})::int ELSE {lowest} END").format(
        value=value, per_e=BUCKETS_PER_E, lowest=_NOT_POSITIVE
    )


_REVENUE = SQL("f.revenue_12m")


async def cut_values(
    session: AsyncSession, figures: Figures, a_share: Decimal, b_share: Decimal, top_n: int | None
) -> CutValues:
    per_bucket = SQL("""
        SELECT GROUPING(rb) = 0, coalesce(rb, pb), count(*), count(*) FILTER (WHERE revenue > 0),
               coalesce(sum(revenue) FILTER (WHERE revenue > 0), 0), count(*) FILTER (WHERE active)
        FROM (SELECT {revenue_bucket} AS rb, {potential_bucket} AS pb,
                     f.revenue_12m AS revenue, f.in_active_base AS active
              FROM {every} f {join}) x
        GROUP BY GROUPING SETS ((rb), (pb))""").format(
        revenue_bucket=_bucket(_REVENUE),
        potential_bucket=_bucket(figures.potential),
        every=figures.every,
        join=figures.join,
    )
    rows = (await session.execute(per_bucket.clause)).all()
    by_revenue = sorted((r[1:] for r in rows if r[0]), reverse=True)  # (bucket, all, ranked, revenue, active)
    by_potential = sorted(r[1:] for r in rows if not r[0])
    total = sum((r[3] for r in by_revenue), Decimal(0))
    ranked = sum(r[2] for r in by_revenue)

    # Each end's bucket, where the running sum (for the top N: count) first reaches the end's target, with the
    # revenue and the customers ranked before it.
    targets = {"a": a_share * total, "b": b_share * total}
    if top_n is not None and ranked:
        targets["top_n"] = Decimal(min(top_n, ranked))
    ends: dict[str, tuple[int, Decimal, int]] = {}
    for name, target in targets.items():
        before_revenue, before_count = Decimal(0), 0
        for bucket, _, count, revenue, _ in by_revenue:
            through = before_count + count if name == "top_n" else before_revenue + revenue
            if count and through >= target:
                ends[name] = (bucket, before_revenue, before_count)
                break
            before_revenue, before_count = before_revenue + revenue, before_count + count
    middles = {
        "revenue": _middle_positions([(r[0], r[4]) for r in reversed(by_revenue)]),
        "potential": _middle_positions([(r[0], r[4]) for r in by_potential]),
    }

    revenue_buckets = {end[0] for end in ends.values()} | {b for b, _ in middles["revenue"].values()}
    potential_buckets = {b for b, _ in middles["potential"].values()}
    fetched = sum(r[1] for r in by_revenue if r[0] in revenue_buckets)
    fetched += sum(r[1] for r in by_potential if r[0] in potential_buckets)
    if fetched > MOST_FETCHED:
        return await by_sorting(session, figures, a_share, b_share, top_n)
    in_buckets = SQL("""
        SELECT rb, pb, revenue, external_id, potential, active
        FROM (SELECT {revenue_bucket} AS rb, {potential_bucket} AS pb, f.revenue_12m AS revenue,
                     f.external_id, {potential} AS potential, f.in_active_base AS active
              FROM {every} f {join}) x
        WHERE rb = ANY(CAST(:revenue AS int[])) OR pb = ANY(CAST(:potential AS int[]))""").format(
        revenue_bucket=_bucket(_REVENUE),
        potential_bucket=_bucket(figures.potential),
        potential=figures.potential,
        every=figures.every,
        join=figures.join,
    )
    chosen = {"revenue": sorted(revenue_buckets), "potential": sorted(potential_buckets)}
    members = (await session.execute(in_buckets.clause, chosen)).all()

    found: dict[str, End] = {}
    for name, (bucket, before_revenue, before_count) in ends.items():
        # Highest revenue first, ties by external id byte by byte (COLLATE "C").
        order = sorted(
            ((m[2], m[3]) for m in members if m[0] == bucket and m[2] > 0),
            key=lambda member: (-member[0], member[1].encode()),
        )
        for at, (revenue, external_id) in enumerate(order):
            rank, through = before_count + 1, before_revenue + revenue
            ends_here = (rank == targets[name]) if name == "top_n" else (before_revenue < targets[name] <= through)
            if ends_here:  # every customer with his revenue is in his bucket
                tied = [other for other, _ in order if other == revenue]
                through_him = [other for other, _ in order[: at + 1] if other == revenue]
                found[name] = End(revenue, external_id, len(tied), len(through_him))
                break
            before_count, before_revenue = rank, through
    revenue_values = _values_by_bucket((m[0], m[2]) for m in members if m[5])
    potential_values = _values_by_bucket((m[1], m[4]) for m in members if m[5])
    return CutValues(
        customers=sum(r[1] for r in by_revenue),
        a=found.get("a"),
        b=found.get("b"),
        top_n=found.get("top_n"),
        revenue_median=_median(middles["revenue"], revenue_values),
        potential_median=_median(middles["potential"], potential_values),
    )


def _middle_positions(buckets: list[tuple[int, int]]) -> dict[int, tuple[int, int]]:
    """The middle positions (0-based, lowest value first, as percentile_cont(0.5) takes them) among the active
    customers of (bucket, active customers) lowest first: position -> (its bucket, active customers in lower
    buckets). Empty when no customer is active."""
    active = sum(count for _, count in buckets)
    positions = {(active - 1) // 2, active // 2} if active else set()
    found, below = {}, 0
    for bucket, count in buckets:
        for position in positions:
            if below <= position < below + count:
                found[position] = (bucket, below)
        below += count
    return found


def _values_by_bucket(values: Any) -> dict[int, list[Decimal]]:
    by_bucket: dict[int, list[Decimal]] = {}
    for bucket, value in values:
        by_bucket.setdefault(bucket, []).append(value)
    return {bucket: sorted(found) for bucket, found in by_bucket.items()}


def _median(middle: dict[int, tuple[int, int]], values: dict[int, list[Decimal]]) -> Decimal | None:
    """The value percentile_cont(0.5) interpolates, exactly: the middle one, or half the two middle ones' sum."""
    if not middle:
        return None

    def at(position: int) -> Decimal:
        bucket, below = middle[position]
        return values[bucket][position - below]

    return _middle(at(min(middle)), at(max(middle)))


def _middle(low: Decimal | None, high: Decimal | None) -> Decimal | None:
    if low is None or high is None:
        return None
    return low if low == high else (low + high) / 2


async def by_sorting(
    session: AsyncSession, figures: Figures, a_share: Decimal, b_share: Decimal, top_n: int | None
) -> CutValues:
    """The same values, by sorting every customer in Postgres: a running sum over the ranking; the medians from
    the middle values, the lower and the higher (percentile_disc both ways), as percentile_cont's but exact."""
    medians_and_total = SQL("""
        SELECT {revenue_low}, {revenue_high}, {potential_low}, {potential_high},
               coalesce(sum(f.revenue_12m) FILTER (WHERE f.revenue_12m > 0), 0), count(*)
        FROM {every} f {join}""").format(
        revenue_low=_middle_value(_REVENUE),
        revenue_high=_middle_value(SQL("f.revenue_12m DESC")),
        potential_low=_middle_value(figures.potential),
        potential_high=_middle_value(SQL("{} DESC").format(figures.potential)),
        every=figures.every,
        join=figures.join,
    )
    medians = (await session.execute(medians_and_total.clause)).one()
    total: Decimal = medians[4]
    share_end = SQL("revenue_before < {share} * {total} AND revenue_through >= {share} * {total}")
    ends = {
        "a": share_end.format(share=a_share, total=total),
        "b": share_end.format(share=b_share, total=total),
        # the Nth, or the last when fewer have revenue
        "top_n": SQL("revenue_rank = {n} OR revenue_rank < {n} AND revenue_through = {total}").format(
            n=top_n, total=total
        )
        if top_n is not None
        else SQL("false"),
    }
    lasts = SQL(", ").join(
        SQL("max(revenue_12m) FILTER (WHERE {0}), max(external_id) FILTER (WHERE {0})").format(end)
        for end in ends.values()
    )
    ranking = SQL("""
        SELECT {lasts}
        FROM (SELECT revenue_12m, external_id, revenue_rank, revenue_through - revenue_12m AS revenue_before,
                     revenue_through
              FROM (SELECT revenue_12m, external_id, row_number() OVER w AS revenue_rank,
                           sum(revenue_12m) OVER (w ROWS UNBOUNDED PRECEDING) AS revenue_through
                    FROM {every} f WHERE revenue_12m > 0
                    WINDOW w AS (ORDER BY revenue_12m DESC, external_id COLLATE "C")) sums) ranking""").format(
        lasts=lasts, every=figures.every
    )
    last = (await session.execute(ranking.clause)).one()
    found = {name: (last[2 * i], last[2 * i + 1]) for i, name in enumerate(ends) if last[2 * i] is not None}
    tied = await _tied(session, figures, found)
    a, b, top = (End(*found[n], *tied[n]) if n in found else None for n in ("a", "b", "top_n"))
    revenue_median, potential_median = _middle(medians[0], medians[1]), _middle(medians[2], medians[3])
    return CutValues(medians[5], a, b, top, revenue_median, potential_median)


def _middle_value(order: SQL) -> SQL:
    """The middle value of the active customers in `order` (the lower of two middle ones)."""
    return SQL("percentile_disc(0.5) WITHIN GROUP (ORDER BY {}) FILTER (WHERE f.in_active_base)").format(order)


# The parameters each class end's revenue and last external id are bound as (_tied).
_TIE_PARAMETERS = {
    "a": (SQL(":revenue_a"), SQL(":last_a")),
    "b": (SQL(":revenue_b"), SQL(":last_b")),
    "top_n": (SQL(":revenue_top_n"), SQL(":last_top_n")),
}


async def _tied(
    session: AsyncSession, figures: Figures, ends: dict[str, tuple[Decimal, str]]
) -> dict[str, tuple[int, int]]:
    """Per end (revenue, external id): the customers with that revenue, and those of them up to that id."""
    if not ends:
        return {}
    counts = SQL(", ").join(
        SQL("""count(*) FILTER (WHERE revenue_12m = {revenue}),
            count(*) FILTER (WHERE revenue_12m = {revenue} AND external_id COLLATE "C" <= {last})""").format(
            revenue=_TIE_PARAMETERS[name][0], last=_TIE_PARAMETERS[name][1]
        )
        for name in ends
    )
    params = {f"revenue_{name}": end[0] for name, end in ends.items()} | {
        f"last_{name}": end[1] for name, end in ends.items()
    }
    statement = SQL("SELECT {counts} FROM {every} f").format(counts=counts, every=figures.every)
    row = (await session.execute(statement.clause, params)).one()
    return {name: (row[2 * i], row[2 * i + 1]) for i, name in enumerate(ends)}
