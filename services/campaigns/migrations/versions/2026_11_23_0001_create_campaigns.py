"""create campaigns

Revision ID: 20261123_01
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "20261123_01"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "campaigns"


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="draft"),
        sa.Column("starts_on", sa.Date),
        sa.Column("ends_on", sa.Date),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(
            "kind IN ('reactivation', 'second_order', 'nurture', 'loyalty', 'complaint_recovery', 'acquisition')",
            name="kind",
        ),
        sa.CheckConstraint("channel IN ('email', 'phone', 'post', 'visit', 'event')", name="channel"),
        sa.CheckConstraint(
            "state IN ('draft', 'planned', 'approved', 'running', 'completed', 'cancelled')", name="state"
        ),
        sa.CheckConstraint("starts_on IS NULL OR ends_on IS NULL OR ends_on >= starts_on", name="ends_after_start"),
        schema=SCHEMA,
    )
    op.create_index("ix_campaigns_state_id", "campaigns", ["state", "id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_campaigns_state_id", table_name="campaigns", schema=SCHEMA)
    op.drop_table("campaigns", schema=SCHEMA)
