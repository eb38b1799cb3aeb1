import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, Integer, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from segmentation.db import Base


class FitRow(Base):
    """One fit of both models; the newest succeeded one is the current model."""

    __tablename__ = "predictive_fits"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid())
    status: Mapped[str] = mapped_column(Text, server_default="running")
    calibration_end: Mapped[date] = mapped_column(Date)
    time_zone: Mapped[str] = mapped_column(Text)
    customers: Mapped[int | None] = mapped_column(Integer)
    repeat_customers: Mapped[int | None] = mapped_column(Integer)
    purchases: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    spend: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    holdout_end: Mapped[date | None] = mapped_column(Date)
    holdout: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
