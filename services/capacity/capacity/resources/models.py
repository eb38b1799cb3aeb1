from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Identity, Numeric, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from capacity.db import SCHEMA, Base


class ResourceRow(Base):
    __tablename__ = "resources"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    key: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(Text)
    weekly_capacity: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    load_per_order: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    reserve_share: Mapped[Decimal] = mapped_column(Numeric(5, 4), server_default="0.10")
    new_customer_weekly_load: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class GroupLoadRow(Base):
    """The load of one order of a customer in an ABC class, where it differs from the resource's default."""

    __tablename__ = "resource_group_loads"

    resource_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey(f"{SCHEMA}.resources.id", ondelete="CASCADE"), primary_key=True
    )
    abc_class: Mapped[str] = mapped_column(Text, primary_key=True)
    load_per_order: Mapped[Decimal] = mapped_column(Numeric(14, 4))


class CapacityExceptionRow(Base):
    """A holiday, shutdown or extra shift: a different capacity in every week its dates touch."""

    __tablename__ = "capacity_exceptions"
    __table_args__ = (UniqueConstraint("idempotency_scope", "idempotency_key"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    resource_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(f"{SCHEMA}.resources.id", ondelete="CASCADE"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    capacity: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    delta: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    reason: Mapped[str] = mapped_column(Text)
    idempotency_scope: Mapped[str] = mapped_column(Text, server_default="")  # whose key: servicekit.signing.Caller
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    request_fingerprint: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
