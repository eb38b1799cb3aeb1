"""create orders, invoices, interactions; customers created from an order

Revision ID: 20261123_02
Revises: 20261123_01
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "20261123_02"
down_revision = "20261123_01"
branch_labels = None
depends_on = None

SCHEMA = "segmentation"


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def _customer_id() -> sa.Column:
    return sa.Column("customer_id", sa.BigInteger, sa.ForeignKey(f"{SCHEMA}.customers.id"), nullable=False)


def upgrade() -> None:
    # A customer made by an order for an id the ERP has not sent yet: no kind until the ERP sends it.
    op.add_column(
        "customers", sa.Column("auto_created", sa.Boolean, nullable=False, server_default=sa.false()), schema=SCHEMA
    )
    op.alter_column("customers", "kind", nullable=True, schema=SCHEMA)
    op.create_check_constraint(
        "kind_known_unless_auto_created", "customers", "kind IS NOT NULL OR auto_created", schema=SCHEMA
    )

    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("external_id", sa.Text, nullable=False),
        _customer_id(),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("net_amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("contribution_margin", sa.Numeric(18, 2)),
        sa.Column("status", sa.Text, nullable=False, server_default="booked"),
        *_timestamps(),
        sa.CheckConstraint("status IN ('booked', 'cancelled', 'returned')", name="status"),
        sa.CheckConstraint("net_amount >= 0", name="net_amount_not_negative"),
        sa.UniqueConstraint("external_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_orders_customer_id_ordered_at", "orders", ["customer_id", "ordered_at"], schema=SCHEMA)

    op.create_table(
        "invoices",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("external_id", sa.Text, nullable=False),
        _customer_id(),
        sa.Column("order_external_id", sa.Text),
        sa.Column("issued_on", sa.Date, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("paid_on", sa.Date),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("dunning_level", sa.SmallInteger, nullable=False, server_default="0"),
        *_timestamps(),
        sa.CheckConstraint("due_on >= issued_on", name="due_after_issue"),
        sa.CheckConstraint("paid_on IS NULL OR paid_on >= issued_on", name="paid_after_issue"),
        sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
        sa.CheckConstraint("dunning_level BETWEEN 0 AND 9", name="dunning_level"),
        sa.UniqueConstraint("external_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_invoices_customer_id_issued_on", "invoices", ["customer_id", "issued_on"], schema=SCHEMA)

    op.create_table(
        "interactions",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("external_id", sa.Text, nullable=False),
        _customer_id(),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("subject", sa.Text),
        *_timestamps(),
        sa.CheckConstraint(
            "kind IN ('inquiry', 'lead', 'visit', 'call', 'meeting', 'event', 'complaint', 'survey', 'other')",
            name="kind",
        ),
        sa.CheckConstraint("channel IN ('email', 'phone', 'post', 'visit', 'event', 'web', 'other')", name="channel"),
        sa.CheckConstraint("resolved_at IS NULL OR resolved_at >= occurred_at", name="resolved_after_occurred"),
        sa.UniqueConstraint("external_id"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_interactions_customer_id_occurred_at", "interactions", ["customer_id", "occurred_at"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("interactions", schema=SCHEMA)
    op.drop_table("invoices", schema=SCHEMA)
    op.drop_table("orders", schema=SCHEMA)
    op.execute(f"DELETE FROM {SCHEMA}.customers WHERE kind IS NULL")  # auto-created customers cannot stay
    op.drop_constraint(op.f("ck_customers_kind_known_unless_auto_created"), "customers", schema=SCHEMA)
    op.alter_column("customers", "kind", nullable=False, schema=SCHEMA)
    op.drop_column("customers", "auto_created", schema=SCHEMA)
