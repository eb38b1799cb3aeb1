"""predictive_fits: fits of the purchase (BG/NBD) and spend (Gamma-Gamma) models, the newest succeeded one current

Revision ID: 20261123_07
Revises: 20261123_06
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261123_07"
down_revision = "20261123_06"
branch_labels = None
depends_on = None

SCHEMA = "segmentation"


def upgrade() -> None:
    op.create_table(
        "predictive_fits",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("status", sa.Text, nullable=False, server_default="running"),
        sa.Column("calibration_end", sa.Date, nullable=False),
        sa.Column("time_zone", sa.Text, nullable=False),
        sa.Column("customers", sa.Integer),
        sa.Column("repeat_customers", sa.Integer),
        sa.Column("purchases", postgresql.JSONB),
        sa.Column("spend", postgresql.JSONB),
        sa.Column("holdout_end", sa.Date),
        sa.Column("holdout", postgresql.JSONB),
        sa.Column("error", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="status"),
        sa.CheckConstraint("holdout_end > calibration_end", name="holdout_after_calibration"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("predictive_fits", schema=SCHEMA)
