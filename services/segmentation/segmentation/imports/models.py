import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from segmentation.db import SCHEMA, Base


class ImportRow(Base):
    __tablename__ = "imports"
    __table_args__ = (UniqueConstraint("entity", "idempotency_scope", "idempotency_key"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid())
    entity: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="receiving")
    idempotency_scope: Mapped[str] = mapped_column(Text, server_default="")  # whose key: servicekit.signing.Caller
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    create_missing_customers: Mapped[bool] = mapped_column(Boolean, server_default="false")
    bytes_received: Mapped[int] = mapped_column(BigInteger, server_default="0")
    rows_received: Mapped[int] = mapped_column(BigInteger, server_default="0")
    rows_accepted: Mapped[int] = mapped_column(BigInteger, server_default="0")
    rows_rejected: Mapped[int] = mapped_column(BigInteger, server_default="0")
    rows_created: Mapped[int] = mapped_column(BigInteger, server_default="0")
    rows_updated: Mapped[int] = mapped_column(BigInteger, server_default="0")
    rows_unchanged: Mapped[int] = mapped_column(BigInteger, server_default="0")
    customers_created: Mapped[int] = mapped_column(BigInteger, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ImportErrorRow(Base):
    __tablename__ = "import_errors"

    import_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.imports.id", ondelete="CASCADE"), primary_key=True
    )
    line: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    field: Mapped[str] = mapped_column(Text, primary_key=True)
    message: Mapped[str] = mapped_column(Text)
