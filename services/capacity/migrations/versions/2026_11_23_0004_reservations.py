"""reservations for campaigns, their lines per resource and week, and the per resource-week rows they lock

Revision ID: 20261123_04
Revises: 20261123_03
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "20261123_04"
down_revision = "20261123_03"
branch_labels = None
depends_on = None

SCHEMA = "capacity"
A_MONDAY = "extract(isodow FROM week_start) = 1"


def upgrade() -> None:
    op.create_table(
        "reservations",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("campaign", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("allow_partial", sa.Boolean, nullable=False),
        sa.Column("partial", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("idempotency_key", sa.Text),
        sa.Column("request_fingerprint", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("state IN ('held', 'confirmed', 'released', 'consumed', 'expired')", name="state"),
        sa.CheckConstraint("state <> 'held' OR expires_at IS NOT NULL", name="held_expires"),
        sa.UniqueConstraint("idempotency_key"),
        schema=SCHEMA,
    )
    op.create_index("ix_reservations_campaign", "reservations", ["campaign"], schema=SCHEMA)
    op.create_index(  # what the sweep of expired holds reads
        "ix_reservations_expires_at_held",
        "reservations",
        ["expires_at"],
        postgresql_where=sa.text("state = 'held'"),
        schema=SCHEMA,
    )
    op.create_table(
        "reservation_lines",
        sa.Column(
            "reservation_id",
            sa.BigInteger,
            sa.ForeignKey(f"{SCHEMA}.reservations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "resource_id", sa.BigInteger, sa.ForeignKey(f"{SCHEMA}.resources.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("week_start", sa.Date, primary_key=True),
        sa.Column("requested", sa.Numeric(14, 2), nullable=False),
        sa.Column("granted", sa.Numeric(14, 2), nullable=False),
        sa.CheckConstraint(A_MONDAY, name="week_start_a_monday"),
        sa.CheckConstraint("requested > 0", name="requested_positive"),
        sa.CheckConstraint("granted >= 0 AND granted <= requested", name="granted_within_requested"),
        schema=SCHEMA,
    )
    op.create_index(  # the sum of a cell's reservations reads this
        "ix_reservation_lines_resource_id_week_start",
        "reservation_lines",
        ["resource_id", "week_start"],
        postgresql_include=["reservation_id", "granted"],
        schema=SCHEMA,
    )
    op.create_table(
        "resource_weeks",
        sa.Column(
            "resource_id", sa.BigInteger, sa.ForeignKey(f"{SCHEMA}.resources.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("week_start", sa.Date, primary_key=True),
        sa.Column("last_reserved_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(A_MONDAY, name="week_start_a_monday"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("resource_weeks", schema=SCHEMA)
    op.drop_table("reservation_lines", schema=SCHEMA)
    op.drop_table("reservations", schema=SCHEMA)
