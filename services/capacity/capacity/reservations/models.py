from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Numeric,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from capacity.db import SCHEMA, Base


class ReservationRow(Base):
    """A campaign's claim on capacity: held (until expires_at) -> confirmed -> consumed, or released/expired."""

    __tablename__ = "reservations"
    __table_args__ = (UniqueConstraint("idempotency_scope", "idempotency_key"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    campaign: Mapped[str] = mapped_column(Text, index=True)
    state: Mapped[str] = mapped_column(Text)
    allow_partial: Mapped[bool] = mapped_column(Boolean)
    partial: Mapped[bool] = mapped_column(Boolean, server_default=false())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    idempotency_scope: Mapped[str] = mapped_column(Text, server_default="")  # whose key: servicekit.signing.Caller
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    request_fingerprint: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ReservationLineRow(Base):
    __tablename__ = "reservation_lines"

    reservation_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey(f"{SCHEMA}.reservations.id", ondelete="CASCADE"), primary_key=True
    )
    resource_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey(f"{SCHEMA}.resources.id", ondelete="CASCADE"), primary_key=True
    )
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)
    requested: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    granted: Mapped[Decimal] = mapped_column(Numeric(14, 2))


class ResourceWeekRow(Base):
    """One row per resource and week ever reserved: whoever changes what counts against a cell's headroom
    locks its row first, so that grants for one cell happen one after another."""

    __tablename__ = "resource_weeks"

    resource_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey(f"{SCHEMA}.resources.id", ondelete="CASCADE"), primary_key=True
    )
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)
    last_reserved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
