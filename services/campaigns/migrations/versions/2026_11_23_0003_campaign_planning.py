"""campaign planning: schedule, budget, costs, audience rules and plan on the campaign; its history of states;
its frozen, scored audience

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

SCHEMA = "campaigns"
COLUMNS = [
    sa.Column("description", sa.Text),
    sa.Column("audience", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("incentives", postgresql.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")),
    sa.Column("currency", sa.Text, nullable=False, server_default="EUR"),
    sa.Column("budget", sa.Numeric(14, 2)),
    sa.Column("cost_per_contact", sa.Numeric(14, 2), nullable=False, server_default="0"),
    sa.Column("contribution_margin", sa.Numeric(5, 4)),
    sa.Column("assumed_order_value", sa.Numeric(14, 2)),
    sa.Column("size_limit", sa.Integer),
    sa.Column("include_negative_value", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("capacity_policy", sa.Text, nullable=False, server_default="trim"),
    sa.Column("attribution_window_days", sa.Integer, nullable=False, server_default="60"),
    sa.Column("plan_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("planned_at", sa.DateTime(timezone=True)),
    sa.Column("plan", postgresql.JSONB),
    sa.Column("reservation", postgresql.JSONB),
    sa.Column("created_by", sa.Text),
    sa.Column("idempotency_key", sa.Text),
    sa.Column("request_fingerprint", sa.Text),
]
CHECKS = {
    "currency": "currency ~ '^[A-Z]{3}$'",
    "money_not_negative": (
        "coalesce(budget, 0) >= 0 AND cost_per_contact >= 0 AND coalesce(assumed_order_value, 0) >= 0"
    ),
    "margin_a_share": "contribution_margin IS NULL OR contribution_margin BETWEEN 0 AND 1",
    "size_limit_positive": "size_limit IS NULL OR size_limit >= 1",
    "capacity_policy": "capacity_policy IN ('trim', 'refuse')",
    "attribution_window": "attribution_window_days BETWEEN 1 AND 365",
}


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("campaigns", column, schema=SCHEMA)
    for name, condition in CHECKS.items():
        op.create_check_constraint(name, "campaigns", condition, schema=SCHEMA)
    op.create_unique_constraint("uq_campaigns_idempotency_key", "campaigns", ["idempotency_key"], schema=SCHEMA)

    op.create_table(
        "campaign_events",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column(
            "campaign_id", sa.BigInteger, sa.ForeignKey(f"{SCHEMA}.campaigns.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("from_state", sa.Text),
        sa.Column("to_state", sa.Text, nullable=False),
        sa.Column("by", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("note", sa.Text),
        schema=SCHEMA,
    )
    op.create_index("ix_campaign_events_campaign_id_id", "campaign_events", ["campaign_id", "id"], schema=SCHEMA)

    op.create_table(
        "campaign_members",
        sa.Column(
            "campaign_id", sa.BigInteger, sa.ForeignKey(f"{SCHEMA}.campaigns.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("external_id", sa.Text, primary_key=True),
        sa.Column("features", postgresql.JSONB, nullable=False),
        sa.Column("z_stage", sa.Text),
        sa.Column("lifecycle", sa.Text),
        sa.Column("alive_factor", sa.Numeric(9, 6), nullable=False),
        sa.Column("p_response", sa.Numeric(9, 8), nullable=False),
        sa.Column("order_value", sa.Numeric(14, 2), nullable=False),
        sa.Column("expected_contribution", sa.Numeric(16, 4), nullable=False),
        sa.Column("contact_cost", sa.Numeric(14, 2), nullable=False),
        sa.Column("incentive_key", sa.Text),
        sa.Column("incentive_cost", sa.Numeric(16, 4), nullable=False),
        sa.Column("expected_value", sa.Numeric(16, 4), nullable=False),
        sa.Column("rank", sa.Integer),
        sa.Column("excluded_by", sa.Text),
        sa.Column("personal_code", sa.Text),
        sa.Column("contacted_at", sa.DateTime(timezone=True)),
        sa.Column("responded_at", sa.DateTime(timezone=True)),
        sa.Column("response", sa.Text),
        schema=SCHEMA,
    )
    op.create_index("ix_campaign_members_campaign_id_rank", "campaign_members", ["campaign_id", "rank"], schema=SCHEMA)
    op.create_index(  # the contact cap counts a customer's contacts across campaigns
        "ix_campaign_members_external_id",
        "campaign_members",
        ["external_id"],
        postgresql_include=["campaign_id", "contacted_at"],
        postgresql_where=sa.text("excluded_by IS NULL"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("campaign_members", schema=SCHEMA)
    op.drop_table("campaign_events", schema=SCHEMA)
    op.drop_constraint(op.f("uq_campaigns_idempotency_key"), "campaigns", schema=SCHEMA)
    for name in CHECKS:
        op.drop_constraint(op.f(f"ck_campaigns_{name}"), "campaigns", schema=SCHEMA)
    for column in reversed(COLUMNS):
        op.drop_column("campaigns", column.name, schema=SCHEMA)
