"""All SQL of the response priors: what campaigns measured, summed per group, and recording it."""

from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaigns.db import SCHEMA
from campaigns.forecast.models import ObservationRow
from servicekit.sql import SQL, ident

_SCHEMA = ident(SCHEMA)


async def observed(session: AsyncSession, kind: str | None, channel: str | None) -> list[Any]:
    """(kind, channel, z_stage, campaigns, contacts, exposure, responses) summed over completed campaigns."""
    query = select(
        ObservationRow.kind,
        ObservationRow.channel,
        ObservationRow.z_stage,
        func.count(),
        func.sum(ObservationRow.contacts),
        func.sum(ObservationRow.exposure),
        func.sum(ObservationRow.responses),
    ).group_by(ObservationRow.kind, ObservationRow.channel, ObservationRow.z_stage)
    if kind is not None:
        query = query.where(ObservationRow.kind == kind)
    if channel is not None:
        query = query.where(ObservationRow.channel == channel)
    return list(await session.execute(query))


async def record(session: AsyncSession, campaign_id: int, kind: str, channel: str) -> None:
    """Replace what the campaign taught the priors with what its members show now, per Z-stage: contacted
    members, their exposure (sum of the probability-alive factors their P(response) was scaled by) and those
    who responded (a recorded response or an attributed order)."""
    params = {"id": campaign_id, "kind": kind, "channel": channel}
    await session.execute(delete(ObservationRow).where(ObservationRow.campaign_id == campaign_id))
    await session.execute(
        SQL("""
            INSERT INTO {schema}.response_observations
                   (campaign_id, z_stage, kind, channel, contacts, exposure, responses)
            SELECT m.campaign_id, m.z_stage, :kind, :channel, count(*), sum(m.alive_factor),
                   count(*) FILTER (WHERE m.responded_at IS NOT NULL OR EXISTS (
                       SELECT 1 FROM {schema}.attributed_orders a
                       WHERE a.campaign_id = m.campaign_id AND a.external_id = m.external_id))
            FROM {schema}.campaign_members m
            WHERE m.campaign_id = :id AND m.excluded_by IS NULL AND m.contacted_at IS NOT NULL
            GROUP BY m.campaign_id, m.z_stage""")
        .format(schema=_SCHEMA)
        .clause,
        params,
    )


def as_decimal(value: Any) -> Decimal:
    return Decimal(value or 0)
