"""create imports and import_errors; parse_jsonb for NDJSON staging

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

SCHEMA = "segmentation"


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("entity", sa.Text, nullable=False),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="receiving"),
        sa.Column("idempotency_key", sa.Text),
        sa.Column("create_missing_customers", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("bytes_received", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rows_received", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rows_accepted", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rows_rejected", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rows_created", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rows_updated", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rows_unchanged", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("customers_created", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("entity IN ('customers', 'orders', 'invoices', 'interactions')", name="entity"),
        sa.CheckConstraint("format IN ('ndjson', 'csv')", name="format"),
        sa.CheckConstraint("status IN ('receiving', 'processing', 'succeeded', 'failed')", name="status"),
        sa.UniqueConstraint("entity", "idempotency_key"),
        schema=SCHEMA,
    )
    op.create_table(
        "import_errors",
        sa.Column(
            "import_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(f"{SCHEMA}.imports.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("line", sa.BigInteger, nullable=False),
        sa.Column("field", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("import_id", "line", "field"),
        schema=SCHEMA,
    )
    # NDJSON lines are staged as text and parsed in the database: NULL for a line that is not JSON.
    # Postgres 16+ checks without raising; older servers need a subtransaction per line.
    server_version = op.get_bind().dialect.server_version_info or (0,)
    if server_version >= (16,):
        # plpgsql, not an inlinable SQL function: the planner would fold the cast of a constant and raise.
        op.execute(f"""
            CREATE FUNCTION {SCHEMA}.parse_jsonb(value text) RETURNS jsonb
            LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
            BEGIN
                IF pg_input_is_valid(value, 'jsonb') THEN
                    RETURN value::jsonb;
                END IF;
                RETURN NULL;
            END $$
        """)
    else:
        op.execute(f"""
            CREATE FUNCTION {SCHEMA}.parse_jsonb(value text) RETURNS jsonb
            LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
            BEGIN
                RETURN value::jsonb;
            EXCEPTION WHEN others THEN
                RETURN NULL;
            END $$
        """)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SCHEMA}.parse_jsonb(text)")
    op.drop_table("import_errors", schema=SCHEMA)
    op.drop_table("imports", schema=SCHEMA)
