"""base_currency: orders keep their amount in cents of the company's base currency, converted when stored

Revision ID: 20261123_09
Revises: 20261123_08
Create Date: 2026-11-23
"""

from alembic import op

revision = "20261123_09"
down_revision = "20261123_08"
branch_labels = None
depends_on = None

SCHEMA = "segmentation"


def upgrade() -> None:
    # No rewrite: the values stay (the orders so far count in the base currency, as before) and the column
    # becomes an ordinary one that the service fills in from the exchange rates.
    op.execute(f"ALTER TABLE {SCHEMA}.orders ALTER COLUMN net_cents DROP EXPRESSION")
    op.execute(f"ALTER TABLE {SCHEMA}.orders ALTER COLUMN net_cents SET NOT NULL")


def downgrade() -> None:
    op.execute(f"ALTER TABLE {SCHEMA}.orders DROP COLUMN net_cents")
    op.execute(
        f"ALTER TABLE {SCHEMA}.orders ADD COLUMN net_cents bigint "
        "GENERATED ALWAYS AS ((net_amount * 100)::bigint) STORED"
    )
    op.execute(
        f"CREATE INDEX IF NOT EXISTS ix_orders_customer_id_ordered_at ON {SCHEMA}.orders (customer_id, ordered_at) "
        "INCLUDE (status, net_cents)"
    )
