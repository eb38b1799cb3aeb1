"""Synthetic ERP data, deterministic by seed, shaped like a real customer base.

Customers buy at heterogeneous rates and drop out after a purchase with a probability of their own (the
BG/NBD story); order values follow a gamma of a gamma (the Gamma-Gamma story); some customers pay late
and get dunned; some prospects only ever send inquiries; some customers complain. Used for `make run`'s
demo data, the tests and the benchmarks.

    python -m segmentation.synthetic --customers 1000 --seed 7 --out /tmp/demo   # four CSV files
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

HISTORY_DAYS = 4 * 365


@dataclass(frozen=True)
class Dataset:
    """Rows per entity, each a list of CSV rows whose first row is the import header."""

    customers: list[list[str]]
    orders: list[list[str]]
    invoices: list[list[str]]
    interactions: list[list[str]]

    def entities(self) -> Iterator[tuple[str, list[list[str]]]]:
        yield from (("customers", self.customers), ("orders", self.orders),
                    ("invoices", self.invoices), ("interactions", self.interactions))  # fmt: skip


def generate(customers: int, *, seed: int = 1, as_of: date | None = None, orders_per_customer: float = 10.0) -> Dataset:
    """`customers` customers with about `orders_per_customer` orders each (buyers only), up to `as_of`."""
    rng = np.random.default_rng(seed)
    as_of = as_of or date.today()
    start = as_of - timedelta(days=HISTORY_DAYS)
    n = customers
    ids = np.array([f"C{i:07d}" for i in range(1, n + 1)])

    # Customers: a first contact somewhere in the history; 12 % never order (prospects).
    first_contact = rng.integers(0, HISTORY_DAYS, n)
    is_b2b = rng.random(n) < 0.6
    buyer = rng.random(n) >= 0.12
    consent = rng.random((n, 3)) < np.array([0.55, 0.25, 0.7])
    key_account = is_b2b & (rng.random(n) < 0.02)
    has_potential = rng.random(n) < 0.25
    potential = np.round(rng.gamma(2.0, 15000.0, n), -2)
    customer_rows = [["external_id", "name", "kind", "first_contact_on", "revenue_potential.amount",
                      "revenue_potential.currency", "key_account", "consent.email", "consent.phone", "consent.post",
                      "attributes.region"]]  # fmt: skip
    regions = np.array(["north", "south", "east", "west"])[rng.integers(0, 4, n)]
    for i in range(n):
        customer_rows.append([
            ids[i], f"{'Firma' if is_b2b[i] else 'Kunde'} {i + 1}", "b2b" if is_b2b[i] else "b2c",
            (start + timedelta(days=int(first_contact[i]))).isoformat(),
            f"{potential[i]:.2f}" if has_potential[i] else "", "EUR" if has_potential[i] else "",
            _bool(key_account[i]), _bool(consent[i, 0]), _bool(consent[i, 1]), _bool(consent[i, 2]), regions[i],
        ])  # fmt: skip

    # Orders: purchase rate ~ Gamma, dropout after each purchase ~ Beta; the first order after first contact.
    buyers = np.flatnonzero(buyer)
    first_order = np.minimum(first_contact[buyers] + rng.integers(0, 60, buyers.size), HISTORY_DAYS - 1)
    rate_per_day = rng.gamma(0.9, orders_per_customer / 0.9 / (HISTORY_DAYS * 0.25), buyers.size)
    dropout = rng.beta(0.6, 9.0, buyers.size)
    purchases_before_dropout = rng.geometric(np.maximum(dropout, 1e-6))
    window = HISTORY_DAYS - first_order
    count = np.maximum(1, np.minimum(purchases_before_dropout, rng.poisson(rate_per_day * window) + 1))
    owner = np.repeat(np.arange(buyers.size), count)
    gaps = rng.exponential(1.0, owner.size) / rate_per_day[owner]
    first_of_group = np.r_[0, np.cumsum(count)[:-1]]
    gaps[first_of_group] = 0.0
    cumulative = np.cumsum(gaps)
    offset = cumulative - np.repeat(cumulative[first_of_group], count)
    day = first_order[owner] + offset
    keep = day < HISTORY_DAYS
    owner, day = owner[keep], day[keep]
    seconds = rng.integers(7 * 3600, 19 * 3600, owner.size)
    mean_spend = rng.gamma(6.0, rng.gamma(3.7, 15.0, buyers.size) / 6.0) * np.where(is_b2b[buyers], 8.0, 1.0)
    amount = np.round(rng.gamma(6.0, mean_spend[owner] / 6.0), 2) + 1.0
    status = np.array(["booked", "cancelled", "returned"])[rng.choice(3, owner.size, p=[0.92, 0.05, 0.03])]
    margin = np.round(amount * rng.uniform(0.15, 0.4, owner.size), 2)
    order_rows = [["external_id", "customer_external_id", "ordered_at", "net_amount", "currency",
                   "contribution_margin", "status"]]  # fmt: skip
    base = datetime(start.year, start.month, start.day, tzinfo=UTC)
    ordered_at = [base + timedelta(days=int(d), seconds=int(s)) for d, s in zip(day, seconds, strict=True)]
    for j in range(owner.size):
        order_rows.append([f"O{j + 1:08d}", ids[buyers[owner[j]]], ordered_at[j].strftime("%Y-%m-%dT%H:%M:%SZ"),
                           f"{amount[j]:.2f}", "EUR", f"{margin[j]:.2f}", status[j]])  # fmt: skip

    # Invoices for booked orders; 80 % of customers pay on time, 15 % late, 5 % very late and get dunned.
    payer = rng.choice(3, buyers.size, p=[0.8, 0.15, 0.05])
    invoice_rows = [["external_id", "customer_external_id", "order_external_id", "issued_on", "due_on", "paid_on",
                     "amount", "currency", "dunning_level"]]  # fmt: skip
    booked = np.flatnonzero(status == "booked")
    lateness = np.select(
        [payer[owner[booked]] == 0, payer[owner[booked]] == 1],
        [rng.integers(-10, 1, booked.size), rng.integers(5, 40, booked.size)],
        rng.integers(45, 95, booked.size),
    )
    issue_delay = rng.integers(0, 3, booked.size)
    for k, j in enumerate(booked):
        issued = ordered_at[j].date() + timedelta(days=int(issue_delay[k]))
        due = issued + timedelta(days=30 if is_b2b[buyers[owner[j]]] else 14)
        paid = due + timedelta(days=int(lateness[k]))
        dunning = 0 if lateness[k] <= 14 else min(3, int(lateness[k]) // 30 + 1)
        invoice_rows.append([f"R{k + 1:08d}", ids[buyers[owner[j]]], f"O{j + 1:08d}", issued.isoformat(),
                             due.isoformat(), paid.isoformat() if paid <= as_of else "", f"{amount[j] * 1.19:.2f}",
                             "EUR", str(dunning)])  # fmt: skip

    # Interactions: inquiries and leads from 40 % of prospects, visits and calls, complaints from 5 % of buyers.
    interaction_rows = [["external_id", "customer_external_id", "kind", "channel", "occurred_at", "resolved_at",
                         "subject"]]  # fmt: skip
    prospects = np.flatnonzero(~buyer & (rng.random(n) < 0.4))
    complainers = buyers[rng.random(buyers.size) < 0.05]
    visited = buyers[rng.random(buyers.size) < 0.2]
    events = [(i, "inquiry" if rng.random() < 0.7 else "lead", "web") for i in prospects]
    events += [(i, "complaint", "phone") for i in complainers] + [(i, "visit", "visit") for i in visited]
    for m, (i, kind, channel) in enumerate(events):
        occurred = base + timedelta(days=int(first_contact[i]) + int(rng.integers(0, 30)), hours=10)
        occurred = min(occurred, datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC))
        resolved = (
            occurred + timedelta(days=int(rng.integers(1, 20))) if kind == "complaint" and rng.random() < 0.6 else None
        )
        interaction_rows.append([f"X{m + 1:08d}", ids[i], kind, channel, occurred.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                 resolved.strftime("%Y-%m-%dT%H:%M:%SZ") if resolved else "", ""])  # fmt: skip
    return Dataset(customer_rows, order_rows, invoice_rows, interaction_rows)


def _bool(value: object) -> str:
    return "true" if value else "false"


def to_csv(rows: list[list[str]]) -> bytes:
    """One CSV file (header first), as the import endpoint takes it."""
    lines = []
    writer = csv.writer(_Collector(lines), lineterminator="\n")
    writer.writerows(rows)
    return "".join(lines).encode()


class _Collector:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def write(self, line: str) -> None:
        self.lines.append(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segmentation.synthetic", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--orders-per-customer", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", type=date.fromisoformat, default=None, help="last day of the history")
    parser.add_argument("--out", type=Path, required=True, help="directory for customers.csv, orders.csv, ...")
    args = parser.parse_args(argv)
    dataset = generate(args.customers, seed=args.seed, as_of=args.as_of, orders_per_customer=args.orders_per_customer)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in dataset.entities():
        (args.out / f"{name}.csv").write_bytes(to_csv(rows))
        print(f"{name}: {len(rows) - 1} rows -> {args.out / (name + '.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
