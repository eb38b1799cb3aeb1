"""create resources

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

SCHEMA = "capacity"


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("weekly_capacity", sa.Numeric(14, 2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("key ~ '^[a-z0-9][a-z0-9-]{0,62}$'", name="key_slug"),
        sa.CheckConstraint("weekly_capacity >= 0", name="weekly_capacity_not_negative"),
        sa.UniqueConstraint("key"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("resources", schema=SCHEMA)
