from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import SCHEMA, Base


class CampaignRow(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_state_id", "state", "id"),
        UniqueConstraint("idempotency_scope", "idempotency_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text, server_default="draft")
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)
    audience: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    incentives: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    currency: Mapped[str] = mapped_column(Text, server_default="EUR")
    budget: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    cost_per_contact: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default="0")
    contribution_margin: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))
    assumed_order_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    size_limit: Mapped[int | None] = mapped_column(Integer)
    include_negative_value: Mapped[bool] = mapped_column(Boolean, server_default="false")
    capacity_policy: Mapped[str] = mapped_column(Text, server_default="trim")
    attribution_window_days: Mapped[int] = mapped_column(Integer, server_default="60")
    plan_version: Mapped[int] = mapped_column(Integer, server_default="0")
    planned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    reservation: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    attribution: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_by: Mapped[str | None] = mapped_column(Text)
    idempotency_scope: Mapped[str] = mapped_column(Text, server_default="")  # whose key: servicekit.signing.Caller
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    request_fingerprint: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CampaignEventRow(Base):
    """One change of a campaign's state: what was done, by whom and when."""

    __tablename__ = "campaign_events"
    __table_args__ = (Index("ix_campaign_events_campaign_id_id", "campaign_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigInteger, ForeignKey(f"{SCHEMA}.campaigns.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(Text)
    from_state: Mapped[str | None] = mapped_column(Text)
    to_state: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    note: Mapped[str | None] = mapped_column(Text)
