from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Identity, Index, Numeric, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base


class IncentiveRow(Base):
    """Something a campaign offers: its value to the customer, its cost to the company, who may have it."""

    __tablename__ = "incentives"
    __table_args__ = (Index("ix_incentives_offer", "offer"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    key: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    offer: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(Text)
    value: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    value_unit: Mapped[str] = mapped_column(Text)
    cost: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    cost_basis: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(Text)
    credit_based: Mapped[bool] = mapped_column(Boolean, server_default="false")
    eligibility: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
