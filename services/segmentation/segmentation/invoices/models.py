from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CHAR, BigInteger, Date, DateTime, ForeignKey, Identity, Index, Numeric, SmallInteger, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from segmentation.db import SCHEMA, Base


class InvoiceRow(Base):
    __tablename__ = "invoices"
    # Covering: a run reads every invoice per customer from the index alone (migration 0006_lean_classifications).
    __table_args__ = (
        Index(
            "ix_invoices_customer_id_issued_on",
            "customer_id",
            "issued_on",
            postgresql_include=["due_on", "paid_on", "dunning_level"],
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    external_id: Mapped[str] = mapped_column(Text, unique=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(f"{SCHEMA}.customers.id"))
    order_external_id: Mapped[str | None] = mapped_column(Text)
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    paid_on: Mapped[date | None] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(CHAR(3))
    dunning_level: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
