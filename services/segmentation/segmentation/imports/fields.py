"""What each importable entity's rows may hold, and how a valid row is merged into its table.

The same rules as the PUT endpoints, written once more in a form the database checks for a whole file at
once: every field is staged as text and validated set-based, so an import never loops over rows in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from segmentation.types import ISO_4217
from servicekit.bounds import MAX_AMOUNT
from servicekit.sql import SQL, ident

if TYPE_CHECKING:
    from segmentation.money import Money

Kind = Literal[
    "external_id", "text", "amount", "signed_amount", "date", "timestamp", "bool", "enum", "currency", "small_int"
]
EntityName = Literal["customers", "orders", "invoices", "interactions"]


@dataclass(frozen=True)
class Field:
    path: str  # dotted: the CSV header and the place in an NDJSON object ("consent.email")
    kind: Kind
    required: bool = False
    choices: tuple[str, ...] = ()
    max_length: int = 0
    maximum: int = 0
    # Of the values the kind accepts, only these (when given); the others are refused with `narrowed_message`.
    narrowed_to: tuple[str, ...] = ()
    narrowed_message: str = ""

    @property
    def column(self) -> str:
        return self.path.replace(".", "__")

    @property
    def json_path(self) -> str:
        return "{" + ",".join(self.path.split(".")) + "}"


@dataclass(frozen=True)
class CrossCheck:
    """A rule over several valid fields: `condition` (SQL over typed columns) must hold, else `message`."""

    field: str
    condition: SQL
    message: str


@dataclass(frozen=True)
class Entity:
    name: EntityName
    fields: tuple[Field, ...]
    merge: tuple[tuple[str, SQL], ...]  # (column of the table, SQL over typed row t and customer c)
    cross_checks: tuple[CrossCheck, ...] = ()
    has_attributes: bool = False  # a free JSON object; in CSV as attributes.<key> columns
    # (amount, currency): converted into base-currency cents as `net_cents` when merged (segmentation.money)
    converted: tuple[str, str] | None = None

    def priced_in(self, money: Money) -> Entity:
        """The entity as an import with these exchange rates checks and merges it."""
        if self.converted is None:
            return self
        amount, currency = self.converted
        # A field check, not a check across fields: it costs no pass of its own over the file.
        rated = {
            "narrowed_to": tuple(sorted(money.rates)),
            "narrowed_message": f"has no exchange rate to the base currency {money.base} (see exchange_rates in /config)",
        }
        fields = tuple(replace(f, **rated) if f.path == currency else f for f in self.fields)
        cents = ("net_cents", money.cents_sql(SQL("t.") + ident(amount), SQL("t.") + ident(currency)))
        checks = self.cross_checks
        dearer = sorted(code for code, rate in money.rates.items() if rate > 1)
        if dearer:  # only then can a valid amount grow past the largest once converted: a pass over the file
            fits = CrossCheck(
                amount,
                SQL("{currency} NOT IN ({dearer}) OR {amount} * {rate} <= {largest}").format(
                    currency=ident(currency),
                    dearer=SQL(", ").join(dearer),
                    amount=ident(amount),
                    rate=money.rate_sql(ident(currency)),
                    largest=MAX_AMOUNT,
                ),
                f"is more than the largest amount, {MAX_AMOUNT}, once converted into the base currency {money.base}",
            )
            checks = (*checks, fits)
        return replace(self, fields=fields, merge=(*self.merge, cents), cross_checks=checks)

    @property
    def belongs_to_customer(self) -> bool:
        return any(f.path == "customer_external_id" for f in self.fields)

    def field(self, path: str) -> Field | None:
        return next((f for f in self.fields if f.path == path), None)

    @property
    def nested_objects(self) -> dict[str, set[str]]:
        """Objects of an NDJSON line and their allowed keys, e.g. consent -> {email, phone, post}."""
        nested: dict[str, set[str]] = {}
        for f in self.fields:
            if "." in f.path:
                parent, child = f.path.split(".", 1)
                nested.setdefault(parent, set()).add(child)
        return nested

    @property
    def top_level_keys(self) -> set[str]:
        keys = {f.path.split(".", 1)[0] for f in self.fields}
        return keys | ({"attributes"} if self.has_attributes else set())


CURRENCIES = tuple(sorted(ISO_4217))

ENTITIES: dict[str, Entity] = {
    "customers": Entity(
        "customers",
        (
            Field("external_id", "external_id", required=True),
            Field("name", "text", required=True, max_length=300),
            Field("kind", "enum", required=True, choices=("b2b", "b2c")),
            Field("first_contact_on", "date"),
            Field("revenue_potential.amount", "amount"),
            Field("revenue_potential.currency", "currency"),
            Field("key_account", "bool"),
            Field("consent.email", "bool"),
            Field("consent.phone", "bool"),
            Field("consent.post", "bool"),
        ),
        (
            ("name", SQL("t.name")),
            ("kind", SQL("t.kind")),
            ("first_contact_on", SQL("t.first_contact_on")),
            ("revenue_potential", SQL("t.revenue_potential__amount")),
            ("revenue_potential_currency", SQL("t.revenue_potential__currency")),
            ("key_account", SQL("coalesce(t.key_account, false)")),
            ("consent_email", SQL("coalesce(t.consent__email, false)")),
            ("consent_phone", SQL("coalesce(t.consent__phone, false)")),
            ("consent_post", SQL("coalesce(t.consent__post, false)")),
            ("attributes", SQL("coalesce(t.attributes, '{}'::jsonb)")),
            ("auto_created", SQL("false")),
        ),
        (
            CrossCheck(
                "revenue_potential",
                SQL("(revenue_potential__amount IS NULL) = (revenue_potential__currency IS NULL)"),
                "needs both amount and currency, or neither",
            ),
        ),
        has_attributes=True,
    ),
    "orders": Entity(
        "orders",
        (
            Field("external_id", "external_id", required=True),
            Field("customer_external_id", "external_id", required=True),
            Field("ordered_at", "timestamp", required=True),
            Field("net_amount", "amount", required=True),
            Field("currency", "currency", required=True),
            Field("contribution_margin", "signed_amount"),
            Field("status", "enum", choices=("booked", "cancelled", "returned")),
        ),
        (
            ("customer_id", SQL("c.id")),
            ("ordered_at", SQL("t.ordered_at")),
            ("net_amount", SQL("t.net_amount")),
            ("currency", SQL("t.currency")),
            ("contribution_margin", SQL("t.contribution_margin")),
            ("status", SQL("coalesce(t.status, 'booked')")),
        ),
        converted=("net_amount", "currency"),
    ),
    "invoices": Entity(
        "invoices",
        (
            Field("external_id", "external_id", required=True),
            Field("customer_external_id", "external_id", required=True),
            Field("order_external_id", "external_id"),
            Field("issued_on", "date", required=True),
            Field("due_on", "date", required=True),
            Field("paid_on", "date"),
            Field("amount", "amount", required=True),
            Field("currency", "currency", required=True),
            Field("dunning_level", "small_int", maximum=9),
        ),
        (
            ("customer_id", SQL("c.id")),
            ("order_external_id", SQL("t.order_external_id")),
            ("issued_on", SQL("t.issued_on")),
            ("due_on", SQL("t.due_on")),
            ("paid_on", SQL("t.paid_on")),
            ("amount", SQL("t.amount")),
            ("currency", SQL("t.currency")),
            ("dunning_level", SQL("coalesce(t.dunning_level, 0)")),
        ),
        (
            CrossCheck("due_on", SQL("due_on >= issued_on"), "must not be before issued_on"),
            CrossCheck("paid_on", SQL("paid_on IS NULL OR paid_on >= issued_on"), "must not be before issued_on"),
        ),
    ),
    "interactions": Entity(
        "interactions",
        (
            Field("external_id", "external_id", required=True),
            Field("customer_external_id", "external_id", required=True),
            Field(
                "kind",
                "enum",
                required=True,
                choices=("inquiry", "lead", "visit", "call", "meeting", "event", "complaint", "survey", "other"),
            ),
            Field(
                "channel", "enum", required=True, choices=("email", "phone", "post", "visit", "event", "web", "other")
            ),
            Field("occurred_at", "timestamp", required=True),
            Field("resolved_at", "timestamp"),
            Field("subject", "text", max_length=500),
        ),
        (
            ("customer_id", SQL("c.id")),
            ("kind", SQL("t.kind")),
            ("channel", SQL("t.channel")),
            ("occurred_at", SQL("t.occurred_at")),
            ("resolved_at", SQL("t.resolved_at")),
            ("subject", SQL("t.subject")),
        ),
        (
            CrossCheck(
                "resolved_at",
                SQL("resolved_at IS NULL OR resolved_at >= occurred_at"),
                "must not be before occurred_at",
            ),
        ),
    ),
}
