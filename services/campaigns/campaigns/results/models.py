from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Numeric, Text
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import SCHEMA, Base


class AttributedOrderRow(Base):
    """A booked order of a contacted member within the attribution window after his contact (and before any
    later contact by another campaign, which would take it)."""

    __tablename__ = "attributed_orders"
    __table_args__ = (Index("ix_attributed_orders_campaign_id_external_id", "campaign_id", "external_id"),)

    campaign_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey(f"{SCHEMA}.campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    order_external_id: Mapped[str] = mapped_column(Text, primary_key=True)
    external_id: Mapped[str] = mapped_column(Text)
    ordered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    net_amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    contribution: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(Text)
