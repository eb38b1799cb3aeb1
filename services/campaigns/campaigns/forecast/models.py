from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, Numeric, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import SCHEMA, Base


class ObservationRow(Base):
    """What one campaign measured per Z-stage: members contacted, their exposure (contacts weighted by the
    probability alive the prediction used) and responses. The posterior is the prior plus all of these."""

    __tablename__ = "response_observations"
    __table_args__ = (Index("ix_response_observations_kind_channel", "kind", "channel"),)

    campaign_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey(f"{SCHEMA}.campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    z_stage: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    contacts: Mapped[int] = mapped_column(Integer)
    exposure: Mapped[Decimal] = mapped_column(Numeric(16, 6))
    responses: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
