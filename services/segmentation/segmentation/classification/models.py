import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from segmentation.db import Base


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid())
    as_of: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(Text, server_default="running")
    phase: Mapped[str] = mapped_column(Text, server_default="queued")
    progress: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    customers: Mapped[int] = mapped_column(BigInteger, server_default="0")
    changes: Mapped[int] = mapped_column(BigInteger, server_default="0")
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSONB)
    cut_points: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the run read the facts: classifications computed before it were confirmed by the run.
    snapshot_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    basis_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # The predictive model the run scored with (predictive.scoring.ScoringModel); null: none was fitted yet.
    model: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # As of a day before the latest run's: its classifications are in past_classifications, the current ones
    # and their history untouched. Decided when the run starts computing.
    back_dated: Mapped[bool] = mapped_column(Boolean, server_default="false")


class BasisRow(Base):
    """Thresholds, cut points and predictive model that classifications were computed with; the id derives from
    the content."""

    __tablename__ = "classification_bases"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSONB)
    cut_points: Mapped[dict[str, Any]] = mapped_column(JSONB)
    model: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ClassificationRow(Base):
    """Every classification of a customer and the figures behind it; the reasons are built from these.

    The columns are declared in the table's order (migration 0010_classifications_rebuilt), which a run's insert
    relies on to copy its rows whole (compute.STORED_COLUMNS; tests/migrations checks it): a new column goes last,
    where ADD COLUMN puts it, in past_classifications too."""

    __tablename__ = "classifications"

    # No foreign key: see migration 0006_lean_classifications.
    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    lifecycle: Mapped[str] = mapped_column(Text)
    z_stage: Mapped[str] = mapped_column(Text)
    abc: Mapped[str] = mapped_column(CHAR(1))
    key_account: Mapped[bool] = mapped_column(Boolean)
    payment: Mapped[str] = mapped_column(Text)
    quadrant: Mapped[str | None] = mapped_column(Text)
    phase: Mapped[str] = mapped_column(Text)
    order_count: Mapped[int] = mapped_column(Integer)
    revenue_12m: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    average_order_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    below_minimum_order_value: Mapped[bool] = mapped_column(Boolean)
    potential: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    first_order_on: Mapped[date | None] = mapped_column(Date)
    last_order_on: Mapped[date | None] = mapped_column(Date)
    recent_revenue: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    previous_revenue: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    reactivated_on: Mapped[date | None] = mapped_column(Date)
    reactivation_gap_days: Mapped[int | None] = mapped_column(Integer)
    interactions: Mapped[int] = mapped_column(Integer)
    invoices: Mapped[int] = mapped_column(Integer)
    average_days_late: Mapped[Decimal | None] = mapped_column(Numeric(8, 1))
    overdue_invoices_12m: Mapped[int] = mapped_column(Integer)
    max_dunning_level: Mapped[int] = mapped_column(SmallInteger)
    erp_key_account: Mapped[bool] = mapped_column(Boolean)
    potential_estimated: Mapped[bool] = mapped_column(Boolean)
    in_top_n: Mapped[bool] = mapped_column(Boolean)
    # What the predictions rest on: days with a booked order, and the spend of all but the first of them.
    purchase_days: Mapped[int] = mapped_column(Integer, server_default="0")
    repeat_spend: Mapped[Decimal] = mapped_column(Numeric(18, 2), server_default="0")
    classified_on: Mapped[date] = mapped_column(Date)
    basis_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PastClassificationRow(Base):
    """A back-dated run's classification of a customer, read by the run's id: the columns of ClassificationRow in
    its order (a run's rows are copied whole into either table), keyed by run and customer."""

    __table__ = Table(
        "past_classifications",
        Base.metadata,
        *(
            Column(
                c.name,
                c.type,
                primary_key=c.name in ("run_id", "customer_id"),
                nullable=c.nullable,
                server_default=c.server_default,
            )
            for c in ClassificationRow.__table__.columns
        ),
    )


class PgSnapshot(UserDefinedType[str]):
    """Postgres's pg_snapshot: which transactions a snapshot sees (read and written as text)."""

    cache_ok = True

    def get_col_spec(self) -> str:
        return "pg_snapshot"


class Xid8(UserDefinedType[int]):
    cache_ok = True

    def get_col_spec(self) -> str:
        return "xid8"


class DayCutPointsRow(Base):
    """The cut points (ABC ends, top N, matrix splits) computed for a day no run was as of, per basis (the
    thresholds and model they were computed with), and the snapshot of the facts they come from: they hold
    while every ingest in fact_writes is visible in it."""

    __tablename__ = "day_cut_points"

    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    basis_key: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    cut_points: Mapped[dict[str, Any]] = mapped_column(JSONB)
    customers: Mapped[int] = mapped_column(BigInteger)
    facts_snapshot: Mapped[str] = mapped_column(PgSnapshot)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FactWriteRow(Base):
    """The transaction of each ingest (its facts changed); pruned once every kept snapshot sees it."""

    __tablename__ = "fact_writes"

    xid: Mapped[int] = mapped_column(Xid8, primary_key=True)


class ClassificationChangeRow(Base):
    __tablename__ = "classification_changes"
    __table_args__ = (
        Index("ix_classification_changes_customer_id_changed_on", "customer_id", "changed_on"),
        Index("ix_classification_changes_attribute_changed_on", "attribute", "changed_on"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    attribute: Mapped[str] = mapped_column(Text)
    from_value: Mapped[str | None] = mapped_column(Text)
    to_value: Mapped[str | None] = mapped_column(Text)
    changed_on: Mapped[date] = mapped_column(Date)
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class PredictionTermRow(Base):
    """The factors of the predictions that depend on a customer only through (repeat purchases, age in days),
    per model and horizons (predictive.scoring)."""

    __tablename__ = "prediction_terms"

    terms_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    repeat_purchases: Mapped[int] = mapped_column(Integer, primary_key=True)
    age_days: Mapped[int] = mapped_column(Integer, primary_key=True)
    purchases: Mapped[float] = mapped_column(Float)
    purchases_12m: Mapped[float] = mapped_column(Float)
    discounted_purchases: Mapped[float] = mapped_column(Float)
