"""The history method, as pure arithmetic on weekly order counts (oldest first):

- forecast: the mean of the last `history_weeks` complete weeks, the same for every week ahead;
- backtest: the same method as if it had run `backtest_weeks` weeks ago (the mean of the `history_weeks`
  weeks before that origin) against the orders actually booked in each week since;
- ABC shares: which part of the recent orders the customers of each ABC class placed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")


def mean(orders: list[int]) -> Decimal:
    return (Decimal(sum(orders)) / len(orders)).quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class Backtest:
    origin: date
    history_weeks: int
    weeks: list[tuple[date, Decimal, int]]  # (week_start, forecast, actual)

    @property
    def mae(self) -> Decimal:
        """Mean absolute error, orders per week."""
        return mean_decimal([abs(forecast - actual) for _, forecast, actual in self.weeks])

    @property
    def bias(self) -> Decimal:
        """Mean of forecast - actual: positive when the method expected too many orders."""
        return mean_decimal([forecast - actual for _, forecast, actual in self.weeks])

    @property
    def wape(self) -> Decimal | None:
        """Absolute errors over actual orders (weighted absolute percentage error); None without orders."""
        actual = sum(actual for _, _, actual in self.weeks)
        if actual == 0:
            return None
        errors = sum(abs(forecast - actual) for _, forecast, actual in self.weeks)
        return (errors / actual).quantize(Decimal("0.0001"), ROUND_HALF_UP)

    def as_json(self) -> dict[str, Any]:
        return {
            "method": "history",
            "origin": self.origin.isoformat(),
            "history_weeks": self.history_weeks,
            "weeks": [{"week_start": w.isoformat(), "forecast": str(f), "actual": a} for w, f, a in self.weeks],
            "mae": str(self.mae),
            "bias": str(self.bias),
            "wape": None if self.wape is None else str(self.wape),
        }


def mean_decimal(values: list[Decimal]) -> Decimal:
    return (sum(values, Decimal(0)) / len(values)).quantize(CENT, ROUND_HALF_UP)


def backtest(first_week: date, orders: list[int], history_weeks: int, backtest_weeks: int) -> Backtest:
    """`orders` per week from `first_week` on: `history_weeks` + `backtest_weeks` of them."""
    assert len(orders) == history_weeks + backtest_weeks
    forecast = mean(orders[:history_weeks])
    origin = first_week + timedelta(weeks=history_weeks)
    weeks = [(origin + timedelta(weeks=i), forecast, actual) for i, actual in enumerate(orders[history_weeks:])]
    return Backtest(origin=origin, history_weeks=history_weeks, weeks=weeks)


def shares(total_orders: int, orders_by_class: dict[str, int]) -> dict[str, Decimal]:
    """Each ABC class's share of the orders; nothing when there were none (the default load applies)."""
    if total_orders == 0:
        return {}
    return {
        abc: min(Decimal(1), (Decimal(orders) / total_orders).quantize(Decimal("0.000001"), ROUND_HALF_UP))
        for abc, orders in orders_by_class.items()
    }
