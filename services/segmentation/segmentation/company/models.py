from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, SmallInteger, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from segmentation.db import Base


class SettingsRow(Base):
    """The one row (id 1) of the company's configuration; absent until the first PUT, meaning the defaults."""

    __tablename__ = "settings"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
