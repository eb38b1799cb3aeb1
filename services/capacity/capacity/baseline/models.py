from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Identity, Integer, Numeric, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from capacity.db import SCHEMA, Base


class ForecastRow(Base):
    """One forecast of the existing customers' orders per week; the newest is the baseline."""

    __tablename__ = "forecasts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    source: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(Text)
    first_week: Mapped[date] = mapped_column(Date)
    weeks: Mapped[int] = mapped_column(Integer)
    history_first_week: Mapped[date] = mapped_column(Date)
    history_last_week: Mapped[date] = mapped_column(Date)
    customers: Mapped[int] = mapped_column(Integer)
    fit_id: Mapped[str | None] = mapped_column(Text)
    fitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    backtest: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class ForecastWeekRow(Base):
    __tablename__ = "forecast_weeks"

    forecast_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey(f"{SCHEMA}.forecasts.id", ondelete="CASCADE"), primary_key=True
    )
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)
    expected_orders: Mapped[Decimal] = mapped_column(Numeric(14, 2))


class ForecastShareRow(Base):
    """The share of the existing customers' orders placed by customers of one ABC class (from the history)."""

    __tablename__ = "forecast_group_shares"

    forecast_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey(f"{SCHEMA}.forecasts.id", ondelete="CASCADE"), primary_key=True
    )
    abc_class: Mapped[str] = mapped_column(Text, primary_key=True)
    share: Mapped[Decimal] = mapped_column(Numeric(7, 6))


class AdjustmentRow(Base):
    """A known change of one week's demand on a resource (a large order announced), on top of the forecast."""

    __tablename__ = "baseline_adjustments"
    __table_args__ = (UniqueConstraint("idempotency_scope", "idempotency_key"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    resource_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(f"{SCHEMA}.resources.id", ondelete="CASCADE"))
    week_start: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    reason: Mapped[str] = mapped_column(Text)
    idempotency_scope: Mapped[str] = mapped_column(Text, server_default="")  # whose key: servicekit.signing.Caller
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    request_fingerprint: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
