"""The company's base currency and its exchange rates: every revenue figure is in the base currency.

An order is converted when it is stored (PUT or import), at the rate configured then, into `net_cents`, the
figure every classification sums: as bookkeeping converts at the transaction's rate, a later change of a rate
does not restate stored orders. An order in a currency without a rate is refused, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from segmentation.company.schemas import CompanySettings
from servicekit.bounds import MAX_AMOUNT


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
        return (f"no exchange rate from {currency} to the base currency {self.base}: add it to exchange_rates "
                "in /v1/segmentation/config, or send the amount in the base currency")  # fmt: skip

    def converted_refusal(self, amount: Decimal, currency: str) -> str | None:
        """Why `amount` in `currency` is too large once converted into the base currency, or None: the
        stored figure must still be an amount (what sums and runs are sized for)."""
        converted = amount * self.rates[currency]
        if converted <= MAX_AMOUNT:
            return None
        return (f"is {converted:,.2f} {self.base} in the base currency, more than the largest amount, "
                f"{MAX_AMOUNT:f}")  # fmt: skip

    @property
    def largest_rate(self) -> Decimal:
        return max(self.rates.values())

    def cents(self, amount: Decimal, currency: str) -> int:
        return int((amount * self.rates[currency] * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def rate_sql(self, currency: str) -> str:
        """SQL: the rate of the currency in the column `currency`, NULL for one without a rate. Codes and rates
        are validated (ISO 4217 letters, decimals), so they are inlined as literals."""
        cases = " ".join(f"WHEN '{code}' THEN {rate}::numeric" for code, rate in sorted(self.rates.items()))
        return f"(CASE {currency} {cases} END)"

    def cents_sql(self, amount: str, currency: str) -> str:
        """SQL: the amount in base-currency cents, rounded half away from zero (as `cents`)."""
        return f"round({amount} * {self.rate_sql(currency)} * 100)::bigint"
