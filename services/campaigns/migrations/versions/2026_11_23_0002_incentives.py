"""incentives: the catalogue of what campaigns offer, with value, cost and eligibility

Revision ID: 20261123_02
Revises: 20261123_01
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261123_02"
down_revision = "20261123_01"
branch_labels = None
depends_on = None

SCHEMA = "campaigns"
KINDS = (
    "loyalty_discount",
    "upgrade",
    "gift",
    "occasion",
    "survey_thanks",
    "complaint_apology",
    "referral_bonus",
    "welcome_discount",
    "free_shipping",
    "payment_terms",
)


def upgrade() -> None:
    op.create_table(
        "incentives",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("offer", sa.Text, nullable=False),
        sa.Column("audience", sa.Text, nullable=False),
        sa.Column("value", sa.Numeric(14, 2), nullable=False),
        sa.Column("value_unit", sa.Text, nullable=False),
        sa.Column("cost", sa.Numeric(14, 2), nullable=False),
        sa.Column("cost_basis", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("credit_based", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("eligibility", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("description", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("key"),
        sa.CheckConstraint(f"kind IN {KINDS}", name="kind"),
        sa.CheckConstraint("audience IN ('existing', 'new', 'all')", name="audience"),
        sa.CheckConstraint("value_unit IN ('percent', 'amount')", name="value_unit"),
        sa.CheckConstraint("cost_basis IN ('per_contact', 'per_response')", name="cost_basis"),
        sa.CheckConstraint("value >= 0 AND cost >= 0", name="not_negative"),
        schema=SCHEMA,
    )
    op.create_index("ix_incentives_offer", "incentives", ["offer"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_incentives_offer", table_name="incentives", schema=SCHEMA)
    op.drop_table("incentives", schema=SCHEMA)
