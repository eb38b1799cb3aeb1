from datetime import datetime
from decimal import Decimal

from sqlalchemy import CHAR, BigInteger, DateTime, ForeignKey, Identity, Numeric, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from segmentation.db import SCHEMA, Base


class OrderRow(Base):
    __tablename__ = "orders"
    # Indexed per customer and calendar day in the company's time zone, covering what a run reads: an index that
    # follows a setting, so it is not declared here (segmentation.orderdays.index,
    # migration 0011_orders_day_index).

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    external_id: Mapped[str] = mapped_column(Text, unique=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(f"{SCHEMA}.customers.id"))
    ordered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    net_amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(CHAR(3))
    # Sums over millions of orders are several times faster over whole cents than over numeric amounts.
    # The net amount in cents of the base currency, converted when stored (segmentation.money): what runs sum.
    net_cents: Mapped[int] = mapped_column(BigInteger)
    contribution_margin: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    status: Mapped[str] = mapped_column(Text, server_default="booked")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
