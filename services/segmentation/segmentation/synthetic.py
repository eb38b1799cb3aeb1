"""Synthetic ERP data, deterministic by seed, shaped like a real customer base.

Customers buy at heterogeneous rates and drop out after a purchase with a probability of their own (the
BG/NBD story); order values follow a gamma of a gamma (the Gamma-Gamma story); some customers pay late
and get dunned; some prospects only ever send inquiries; some customers complain. Used for `make run`'s
demo data, the tests and the benchmarks.

    python -m segmentation.synthetic --customers 1000 --seed 7 --out /tmp/demo   # four CSV files

Every column is a numpy array, and the CSV text is formatted column by column (see `_csv`), with no Python
loop per row: a million customers (about nine million orders) take seconds, not minutes.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np

HISTORY_DAYS = 4 * 365
DAY = 86_400  # seconds

# A CSV column: given a slice of rows, its text on those rows as one or more pieces, each an array of
# fixed-width byte strings (one per row). NUL bytes are padding that `_csv` drops, so values vary in length
# and may be empty.
Field = Callable[[slice], list[np.ndarray]]


@dataclass(frozen=True)
class Table:
    """One entity's CSV file as the import endpoint takes it: the header row, then `rows` data rows."""

    content: bytes
    rows: int

    def records(self) -> list[list[str]]:
        """The data rows, parsed (without the header): for looking into small data sets."""
        return list(csv.reader(io.StringIO(self.content.decode())))[1:]


@dataclass(frozen=True)
class Dataset:
    """One CSV file per entity."""

    customers: Table
    orders: Table
    invoices: Table
    interactions: Table

    def entities(self) -> Iterator[tuple[str, Table]]:
        yield from (
            ("customers", self.customers),
            ("orders", self.orders),
            ("invoices", self.invoices),
            ("interactions", self.interactions),
        )


def generate(customers: int, *, seed: int = 1, as_of: date | None = None, orders_per_customer: float = 10.0) -> Dataset:
    """`customers` customers with about `orders_per_customer` orders each (buyers only), up to `as_of`."""
    rng = np.random.default_rng(seed)
    as_of = as_of or date.today()
    start = as_of - timedelta(days=HISTORY_DAYS)  # days below count from here: as_of is day HISTORY_DAYS
    n = customers

    # Customers: a first contact somewhere in the history; 12 % never order (prospects).
    first_contact = rng.integers(0, HISTORY_DAYS, n)
    is_b2b = rng.random(n) < 0.6
    buyer = rng.random(n) >= 0.12
    consent = rng.random((n, 3)) < np.array([0.55, 0.25, 0.7])
    key_account = is_b2b & (rng.random(n) < 0.02)
    has_potential = rng.random(n) < 0.25
    potential = _cents(np.round(rng.gamma(2.0, 15000.0, n), -2))
    region = rng.integers(0, 4, n)
    customer_csv = _csv(
        "external_id,name,kind,first_contact_on,revenue_potential.amount,revenue_potential.currency,key_account,"
        "consent.email,consent.phone,consent.post,attributes.region",
        n,
        [
            _serial("C", pad=7),
            _concat(_text(["Kunde ", "Firma "], is_b2b), _serial()),
            _text(["b2c", "b2b"], is_b2b),
            _date(first_contact, since=start),
            _number(potential, cents=True, present=has_potential),
            _text(["", "EUR"], has_potential),
            _text(_BOOL, key_account),
            *(_text(_BOOL, consent[:, k]) for k in range(3)),
            _text(["north", "south", "east", "west"], region),
        ],
    )

    # Orders: purchase rate ~ Gamma, dropout after each purchase ~ Beta; the first order after first contact.
    buyers = np.flatnonzero(buyer)
    first_order = np.minimum(first_contact[buyers] + rng.integers(0, 60, buyers.size), HISTORY_DAYS - 1)
    rate_per_day = rng.gamma(0.9, orders_per_customer / 0.9 / (HISTORY_DAYS * 0.25), buyers.size)
    dropout = rng.beta(0.6, 9.0, buyers.size)
    purchases_before_dropout = rng.geometric(np.maximum(dropout, 1e-6))
    window = HISTORY_DAYS - first_order
    count = np.maximum(1, np.minimum(purchases_before_dropout, rng.poisson(rate_per_day * window) + 1))
    owner, order_day = _order_days(rng, first_order, rate_per_day, count)  # owner: index into buyers
    seconds = rng.integers(7 * 3600, 19 * 3600, owner.size)
    # Spend per order ~ Gamma(6, rate nu), nu ~ Gamma(3.7, rate 15) across customers, as the Gamma-Gamma model
    # has it (about 33 a purchase on average); businesses spend three times as much.
    spend_rate = rng.gamma(3.7, 1 / 15.0, buyers.size) / np.where(is_b2b[buyers], 3.0, 1.0)
    amount = np.round(rng.gamma(6.0, 1 / spend_rate[owner]), 2) + 1.0
    status = rng.choice(3, owner.size, p=[0.92, 0.05, 0.03])  # booked, cancelled, returned
    margin = _cents(np.round(amount * rng.uniform(0.15, 0.4, owner.size), 2))
    amount = _cents(amount)
    order_customer = buyers[owner] + 1  # the customer's number
    order_csv = _csv(
        "external_id,customer_external_id,ordered_at,net_amount,currency,contribution_margin,status",
        owner.size,
        [
            _serial("O", pad=8),
            _number(order_customer, prefix="C", pad=7),
            _timestamp(order_day, seconds, since=start),
            _number(amount, cents=True),
            _text(["EUR"]),
            _number(margin, cents=True),
            _text(["booked", "cancelled", "returned"], status),
        ],
    )
    del seconds, margin  # arrays of millions of rows at scale: freed as soon as they are written

    # Invoices for booked orders; 80 % of customers pay on time, 15 % late, 5 % very late and get dunned.
    payer = rng.choice(3, buyers.size, p=[0.8, 0.15, 0.05])
    booked = np.flatnonzero(status == 0)
    del status
    lateness = np.select(
        [payer[owner[booked]] == 0, payer[owner[booked]] == 1],
        [rng.integers(-10, 1, booked.size), rng.integers(5, 40, booked.size)],
        rng.integers(45, 95, booked.size),
    )
    issued = order_day[booked] + rng.integers(0, 3, booked.size)
    due = issued + np.where(is_b2b[buyers[owner[booked]]], 30, 14)
    paid = due + lateness
    del owner, order_day
    invoice_csv = _csv(
        "external_id,customer_external_id,order_external_id,issued_on,due_on,paid_on,amount,currency,dunning_level",
        booked.size,
        [
            _serial("R", pad=8),
            _number(order_customer[booked], prefix="C", pad=7),
            _number(booked + 1, prefix="O", pad=8),
            _date(issued, since=start),
            _date(due, since=start),
            _date(paid, since=start, present=paid <= HISTORY_DAYS),  # not paid yet as of as_of
            _number((amount[booked] * 119 + 50) // 100, cents=True),  # gross, 19 % VAT, rounded half up
            _text(["EUR"]),
            _number(np.where(lateness <= 14, 0, np.minimum(3, lateness // 30 + 1))),  # dunning level
        ],
    )

    # Interactions: inquiries and leads from 40 % of prospects, visits and calls, complaints from 5 % of buyers.
    prospects = np.flatnonzero(~buyer & (rng.random(n) < 0.4))
    complainers = buyers[rng.random(buyers.size) < 0.05]
    visited = buyers[rng.random(buyers.size) < 0.2]
    who = np.concatenate([prospects, complainers, visited])
    kind = np.concatenate(
        [np.where(rng.random(prospects.size) < 0.7, 0, 1), np.full(complainers.size, 2), np.full(visited.size, 3)]
    )
    # At 10:00 within a month of the first contact; at midnight on as_of (the end) when that would be later.
    occurred = first_contact[who] + rng.integers(0, 30, who.size)
    second = np.where(occurred < HISTORY_DAYS, 10 * 3600, 0)
    occurred = np.minimum(occurred, HISTORY_DAYS)
    resolved = occurred + rng.integers(1, 20, who.size)
    # 60 % of complaints get resolved; one resolved after as_of is still open as of as_of.
    is_resolved = (kind == 2) & (rng.random(who.size) < 0.6) & (resolved < HISTORY_DAYS)
    interaction_csv = _csv(
        "external_id,customer_external_id,kind,channel,occurred_at,resolved_at,subject",
        who.size,
        [
            _serial("X", pad=8),
            _number(who + 1, prefix="C", pad=7),
            _text(["inquiry", "lead", "complaint", "visit"], kind),
            _text(["web", "web", "phone", "visit"], kind),
            _timestamp(occurred, second, since=start),
            _timestamp(resolved, second, since=start, present=is_resolved),
            _text([""]),
        ],
    )
    return Dataset(customer_csv, order_csv, invoice_csv, interaction_csv)


def _order_days(
    rng: np.random.Generator, first_order: np.ndarray, rate_per_day: np.ndarray, count: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per order, its buyer and its day: each buyer's first order day plus a running sum of exponential gaps
    at the buyer's rate; orders that would fall after the history drop."""
    owner = np.repeat(np.arange(count.size), count)
    gaps = rng.exponential(1.0, owner.size) / rate_per_day[owner]
    first_of_group = np.cumsum(count) - count
    gaps[first_of_group] = 0.0
    cumulative = np.cumsum(gaps)
    day = first_order[owner] + (cumulative - np.repeat(cumulative[first_of_group], count))
    keep = day < HISTORY_DAYS
    return owner[keep], day[keep].astype(np.int64)


def _cents(amount: np.ndarray) -> np.ndarray:
    return np.rint(amount * 100).astype(np.int64)


# Formatting. Numbers are written in 4-digit groups, each a lookup in these tables: _GROUPS[m][v] is v with at
# least m digits (zero-padded), NUL-filled on the left to 4 bytes; a group after a non-zero one shows all four.
_GROUPS = [
    np.array([(f"{v:0{m}d}" if m or v else "").rjust(4, "\0").encode() for v in range(10_000)], dtype="S4")
    for m in range(5)
]
_HUNDREDTHS = np.array([f".{v:02d}".encode() for v in range(100)], dtype="S3")
_BOOL = ["false", "true"]
_CHUNK = 1 << 16  # rows formatted at a time: small enough that the line buffers stay in the CPU cache


def _csv(header: str, rows: int, fields: Sequence[Field]) -> Table:
    """The CSV file. Each chunk of lines is one structured array, a record per line with a record field per
    piece and per separator, so that every piece is copied in one go; then the NUL padding is dropped."""
    out = io.BytesIO()  # grows in place and hands over its buffer without a copy
    out.write(header.encode() + b"\n")
    for start in range(0, rows, _CHUNK):
        chunk = slice(start, min(start + _CHUNK, rows))
        pieces: list[np.ndarray | bytes] = []
        for field in fields:
            pieces += [*field(chunk), b","]
        pieces[-1] = b"\n"
        lines = np.empty(chunk.stop - chunk.start, [(f"f{i}", np.asarray(p).dtype) for i, p in enumerate(pieces)])
        for i, piece in enumerate(pieces):
            lines[f"f{i}"] = piece
        text = lines.view(np.uint8)
        out.write(text[text != 0])
    return Table(out.getvalue(), rows)


def _text(labels: Sequence[str], codes: np.ndarray | None = None) -> Field:
    """labels[codes] per row (booleans pick false/true); with no codes, the one label on every row."""
    table = np.array([label.encode() for label in labels])  # "" is all NULs: an empty field
    if codes is None:
        return lambda rows: [np.broadcast_to(table[0], (rows.stop - rows.start,))]
    return lambda rows: [np.take(table, codes[rows])]


def _concat(*fields: Field) -> Field:
    return lambda rows: [piece for field in fields for piece in field(rows)]


def _number(
    values: np.ndarray, *, cents: bool = False, pad: int = 1, prefix: str = "", present: np.ndarray | None = None
) -> Field:
    """Non-negative integers, with at least `pad` digits; cents as amounts with two decimals. Empty where
    `present` is false."""
    return lambda rows: _blank(_decimal(values[rows], cents=cents, pad=pad, prefix=prefix), present, rows)


def _serial(prefix: str = "", pad: int = 1) -> Field:
    """The row numbers from 1 (an entity's ids), made chunk by chunk rather than held."""
    return lambda rows: _decimal(np.arange(rows.start + 1, rows.stop + 1), cents=False, pad=pad, prefix=prefix)


def _decimal(value: np.ndarray, *, cents: bool, pad: int, prefix: str) -> list[np.ndarray]:
    if cents:
        value, hundredths = np.divmod(value, 100)
    groups = []
    for g in range(-(-max(len(str(value.max(initial=0))), pad) // 4)):
        value, low = np.divmod(value, 10_000)
        leading = min(max(pad - 4 * g, 0), 4)  # the digits the group shows when no non-zero group precedes it
        group = _GROUPS[4][low]
        groups.append(group if leading == 4 else np.where(value > 0, group, _GROUPS[leading][low]))
    pieces = groups[::-1]
    if prefix:
        pieces.insert(0, np.broadcast_to(np.array(prefix.encode()), value.shape))
    if cents:
        pieces.append(_HUNDREDTHS[hundredths])
    return pieces


def _date(days: np.ndarray, *, since: date, present: np.ndarray | None = None) -> Field:
    """ISO dates (YYYY-MM-DD) of days counted from `since`; empty where `present` is false."""
    calendar, first = _calendar(days, since)
    return lambda rows: _blank([calendar[days[rows] - first]], present, rows)


def _timestamp(days: np.ndarray, seconds: np.ndarray, *, since: date, present: np.ndarray | None = None) -> Field:
    """UTC timestamps (YYYY-MM-DDTHH:MM:SSZ) of days counted from `since` and seconds into the day; empty where
    `present` is false."""
    calendar, first = _calendar(days, since)
    return lambda rows: _blank([calendar[days[rows] - first], _clock()[seconds[rows]]], present, rows)


def _calendar(days: np.ndarray, since: date) -> tuple[np.ndarray, int]:
    """Every date from the first to the last of `days`, formatted once, so that a row's date is a lookup."""
    first, last = (int(days.min()), int(days.max())) if days.size else (0, 0)
    dates = np.datetime64(since, "D") + np.arange(first, last + 1)
    return np.datetime_as_string(dates).astype("S10"), first


@cache
def _clock() -> np.ndarray:
    """Every second of a day as "THH:MM:SSZ"."""
    moments = np.datetime_as_string(np.arange(DAY).astype("datetime64[s]"), timezone="UTC").astype("S20")
    return moments.view("S10")[1::2].copy()  # the second halves of "1970-01-01" "THH:MM:SSZ"


def _blank(pieces: list[np.ndarray], present: np.ndarray | None, rows: slice) -> list[np.ndarray]:
    if present is None:
        return pieces
    shown = present[rows]
    return [np.where(shown, piece, np.zeros((), piece.dtype)) for piece in pieces]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m segmentation.synthetic",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--orders-per-customer", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", type=date.fromisoformat, default=None, help="last day of the history")
    parser.add_argument("--out", type=Path, required=True, help="directory for customers.csv, orders.csv, ...")
    args = parser.parse_args(argv)
    dataset = generate(args.customers, seed=args.seed, as_of=args.as_of, orders_per_customer=args.orders_per_customer)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, table in dataset.entities():
        (args.out / f"{name}.csv").write_bytes(table.content)
        print(f"{name}: {table.rows} rows -> {args.out / (name + '.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
