"""create settings, runs, classifications and classification_changes

Revision ID: 20261123_04
Revises: 20261123_03
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261123_04"
down_revision = "20261123_03"
branch_labels = None
depends_on = None

SCHEMA = "segmentation"


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("thresholds", postgresql.JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("id = 1", name="single_row"),
        schema=SCHEMA,
    )
    op.create_table(
        "runs",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="running"),
        sa.Column("customers", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("changes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("thresholds", postgresql.JSONB, nullable=False),
        sa.Column("cut_points", postgresql.JSONB),
        sa.Column("error", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="status"),
        schema=SCHEMA,
    )
    op.create_table(
        "classifications",
        sa.Column("customer_id", sa.BigInteger, sa.ForeignKey(f"{SCHEMA}.customers.id"), primary_key=True),
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
        sa.Column("revenue_12m", sa.Numeric(18, 2), nullable=False),
        sa.Column("average_order_value", sa.Numeric(18, 2)),
        sa.Column("below_minimum_order_value", sa.Boolean, nullable=False),
        sa.Column("potential", sa.Numeric(18, 2)),
        sa.Column("first_order_on", sa.Date),
        sa.Column("last_order_on", sa.Date),
        sa.Column("reasons", postgresql.JSONB, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    for column in ("lifecycle", "z_stage", "abc", "quadrant"):
        op.create_index(f"ix_classifications_{column}", "classifications", [column], schema=SCHEMA)
    op.create_table(
        "classification_changes",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("customer_id", sa.BigInteger, sa.ForeignKey(f"{SCHEMA}.customers.id"), nullable=False),
        sa.Column("attribute", sa.Text, nullable=False),
        sa.Column("from_value", sa.Text),
        sa.Column("to_value", sa.Text),
        sa.Column("changed_on", sa.Date, nullable=False),
        sa.Column("run_id", postgresql.UUID(as_uuid=True)),
        sa.CheckConstraint("attribute IN ('lifecycle', 'z_stage', 'abc', 'quadrant')", name="attribute"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_classification_changes_customer_id_changed_on",
        "classification_changes",
        ["customer_id", "changed_on"],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_classification_changes_attribute_changed_on",
        "classification_changes",
        ["attribute", "changed_on"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("classification_changes", schema=SCHEMA)
    op.drop_table("classifications", schema=SCHEMA)
    op.drop_table("runs", schema=SCHEMA)
    op.drop_table("settings", schema=SCHEMA)
