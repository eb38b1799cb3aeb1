import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from segmentation.db import SCHEMA, Base


class SettingsRow(Base):
    __tablename__ = "settings"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


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


class ClassificationRow(Base):
    __tablename__ = "classifications"
    __table_args__ = tuple(Index(f"ix_classifications_{c}", c) for c in ("lifecycle", "z_stage", "abc", "quadrant"))

    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(f"{SCHEMA}.customers.id"), primary_key=True)
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
    reasons: Mapped[dict[str, Any]] = mapped_column(JSONB)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ClassificationChangeRow(Base):
    __tablename__ = "classification_changes"
    __table_args__ = (
        Index("ix_classification_changes_customer_id_changed_on", "customer_id", "changed_on"),
        Index("ix_classification_changes_attribute_changed_on", "attribute", "changed_on"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(f"{SCHEMA}.customers.id"))
    attribute: Mapped[str] = mapped_column(Text)
    from_value: Mapped[str | None] = mapped_column(Text)
    to_value: Mapped[str | None] = mapped_column(Text)
    changed_on: Mapped[date] = mapped_column(Date)
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
