"""customer_predictions: the purchase-day figures the predictions rest on, the model runs score with, and
the tabulated prediction terms per (repeat purchases, age)

Revision ID: 20261123_08
Revises: 20261123_07
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261123_08"
down_revision = "20261123_07"
branch_labels = None
depends_on = None

SCHEMA = "segmentation"


def upgrade() -> None:
    # Constant defaults: no table rewrite. The next run fills them in for every customer.
    op.add_column(
        "classifications", sa.Column("purchase_days", sa.Integer, nullable=False, server_default="0"), schema=SCHEMA
    )
    op.add_column(
        "classifications",
        sa.Column("repeat_spend", sa.Numeric(18, 2), nullable=False, server_default="0"),
        schema=SCHEMA,
    )
    op.add_column("runs", sa.Column("model", postgresql.JSONB), schema=SCHEMA)
    op.add_column("classification_bases", sa.Column("model", postgresql.JSONB), schema=SCHEMA)
    op.create_table(
        "prediction_terms",
        sa.Column("terms_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("repeat_purchases", sa.Integer, nullable=False),
        sa.Column("age_days", sa.Integer, nullable=False),
        sa.Column("purchases", sa.Float, nullable=False),
        sa.Column("purchases_12m", sa.Float, nullable=False),
        sa.Column("discounted_purchases", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("terms_id", "repeat_purchases", "age_days", name="pk_prediction_terms"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("prediction_terms", schema=SCHEMA)
    op.drop_column("classification_bases", "model", schema=SCHEMA)
    op.drop_column("runs", "model", schema=SCHEMA)
    op.drop_column("classifications", "repeat_spend", schema=SCHEMA)
    op.drop_column("classifications", "purchase_days", schema=SCHEMA)
