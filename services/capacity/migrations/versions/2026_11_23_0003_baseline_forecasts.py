"""baseline forecasts (expected orders per week, ABC shares, backtest) and manual adjustments

Revision ID: 20261123_03
Revises: 20261123_02
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261123_03"
down_revision = "20261123_02"
branch_labels = None
depends_on = None

SCHEMA = "capacity"
A_MONDAY = "extract(isodow FROM week_start) = 1"


def upgrade() -> None:
    op.create_table(
        "forecasts",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("first_week", sa.Date, nullable=False),
        sa.Column("weeks", sa.Integer, nullable=False),
        sa.Column("history_first_week", sa.Date, nullable=False),
        sa.Column("history_last_week", sa.Date, nullable=False),
        sa.Column("customers", sa.Integer, nullable=False),
        sa.Column("fit_id", sa.Text),
        sa.Column("fitted_at", sa.DateTime(timezone=True)),
        sa.Column("backtest", postgresql.JSONB),
        sa.CheckConstraint("source IN ('predictive', 'history')", name="source"),
        sa.CheckConstraint("weeks > 0", name="weeks_positive"),
        schema=SCHEMA,
    )
    op.create_index("ix_forecasts_computed_at", "forecasts", ["computed_at"], schema=SCHEMA)
    op.create_table(
        "forecast_weeks",
        sa.Column(
            "forecast_id", sa.BigInteger, sa.ForeignKey(f"{SCHEMA}.forecasts.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("week_start", sa.Date, primary_key=True),
        sa.Column("expected_orders", sa.Numeric(14, 2), nullable=False),
        sa.CheckConstraint(A_MONDAY, name="week_start_a_monday"),
        sa.CheckConstraint("expected_orders >= 0", name="expected_orders_not_negative"),
        schema=SCHEMA,
    )
    op.create_table(
        "forecast_group_shares",
        sa.Column(
            "forecast_id", sa.BigInteger, sa.ForeignKey(f"{SCHEMA}.forecasts.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("abc_class", sa.Text, primary_key=True),
        sa.Column("share", sa.Numeric(7, 6), nullable=False),
        sa.CheckConstraint("abc_class IN ('A', 'B', 'C')", name="abc_class"),
        sa.CheckConstraint("share BETWEEN 0 AND 1", name="share_a_share"),
        schema=SCHEMA,
    )
    op.create_table(
        "baseline_adjustments",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column(
            "resource_id", sa.BigInteger, sa.ForeignKey(f"{SCHEMA}.resources.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("week_start", sa.Date, nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text),
        sa.Column("request_fingerprint", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(A_MONDAY, name="week_start_a_monday"),
        sa.UniqueConstraint("idempotency_key"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_baseline_adjustments_resource_id_week_start",
        "baseline_adjustments",
        ["resource_id", "week_start"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("baseline_adjustments", schema=SCHEMA)
    op.drop_table("forecast_group_shares", schema=SCHEMA)
    op.drop_table("forecast_weeks", schema=SCHEMA)
    op.drop_table("forecasts", schema=SCHEMA)
