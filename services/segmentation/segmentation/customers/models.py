from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CHAR, BigInteger, Boolean, Date, DateTime, Identity, Numeric, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from segmentation.db import Base


class CustomerRow(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    external_id: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(Text)
    first_contact_on: Mapped[date | None] = mapped_column(Date)
    revenue_potential: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    revenue_potential_currency: Mapped[str | None] = mapped_column(CHAR(3))
    key_account: Mapped[bool] = mapped_column(Boolean, server_default="false")
    consent_email: Mapped[bool] = mapped_column(Boolean, server_default="false")
    consent_phone: Mapped[bool] = mapped_column(Boolean, server_default="false")
    consent_post: Mapped[bool] = mapped_column(Boolean, server_default="false")
    auto_created: Mapped[bool] = mapped_column(Boolean, server_default="false")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
