"""The company's base currency and its exchange rates: every revenue figure is in the base currency.

An order is converted when it is stored (PUT or import), at the rate configured then, into `net_cents`, the
figure every classification sums: as bookkeeping converts at the transaction's rate, a later change of a rate
does not restate stored orders. An order in a currency without a rate is refused, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import LiteralString

from segmentation.company.schemas import CompanySettings
from servicekit.bounds import MAX_AMOUNT
from servicekit.sql import SQL


@dataclass(frozen=True)
class Money:
    base: str
    rates: dict[str, Decimal]  # units of the base currency per unit of the currency

    @classmethod
    def of(cls, settings: CompanySettings) -> Money:
        return cls(settings.base_currency, {**settings.exchange_rates, settings.base_currency: Decimal(1)})

    def refusal(self, currency: str) -> str | None:
        """Why an amount in `currency` cannot be stored, or None."""
        if currency in self.rates:
            return None
        return (
            f"no exchange rate from {currency} to the base currency {self.base}: add it to exchange_rates "
            "in /v1/segmentation/config, or send the amount in the base currency"
        )

    def converted_refusal(self, amount: Decimal, currency: str) -> str | None:
        """Why `amount` in `currency` is too large once converted into the base currency, or None: the
        stored figure must still be an amount (what sums and runs are sized for)."""
        converted = amount * self.rates[currency]
        if converted <= MAX_AMOUNT:
            return None
        return f"is {converted:,.2f} {self.base} in the base currency, more than the largest amount, {MAX_AMOUNT:f}"

    @property
    def largest_rate(self) -> Decimal:
        return max(self.rates.values())

    def cents(self, amount: Decimal, currency: str) -> int:
        return int((amount * self.rates[currency] * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def rate_sql(self, currency: SQL | LiteralString) -> SQL:
        """SQL: the rate of the currency in the column `currency` (SQL, or a column's name as written in the code),
        NULL for one without a rate. The codes and rates are literals, so that the piece needs no parameters of
        its own in whatever statement it goes into."""
        column = currency if isinstance(currency, SQL) else SQL(currency)
        cases = SQL(" ").join(
            SQL("WHEN {code} THEN {rate}").format(code=code, rate=rate) for code, rate in sorted(self.rates.items())
        )
        return SQL("(CASE {column} {cases} END)").format(column=column, cases=cases)

    def cents_sql(self, amount: SQL, currency: SQL) -> SQL:
        """SQL: the amount in base-currency cents, rounded half away from zero (as `cents`)."""
        return SQL("round({amount} * {rate} * 100)::bigint").format(amount=amount, rate=self.rate_sql(currency))
