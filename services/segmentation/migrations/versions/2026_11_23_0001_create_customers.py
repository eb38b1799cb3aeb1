"""create customers

Revision ID: 20261123_01
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261123_01"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "segmentation"


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("external_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("first_contact_on", sa.Date),
        sa.Column("revenue_potential", sa.Numeric(18, 2)),
        sa.Column("revenue_potential_currency", sa.CHAR(3)),
        sa.Column("key_account", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("consent_email", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("consent_phone", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("consent_post", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("attributes", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("kind IN ('b2b', 'b2c')", name="kind"),
        sa.CheckConstraint(
            "(revenue_potential IS NULL) = (revenue_potential_currency IS NULL)", name="potential_has_currency"
        ),
        sa.UniqueConstraint("external_id"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("customers", schema=SCHEMA)
