"""Rules of the customers domain: mapping between the API shape and rows, paging."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.classification.live import reclassify_customer
from segmentation.customers import repository
from segmentation.customers.errors import CustomerNotFound
from segmentation.customers.models import CustomerRow
from segmentation.customers.schemas import Customer, CustomerFilters, CustomerUpsert
from servicekit.errors import Unprocessable
from servicekit.pagination import Page, decode_id_cursor, id_page


def _row_values(data: CustomerUpsert) -> dict[str, Any]:
    potential = data.revenue_potential
    return {
        "name": data.name,
        "kind": data.kind,
        "first_contact_on": data.first_contact_on,
        "revenue_potential": potential.amount if potential else None,
        "revenue_potential_currency": potential.currency if potential else None,
        "key_account": data.key_account,
        "consent_email": data.consent.email,
        "consent_phone": data.consent.phone,
        "consent_post": data.consent.post,
        "attributes": data.attributes,
        "auto_created": False,  # the ERP has sent the customer now
    }


def to_schema(row: CustomerRow) -> Customer:
    potential = (
        {"amount": row.revenue_potential, "currency": row.revenue_potential_currency}
        if row.revenue_potential is not None
        else None
    )
    return Customer.model_validate(
        {
            "external_id": row.external_id,
            "name": row.name,
            "kind": row.kind,
            "first_contact_on": row.first_contact_on,
            "revenue_potential": potential,
            "key_account": row.key_account,
            "consent": {"email": row.consent_email, "phone": row.consent_phone, "post": row.consent_post},
            "attributes": row.attributes,
            "auto_created": row.auto_created,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


async def upsert_customer(session: AsyncSession, external_id: str, data: CustomerUpsert) -> tuple[Customer, bool]:
    row, created = await repository.upsert(session, external_id, _row_values(data))
    await reclassify_customer(session, row.id)  # key-account flag and potential feed the classifications
    return to_schema(row), created


async def get_customer(session: AsyncSession, external_id: str) -> Customer:
    row = await repository.get_by_external_id(session, external_id)
    if row is None:
        raise CustomerNotFound(external_id)
    return to_schema(row)


async def list_customers(
    session: AsyncSession, filters: CustomerFilters, cursor: str | None, limit: int
) -> Page[Customer]:
    after_id = decode_id_cursor(cursor)
    rows = await repository.list_page(session, filters, after_id, limit)
    return id_page(rows, limit, to_schema)


async def resolve_customer_id(session: AsyncSession, external_id: str, *, create_missing: bool = False) -> int:
    """The id of the customer a fact belongs to; a 422 naming the field when there is none."""
    customer_id = await repository.id_for_external_id(session, external_id, create_missing=create_missing)
    if customer_id is None:
        raise Unprocessable(
            f"No customer with external_id {external_id!r}; send the customer first, or pass "
            "create_missing_customer=true to create it from this fact.",
            field=["body", "customer_external_id"],
            error_type="unknown_customer",
        )
    return customer_id
