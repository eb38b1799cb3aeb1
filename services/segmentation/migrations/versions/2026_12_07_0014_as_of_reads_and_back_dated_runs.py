"""Reads as of any day and back-dated runs: a run knows whether it was back-dated (as of a day before the latest
run's), and such a run's classifications are kept apart, by run id (past_classifications, the columns of
classifications in their order); the cut points computed for a day without a run are kept per day and basis
with the snapshot of the facts they come from (day_cut_points); every ingest leaves its transaction id in
fact_writes, so that cut points computed before it are known to be stale.

Revision ID: 20261207_01
Revises: 20261206_02
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "20261207_01"
down_revision = "20261206_02"
branch_labels = None
depends_on = None

SCHEMA = "segmentation"


def upgrade() -> None:
    op.add_column("runs", sa.Column("back_dated", sa.Boolean, nullable=False, server_default="false"), schema=SCHEMA)
    # The columns of classifications in their order: a run's rows are copied whole into either table.
    op.execute(f"CREATE TABLE {SCHEMA}.past_classifications (LIKE {SCHEMA}.classifications INCLUDING DEFAULTS)")
    op.alter_column("past_classifications", "run_id", nullable=False, schema=SCHEMA)
    op.create_primary_key("pk_past_classifications", "past_classifications", ["run_id", "customer_id"], schema=SCHEMA)
    op.execute(f"""
        CREATE TABLE {SCHEMA}.day_cut_points (
            as_of date NOT NULL,
            basis_key uuid NOT NULL,
            cut_points jsonb NOT NULL,
            customers bigint NOT NULL,
            facts_snapshot pg_snapshot NOT NULL,
            computed_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_day_cut_points PRIMARY KEY (as_of, basis_key))""")
    op.execute(f"CREATE TABLE {SCHEMA}.fact_writes (xid xid8 NOT NULL, CONSTRAINT pk_fact_writes PRIMARY KEY (xid))")


def downgrade() -> None:
    op.drop_table("fact_writes", schema=SCHEMA)
    op.drop_table("day_cut_points", schema=SCHEMA)
    op.drop_table("past_classifications", schema=SCHEMA)
    op.drop_column("runs", "back_dated", schema=SCHEMA)
