"""resource loads, reserve and new-customer load; loads per ABC class; dated capacity exceptions

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

SCHEMA = "capacity"


def upgrade() -> None:
    # The defaults only fill rows that exist already; the API asks for both loads.
    op.add_column(
        "resources", sa.Column("load_per_order", sa.Numeric(14, 4), nullable=False, server_default="0"), schema=SCHEMA
    )
    op.add_column(
        "resources", sa.Column("reserve_share", sa.Numeric(5, 4), nullable=False, server_default="0.10"), schema=SCHEMA
    )
    op.add_column(
        "resources",
        sa.Column("new_customer_weekly_load", sa.Numeric(14, 4), nullable=False, server_default="0"),
        schema=SCHEMA,
    )
    op.alter_column("resources", "load_per_order", server_default=None, schema=SCHEMA)
    op.alter_column("resources", "new_customer_weekly_load", server_default=None, schema=SCHEMA)
    op.create_check_constraint("load_per_order_not_negative", "resources", "load_per_order >= 0", schema=SCHEMA)
    op.create_check_constraint("reserve_share_a_share", "resources", "reserve_share BETWEEN 0 AND 1", schema=SCHEMA)
    op.create_check_constraint(
        "new_customer_weekly_load_not_negative", "resources", "new_customer_weekly_load >= 0", schema=SCHEMA
    )

    op.create_table(
        "resource_group_loads",
        sa.Column(
            "resource_id", sa.BigInteger, sa.ForeignKey(f"{SCHEMA}.resources.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("abc_class", sa.Text, primary_key=True),
        sa.Column("load_per_order", sa.Numeric(14, 4), nullable=False),
        sa.CheckConstraint("abc_class IN ('A', 'B', 'C')", name="abc_class"),
        sa.CheckConstraint("load_per_order >= 0", name="load_per_order_not_negative"),
        schema=SCHEMA,
    )

    op.create_table(
        "capacity_exceptions",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column(
            "resource_id", sa.BigInteger, sa.ForeignKey(f"{SCHEMA}.resources.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
        sa.Column("capacity", sa.Numeric(14, 2)),
        sa.Column("delta", sa.Numeric(14, 2)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text),
        sa.Column("request_fingerprint", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("num_nonnulls(capacity, delta) = 1", name="capacity_or_delta"),
        sa.CheckConstraint("capacity >= 0", name="capacity_not_negative"),
        sa.CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
        sa.UniqueConstraint("idempotency_key"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_capacity_exceptions_resource_id_ends_on", "capacity_exceptions", ["resource_id", "ends_on"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("capacity_exceptions", schema=SCHEMA)
    op.drop_table("resource_group_loads", schema=SCHEMA)
    for column in ("load_per_order", "reserve_share", "new_customer_weekly_load"):
        op.drop_column("resources", column, schema=SCHEMA)  # its check constraint goes with it
