from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, Numeric, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import SCHEMA, Base


class MemberRow(Base):
    """A customer in a campaign's audience as frozen at planning: his features (segmentation's audience line),
    his score, whether he is in (excluded_by null) or which rule left him out, and what happened."""

    __tablename__ = "campaign_members"
    __table_args__ = (
        Index("ix_campaign_members_campaign_id_rank", "campaign_id", "rank"),
        Index(
            "ix_campaign_members_external_id",
            "external_id",
            postgresql_include=["campaign_id", "contacted_at"],
            postgresql_where=text("excluded_by IS NULL"),
        ),
    )

    campaign_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey(f"{SCHEMA}.campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    external_id: Mapped[str] = mapped_column(Text, primary_key=True)
    features: Mapped[dict[str, Any]] = mapped_column(JSONB)
    z_stage: Mapped[str | None] = mapped_column(Text)
    lifecycle: Mapped[str | None] = mapped_column(Text)
    alive_factor: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    p_response: Mapped[Decimal] = mapped_column(Numeric(9, 8))
    order_value: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    expected_contribution: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    contact_cost: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    incentive_key: Mapped[str | None] = mapped_column(Text)
    incentive_cost: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    expected_value: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    rank: Mapped[int | None] = mapped_column(Integer)
    excluded_by: Mapped[str | None] = mapped_column(Text)
    personal_code: Mapped[str | None] = mapped_column(Text)
    contacted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    response: Mapped[str | None] = mapped_column(Text)
