"""classifications: figures as columns instead of a reasons document; the thresholds and cut points behind
them as bases; orders in cents for set-based sums; covering indexes of orders and invoices per customer;
no first-classification rows in the history

Revision ID: 20261123_06
Revises: 20261123_05
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261123_06"
down_revision = "20261123_05"
branch_labels = None
depends_on = None

SCHEMA = "segmentation"
STATES = ("lifecycle", "z_stage", "abc", "quadrant")

# (column, type, the reasons path it is filled from for rows classified before this migration, default)
FIGURES = [
    ("recent_revenue", sa.Numeric(18, 2), "phase,recent_revenue", "0"),
    ("previous_revenue", sa.Numeric(18, 2), "phase,previous_revenue", "0"),
    ("reactivated_on", sa.Date(), "lifecycle,reactivated_on", None),
    ("reactivation_gap_days", sa.Integer(), "lifecycle,gap_before_reactivation_days", None),
    ("interactions", sa.Integer(), "z_stage,interactions", "0"),
    ("invoices", sa.Integer(), "payment,invoices", "0"),
    ("average_days_late", sa.Numeric(8, 1), "payment,average_days_late", None),
    ("overdue_invoices_12m", sa.Integer(), "payment,overdue_invoices_12m", "0"),
    ("max_dunning_level", sa.SmallInteger(), "payment,max_dunning_level", "0"),
    ("erp_key_account", sa.Boolean(), "key_account,erp_flag", "false"),
]


COVERING = [
    ("orders", ["customer_id", "ordered_at"], ["status", "net_cents"]),
    ("invoices", ["customer_id", "issued_on"], ["due_on", "paid_on", "dunning_level"]),
]


def _basis_id(thresholds: str, cut_points: str) -> str:
    """The same content-derived id the service computes: equal thresholds and cut points share a basis."""
    return f"md5(jsonb_build_array({thresholds}, {cut_points})::text)::uuid"


def upgrade() -> None:
    # Sums over millions of orders are several times faster over whole cents than over numeric amounts.
    op.add_column(
        "orders",
        sa.Column("net_cents", sa.BigInteger, sa.Computed("(net_amount * 100)::bigint", persisted=True)),
        schema=SCHEMA,
    )
    # A run reads every order and invoice per customer: with these columns in the customer's index, it reads
    # them in customer order from the index alone, split among connections by customer id.
    for table, columns, included in COVERING:
        op.drop_index(f"ix_{table}_{'_'.join(columns)}", table, schema=SCHEMA)
        op.create_index(f"ix_{table}_{'_'.join(columns)}", table, columns, postgresql_include=included, schema=SCHEMA)
    op.create_table(
        "classification_bases",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("thresholds", postgresql.JSONB, nullable=False),
        sa.Column("cut_points", postgresql.JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.add_column("runs", sa.Column("snapshot_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.add_column("runs", sa.Column("basis_id", postgresql.UUID(as_uuid=True)), schema=SCHEMA)
    op.execute(f"""
        INSERT INTO {SCHEMA}.classification_bases (id, thresholds, cut_points)
        SELECT DISTINCT {_basis_id("thresholds", "cut_points")}, thresholds, cut_points FROM {SCHEMA}.runs
        WHERE cut_points IS NOT NULL ON CONFLICT DO NOTHING""")
    op.execute(f"""UPDATE {SCHEMA}.runs SET snapshot_at = started_at,
                   basis_id = {_basis_id("thresholds", "cut_points")} WHERE cut_points IS NOT NULL""")

    for name, type_, _, _ in FIGURES:
        op.add_column("classifications", sa.Column(name, type_), schema=SCHEMA)
    op.add_column("classifications", sa.Column("potential_estimated", sa.Boolean), schema=SCHEMA)
    op.add_column("classifications", sa.Column("in_top_n", sa.Boolean), schema=SCHEMA)
    op.add_column("classifications", sa.Column("classified_on", sa.Date), schema=SCHEMA)
    op.add_column("classifications", sa.Column("basis_id", postgresql.UUID(as_uuid=True)), schema=SCHEMA)
    dialect = postgresql.dialect()
    fill = ", ".join(
        f"{name} = coalesce((reasons #>> '{{{path}}}')::{type_.compile(dialect=dialect)}, {default or 'NULL'})"
        for name, type_, path, default in FIGURES
    )
    op.execute(f"""
        UPDATE {SCHEMA}.classifications c SET {fill},
            potential_estimated = reasons #>> '{{quadrant,potential_source}}' = 'estimate',
            in_top_n = coalesce((reasons #>> '{{key_account,revenue_rank}}')::bigint
                                <= (reasons #>> '{{key_account,top_n}}')::bigint, false),
            classified_on = coalesce((SELECT min(changed_on) FROM {SCHEMA}.classification_changes h
                                      WHERE h.customer_id = c.customer_id), c.as_of),
            basis_id = (SELECT r.basis_id FROM {SCHEMA}.runs r WHERE r.status = 'succeeded'
                        ORDER BY (r.id = c.run_id) DESC, r.finished_at DESC LIMIT 1)""")
    op.execute(f"""UPDATE {SCHEMA}.classifications SET potential_estimated = coalesce(potential_estimated, false),
                   in_top_n = coalesce(in_top_n, false), classified_on = coalesce(classified_on, as_of)""")
    required = [name for name, _, _, default in FIGURES if default is not None]
    for name in [*required, "potential_estimated", "in_top_n", "classified_on"]:
        op.alter_column("classifications", name, nullable=False, schema=SCHEMA)
    op.drop_column("classifications", "reasons", schema=SCHEMA)
    # Derived rows, written a million at a time by a run from a join with the customers: the foreign keys'
    # per-row checks cost more than the rest of the write. Customers are never deleted.
    op.drop_constraint("fk_classifications_customer_id_customers", "classifications", schema=SCHEMA)
    op.drop_constraint("fk_classification_changes_customer_id_customers", "classification_changes", schema=SCHEMA)
    # Four indexes on a handful of values each cost more to keep during a run than they save a filter.
    for column in STATES:
        op.drop_index(f"ix_classifications_{column}", "classifications", schema=SCHEMA)


def downgrade() -> None:
    for table in ("classifications", "classification_changes"):
        op.create_foreign_key(
            f"fk_{table}_customer_id_customers",
            table,
            "customers",
            ["customer_id"],
            ["id"],
            source_schema=SCHEMA,
            referent_schema=SCHEMA,
        )
    for column in STATES:
        op.create_index(f"ix_classifications_{column}", "classifications", [column], schema=SCHEMA)
    op.add_column(
        "classifications",
        sa.Column("reasons", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        schema=SCHEMA,
    )
    op.alter_column("classifications", "reasons", server_default=None, schema=SCHEMA)
    for name in [f[0] for f in FIGURES] + ["potential_estimated", "in_top_n", "classified_on", "basis_id"]:
        op.drop_column("classifications", name, schema=SCHEMA)
    op.drop_column("runs", "basis_id", schema=SCHEMA)
    op.drop_column("runs", "snapshot_at", schema=SCHEMA)
    op.drop_table("classification_bases", schema=SCHEMA)
    for table, columns, _ in COVERING:
        op.drop_index(f"ix_{table}_{'_'.join(columns)}", table, schema=SCHEMA)
        op.create_index(f"ix_{table}_{'_'.join(columns)}", table, columns, schema=SCHEMA)
    op.drop_column("orders", "net_cents", schema=SCHEMA)
