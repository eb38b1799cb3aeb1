"""orders: the covering index per customer and order time becomes one per customer and calendar day in the
company's time zone (segmentation.orderdays.index), which runs read without sorting the orders' days

Built for the time zone of the thresholds stored now; the service builds another zone's when the zone changes.

Revision ID: 20261123_11
Revises: 20261123_10
Create Date: 2026-11-23
"""

import hashlib

from alembic import op
from sqlalchemy import text

from servicekit.sql import SQL, ident

revision = "20261123_11"
down_revision = "20261123_10"
branch_labels = None
depends_on = None

SCHEMA = "segmentation"
PREFIX = "ix_orders_customer_day_"


def upgrade() -> None:
    query = SQL("SELECT thresholds->>'time_zone' FROM {schema}.settings WHERE id = 1").format(schema=ident(SCHEMA))
    zone = op.get_bind().scalar(query.clause) or "UTC"  # an IANA name, checked when it was stored
    name = PREFIX + hashlib.sha256(zone.encode()).hexdigest()[:12]  # as day_index.index_name
    create = SQL(
        "CREATE INDEX {name} ON {schema}.orders (customer_id, ((ordered_at AT TIME ZONE {zone})::date)) "
        "INCLUDE (ordered_at, status, net_cents)"
    ).format(name=ident(name), schema=ident(SCHEMA), zone=zone)
    op.execute(create.clause)
    op.drop_index("ix_orders_customer_id_ordered_at", "orders", schema=SCHEMA)


def downgrade() -> None:
    op.create_index(
        "ix_orders_customer_id_ordered_at",
        "orders",
        ["customer_id", "ordered_at"],
        postgresql_include=["status", "net_cents"],
        schema=SCHEMA,
    )
    names = op.get_bind().scalars(
        text("SELECT indexname FROM pg_indexes WHERE schemaname = :schema AND starts_with(indexname, :prefix)"),
        {"schema": SCHEMA, "prefix": PREFIX},
    )
    for name in names.all():
        op.drop_index(name, "orders", schema=SCHEMA)
