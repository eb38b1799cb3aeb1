"""runs: phase and progress

Revision ID: 20261123_05
Revises: 20261123_04
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "20261123_05"
down_revision = "20261123_04"
branch_labels = None
depends_on = None

SCHEMA = "segmentation"


def upgrade() -> None:
    op.add_column("runs", sa.Column("phase", sa.Text, nullable=False, server_default="queued"), schema=SCHEMA)
    op.add_column("runs", sa.Column("progress", sa.SmallInteger, nullable=False, server_default="0"), schema=SCHEMA)
    op.create_check_constraint("progress", "runs", "progress BETWEEN 0 AND 100", schema=SCHEMA)


def downgrade() -> None:
    op.drop_constraint(op.f("ck_runs_progress"), "runs", schema=SCHEMA)
    op.drop_column("runs", "progress", schema=SCHEMA)
    op.drop_column("runs", "phase", schema=SCHEMA)
