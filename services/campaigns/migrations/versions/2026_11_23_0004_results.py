"""results: orders attributed to campaigns (and when that was last done), and what each campaign taught the
response priors

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

SCHEMA = "campaigns"


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("attribution", postgresql.JSONB), schema=SCHEMA)
    op.create_table(
        "attributed_orders",
        sa.Column(
            "campaign_id", sa.BigInteger, sa.ForeignKey(f"{SCHEMA}.campaigns.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("order_external_id", sa.Text, primary_key=True),
        sa.Column("external_id", sa.Text, nullable=False),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("net_amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("contribution", sa.Numeric(18, 2), nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_attributed_orders_campaign_id_external_id",
        "attributed_orders",
        ["campaign_id", "external_id"],
        schema=SCHEMA,
    )
    op.create_table(
        "response_observations",
        sa.Column(
            "campaign_id", sa.BigInteger, sa.ForeignKey(f"{SCHEMA}.campaigns.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("z_stage", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("contacts", sa.Integer, nullable=False),
        sa.Column("exposure", sa.Numeric(16, 6), nullable=False),
        sa.Column("responses", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("responses >= 0 AND responses <= contacts AND exposure >= 0", name="counts"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_response_observations_kind_channel", "response_observations", ["kind", "channel"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("response_observations", schema=SCHEMA)
    op.drop_table("attributed_orders", schema=SCHEMA)
    op.drop_column("campaigns", "attribution", schema=SCHEMA)
