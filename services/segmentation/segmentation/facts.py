"""What orders, invoices and interactions share: each belongs to a customer, is upserted by the ERP's id
and is shown with the customer's external id instead of ours. Their repositories add only their filters."""

from typing import Any

from pydantic import BaseModel
from sqlalchemy import Row, Select, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.classification.live import reclassify_customer
from segmentation.customers.models import CustomerRow
from segmentation.customers.service import resolve_customer_id
from segmentation.db import Base

_NOT_REPLACED = {"id", "external_id", "created_at", "updated_at"}
# Ours, not the ERP's: the customer as our id (shown by his external id) and derived figures.
_NOT_SHOWN = {"customer_id", "net_cents"}


class CustomerFactTable:
    """The SQL of one table of facts that belong to a customer."""

    def __init__(self, row: type[Base]) -> None:
        self.row: Any = row
        self.columns = row.__table__.columns
        self.replaced = [c.name for c in self.columns if c.name not in _NOT_REPLACED and c.computed is None]

    def select(self) -> Select[Any]:
        """Rows as the API shows them: every column, and the customer's external id instead of our id."""
        shown = [c for c in self.columns if c.name not in _NOT_SHOWN and c.computed is None]
        return select(*shown, CustomerRow.external_id.label("customer_external_id")).join(
            CustomerRow, CustomerRow.id == self.row.customer_id
        )

    async def upsert(self, session: AsyncSession, external_id: str, values: dict[str, Any]) -> bool:
        """Insert or replace by external id in one statement; True when the fact is new."""
        statement = insert(self.row).values(external_id=external_id, **values)
        statement = statement.on_conflict_do_update(
            index_elements=[self.row.external_id],
            set_={**{c: statement.excluded[c] for c in self.replaced}, "updated_at": literal_column("now()")},
        ).returning(literal_column("xmax = 0"))
        return bool((await session.execute(statement)).scalar_one())

    async def get(self, session: AsyncSession, external_id: str) -> Row[Any] | None:
        return (await session.execute(self.select().where(self.row.external_id == external_id))).one_or_none()

    async def page(
        self,
        session: AsyncSession,
        query: Select[Any],
        customer_external_id: str | None,
        after_id: int | None,
        limit: int,
    ) -> list[Row[Any]]:
        """Up to limit + 1 rows of `query` (from `select()`) in id order after `after_id`."""
        if customer_external_id is not None:
            query = query.where(CustomerRow.external_id == customer_external_id)
        if after_id is not None:
            query = query.where(self.row.id > after_id)
        return list((await session.execute(query.order_by(self.row.id).limit(limit + 1))).all())


async def upsert_fact(
    session: AsyncSession,
    table: CustomerFactTable,
    external_id: str,
    data: BaseModel,
    *,
    create_missing_customer: bool,
    stored: dict[str, Any] | None = None,
) -> bool:
    """Store a fact from its PUT body and the columns `stored` derives from it, resolving its customer (a 422
    when unknown, unless it may be created), and classify the customer again so that the profile shows it at
    once."""
    external_customer = data.customer_external_id  # type: ignore[attr-defined]
    customer_id = await resolve_customer_id(session, external_customer, create_missing=create_missing_customer)
    values = data.model_dump(exclude={"customer_external_id"}) | {"customer_id": customer_id} | (stored or {})
    created = await table.upsert(session, external_id, values)
    await reclassify_customer(session, customer_id)
    return created
