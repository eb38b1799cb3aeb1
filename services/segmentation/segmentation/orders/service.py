"""Orders: upserted by the ERP's id, always belonging to a known (or auto-created) customer."""

from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.company.repository import load_thresholds
from segmentation.facts import upsert_fact
from segmentation.money import Money
from segmentation.orders import repository
from segmentation.orders.errors import OrderNotFound
from segmentation.orders.schemas import Order, OrderFilters, OrderUpsert
from segmentation.types import start_of_day
from servicekit.errors import Unprocessable
from servicekit.pagination import Page, decode_id_cursor, id_page


def to_schema(row: Row[Any]) -> Order:
    return Order.model_validate(row._mapping)


async def upsert_order(
    session: AsyncSession, external_id: str, data: OrderUpsert, *, create_missing_customer: bool
) -> tuple[Order, bool]:
    thresholds = await load_thresholds(session)
    money = Money.of(thresholds)
    if refusal := money.refusal(data.currency):
        raise Unprocessable(refusal, field=["body", "currency"])
    if refusal := money.converted_refusal(data.net_amount, data.currency):
        raise Unprocessable(refusal, field=["body", "net_amount"], error_type="out_of_range")
    data = data.model_copy(update={"ordered_at": start_of_day(data.ordered_at, thresholds.zone)})
    created = await upsert_fact(
        session, repository.facts, external_id, data, create_missing_customer=create_missing_customer,
        stored={"net_cents": money.cents(data.net_amount, data.currency)},
    )  # fmt: skip
    return await get_order(session, external_id), created


async def get_order(session: AsyncSession, external_id: str) -> Order:
    found = await repository.facts.get(session, external_id)
    if found is None:
        raise OrderNotFound(external_id)
    return to_schema(found)


async def list_orders(session: AsyncSession, filters: OrderFilters, cursor: str | None, limit: int) -> Page[Order]:
    rows = await repository.list_page(session, filters, decode_id_cursor(cursor), limit)
    return id_page(rows, limit, to_schema)
