"""Idempotency-Key values scoped to whoever sent them: each reservation, adjustment and capacity exception gets
idempotency_scope (the API key, or the calling service), and a key is unique within its scope. Existing rows get the
empty scope; they stay valid.

Revision ID: 20261206_01
Revises: 20261123_04
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "20261206_01"
down_revision = "20261123_04"
branch_labels = None
depends_on = None

SCHEMA = "capacity"
# table -> the columns a key was unique with before, besides itself
TABLES = {"reservations": [], "baseline_adjustments": [], "capacity_exceptions": []}


def upgrade() -> None:
    for table, unique_with in TABLES.items():
        op.add_column(table, sa.Column("idempotency_scope", sa.Text, nullable=False, server_default=""), schema=SCHEMA)
        op.drop_constraint(_name(table, [*unique_with, "idempotency_key"]), table, schema=SCHEMA)
        columns = [*unique_with, "idempotency_scope", "idempotency_key"]
        op.create_unique_constraint(_name(table, columns), table, columns, schema=SCHEMA)


def downgrade() -> None:
    for table, unique_with in TABLES.items():
        # Two scopes may hold the same key by now: the oldest row keeps it, the others lose theirs.
        partition = ", ".join([*unique_with, "idempotency_key"])
        op.execute(
            f"""
            UPDATE {SCHEMA}.{table} t SET idempotency_key = NULL
            FROM (SELECT id, row_number() OVER (PARTITION BY {partition} ORDER BY created_at, id::text) AS n
                  FROM {SCHEMA}.{table} WHERE idempotency_key IS NOT NULL) d
            WHERE t.id = d.id AND d.n > 1
            """
        )
        op.drop_constraint(_name(table, [*unique_with, "idempotency_scope", "idempotency_key"]), table, schema=SCHEMA)
        op.drop_column(table, "idempotency_scope", schema=SCHEMA)
        columns = [*unique_with, "idempotency_key"]
        op.create_unique_constraint(_name(table, columns), table, columns, schema=SCHEMA)


def _name(table: str, columns: list[str]) -> str:
    """The name the naming convention (servicekit.db) gives a unique constraint."""
    return f"uq_{table}_{'_'.join(columns)}"
