"""classifications rebuilt with its columns in the model's order and without the reasons column dropped in
migration 0006_lean_classifications: a run's rows are then laid out as the table's, and its insert copies them whole

A dropped column stays in every row of the table (as a null) until the table is rewritten; with it, a row
inserted from a query has to be taken apart and built again, which slows a first run's insert (figures in
docs/benchmarks.md, eighth session).

Revision ID: 20261123_10
Revises: 20261123_09
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261123_10"
down_revision = "20261123_09"
branch_labels = None
depends_on = None

SCHEMA = "segmentation"
MONEY = sa.Numeric(18, 2)


def _columns() -> list[sa.Column]:
    """The columns as of this revision, in the order of ClassificationRow."""
    return [
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("run_id", postgresql.UUID(as_uuid=True)),
        sa.Column("lifecycle", sa.Text, nullable=False),
        sa.Column("z_stage", sa.Text, nullable=False),
        sa.Column("abc", sa.CHAR(1), nullable=False),
        sa.Column("key_account", sa.Boolean, nullable=False),
        sa.Column("payment", sa.Text, nullable=False),
        sa.Column("quadrant", sa.Text),
        sa.Column("phase", sa.Text, nullable=False),
        sa.Column("order_count", sa.Integer, nullable=False),
        sa.Column("revenue_12m", MONEY, nullable=False),
        sa.Column("average_order_value", MONEY),
        sa.Column("below_minimum_order_value", sa.Boolean, nullable=False),
        sa.Column("potential", MONEY),
        sa.Column("first_order_on", sa.Date),
        sa.Column("last_order_on", sa.Date),
        sa.Column("recent_revenue", MONEY, nullable=False),
        sa.Column("previous_revenue", MONEY, nullable=False),
        sa.Column("reactivated_on", sa.Date),
        sa.Column("reactivation_gap_days", sa.Integer),
        sa.Column("interactions", sa.Integer, nullable=False),
        sa.Column("invoices", sa.Integer, nullable=False),
        sa.Column("average_days_late", sa.Numeric(8, 1)),
        sa.Column("overdue_invoices_12m", sa.Integer, nullable=False),
        sa.Column("max_dunning_level", sa.SmallInteger, nullable=False),
        sa.Column("erp_key_account", sa.Boolean, nullable=False),
        sa.Column("potential_estimated", sa.Boolean, nullable=False),
        sa.Column("in_top_n", sa.Boolean, nullable=False),
        sa.Column("purchase_days", sa.Integer, nullable=False, server_default="0"),
        sa.Column("repeat_spend", MONEY, nullable=False, server_default="0"),
        sa.Column("classified_on", sa.Date, nullable=False),
        sa.Column("basis_id", postgresql.UUID(as_uuid=True)),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def upgrade() -> None:
    columns = _columns()
    names = ", ".join(c.name for c in columns)
    op.create_table("classifications_rebuilt", *columns, schema=SCHEMA)
    op.execute(f"INSERT INTO {SCHEMA}.classifications_rebuilt ({names}) SELECT {names} FROM {SCHEMA}.classifications")
    op.drop_table("classifications", schema=SCHEMA)
    op.rename_table("classifications_rebuilt", "classifications", schema=SCHEMA)
    # Named as before; the old table's key had the name until it was dropped.
    op.create_primary_key("pk_classifications", "classifications", ["customer_id"], schema=SCHEMA)
    op.execute(f"ANALYZE {SCHEMA}.classifications")


def downgrade() -> None:
    # The same columns, in another order: nothing a query can tell apart.
    pass
