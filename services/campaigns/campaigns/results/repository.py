"""All SQL of execution and measurement: contacts and responses (set-based, from arrays), the staged order
facts, attribution in one statement, and the figures of the results."""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from campaigns.db import SCHEMA
from servicekit.sql import SQL, ident

_SCHEMA = ident(SCHEMA)
ORDER_STAGE = "campaign_order_stage"
_STAGE = ident(ORDER_STAGE)


async def contact_all(session: AsyncSession, campaign_id: int, at: datetime) -> int:
    result = await session.execute(
        SQL("""UPDATE {schema}.campaign_members SET contacted_at = :at
               WHERE campaign_id = :id AND excluded_by IS NULL AND contacted_at IS NULL""")
        .format(schema=_SCHEMA)
        .clause,
        {"id": campaign_id, "at": at},
    )
    return result.rowcount  # type: ignore[attr-defined]


async def record_contacts(session: AsyncSession, campaign_id: int, ids: list[str], ats: list[datetime]) -> set[str]:
    """Set the contact time of the named included members; returns the ids that matched one."""
    rows = await session.execute(
        SQL("""
            UPDATE {schema}.campaign_members m SET contacted_at = v.at
            FROM unnest(CAST(:ids AS text[]), CAST(:ats AS timestamptz[])) AS v(external_id, at)
            WHERE m.campaign_id = :id AND m.external_id = v.external_id AND m.excluded_by IS NULL
            RETURNING m.external_id""")
        .format(schema=_SCHEMA)
        .clause,
        {"id": campaign_id, "ids": ids, "ats": ats},
    )
    return {row[0] for row in rows}


async def record_responses(
    session: AsyncSession, campaign_id: int, ids: list[str], ats: list[datetime], kinds: list[str]
) -> set[str]:
    """Set the response of the named contacted members; returns the ids that matched one."""
    rows = await session.execute(
        SQL("""
            UPDATE {schema}.campaign_members m SET responded_at = v.at, response = v.kind
            FROM unnest(CAST(:ids AS text[]), CAST(:ats AS timestamptz[]), CAST(:kinds AS text[]))
                 AS v(external_id, at, kind)
            WHERE m.campaign_id = :id AND m.external_id = v.external_id AND m.excluded_by IS NULL
              AND m.contacted_at IS NOT NULL
            RETURNING m.external_id""")
        .format(schema=_SCHEMA)
        .clause,
        {"id": campaign_id, "ids": ids, "ats": ats, "kinds": kinds},
    )
    return {row[0] for row in rows}


async def included_ids(session: AsyncSession, campaign_id: int, ids: list[str]) -> set[str]:
    rows = await session.execute(
        SQL("""SELECT external_id FROM {schema}.campaign_members
               WHERE campaign_id = :id AND excluded_by IS NULL AND external_id = ANY(CAST(:ids AS text[]))""")
        .format(schema=_SCHEMA)
        .clause,
        {"id": campaign_id, "ids": ids},
    )
    return {row[0] for row in rows}


async def contact_span(session: AsyncSession, campaign_id: int) -> tuple[datetime | None, datetime | None]:
    row = (
        await session.execute(
            SQL("""SELECT min(contacted_at), max(contacted_at) FROM {schema}.campaign_members
                   WHERE campaign_id = :id AND excluded_by IS NULL""")
            .format(schema=_SCHEMA)
            .clause,
            {"id": campaign_id},
        )
    ).one()
    return row[0], row[1]


async def contacted_ids(session: AsyncSession, campaign_id: int) -> set[str]:
    rows = await session.execute(
        SQL("""SELECT external_id FROM {schema}.campaign_members
               WHERE campaign_id = :id AND excluded_by IS NULL AND contacted_at IS NOT NULL""")
        .format(schema=_SCHEMA)
        .clause,
        {"id": campaign_id},
    )
    return {row[0] for row in rows}


async def create_order_stage(session: AsyncSession) -> None:
    await session.execute(
        SQL("""CREATE TEMPORARY TABLE IF NOT EXISTS {stage}
               (external_id text, customer text, ordered_at timestamptz, net_amount numeric,
                contribution_margin numeric, currency text) ON COMMIT DROP""")
        .format(stage=_STAGE)
        .clause
    )
    await session.execute(SQL("TRUNCATE {stage}").format(stage=_STAGE).clause)


async def copy_orders(session: AsyncSession, records: Sequence[tuple[Any, ...]]) -> None:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(
        ORDER_STAGE,
        records=records,
        columns=["external_id", "customer", "ordered_at", "net_amount", "contribution_margin", "currency"],
    )


async def attribute(session: AsyncSession, campaign_id: int, window_days: int, margin: Decimal) -> int:
    """Replace the campaign's attributed orders: each staged order of an included, contacted member placed at
    or after his contact and before the window closes, unless another campaign contacted him after this one
    and before the order (the last contact before an order takes it). Returns how many."""
    params = {"id": campaign_id, "window": window_days, "margin": margin}
    await session.execute(
        SQL("DELETE FROM {schema}.attributed_orders WHERE campaign_id = :id").format(schema=_SCHEMA).clause, params
    )
    result = await session.execute(
        SQL("""
            INSERT INTO {schema}.attributed_orders
                   (campaign_id, order_external_id, external_id, ordered_at, net_amount, contribution, currency)
            SELECT DISTINCT ON (o.external_id) m.campaign_id, o.external_id, o.customer, o.ordered_at, o.net_amount,
                   coalesce(o.contribution_margin, round(o.net_amount * CAST(:margin AS numeric), 2)), o.currency
            FROM {stage} o
            JOIN {schema}.campaign_members m
              ON m.campaign_id = :id AND m.external_id = o.customer AND m.excluded_by IS NULL
             AND m.contacted_at IS NOT NULL
            WHERE o.ordered_at >= m.contacted_at
              AND o.ordered_at < m.contacted_at + make_interval(days => CAST(:window AS int))
              AND NOT EXISTS (
                  SELECT 1 FROM {schema}.campaign_members later
                  WHERE later.external_id = m.external_id AND later.campaign_id <> m.campaign_id
                    AND later.excluded_by IS NULL
                    AND later.contacted_at > m.contacted_at AND later.contacted_at <= o.ordered_at)
            ORDER BY o.external_id""")
        .format(schema=_SCHEMA, stage=_STAGE)
        .clause,
        params,
    )
    return result.rowcount  # type: ignore[attr-defined]


async def actual(session: AsyncSession, campaign_id: int, currency: str) -> list[Any]:
    """Per Z-stage: contacts, responders (a recorded response or an attributed order), orders, revenue and
    contribution in the campaign's currency, contact and incentive cost, reactivated lapsed members."""
    rows = await session.execute(
        SQL("""
            WITH bought AS (
                SELECT external_id, count(*) AS orders, sum(net_amount) AS revenue, sum(contribution) AS contribution
                FROM {schema}.attributed_orders
                WHERE campaign_id = :id AND currency = :currency
                GROUP BY external_id)
            SELECT m.z_stage,
                   count(*) FILTER (WHERE m.contacted_at IS NOT NULL) AS contacts,
                   count(*) FILTER (WHERE m.contacted_at IS NOT NULL
                                    AND (m.responded_at IS NOT NULL OR b.orders IS NOT NULL)) AS responses,
                   coalesce(sum(b.orders), 0) AS orders,
                   coalesce(sum(b.revenue), 0) AS revenue,
                   coalesce(sum(b.contribution), 0) AS contribution,
                   coalesce(sum(m.contact_cost) FILTER (WHERE m.contacted_at IS NOT NULL), 0) AS contact_cost,
                   coalesce(sum(i.cost) FILTER (WHERE m.contacted_at IS NOT NULL AND (i.cost_basis = 'per_contact'
                       OR m.responded_at IS NOT NULL OR b.orders IS NOT NULL)), 0) AS incentive_cost,
                   count(*) FILTER (WHERE m.lifecycle = 'lapsed' AND b.orders IS NOT NULL) AS reactivated
            FROM {schema}.campaign_members m
            LEFT JOIN bought b ON b.external_id = m.external_id
            LEFT JOIN {schema}.incentives i ON i.key = m.incentive_key
            WHERE m.campaign_id = :id AND m.excluded_by IS NULL
            GROUP BY m.z_stage
            ORDER BY m.z_stage""")
        .format(schema=_SCHEMA)
        .clause,
        {"id": campaign_id, "currency": currency},
    )
    return list(rows)


async def other_currency_orders(session: AsyncSession, campaign_id: int, currency: str) -> int:
    return int(
        await session.scalar(
            SQL("SELECT count(*) FROM {schema}.attributed_orders WHERE campaign_id = :id AND currency <> :c")
            .format(schema=_SCHEMA)
            .clause,
            {"id": campaign_id, "c": currency},
        )
        or 0
    )


async def responses_of_running(connection: AsyncConnection) -> list[Any]:
    """(campaign id, responders, expected responses) of every running campaign, for the gauges."""
    rows = await connection.execute(
        SQL("""
            SELECT c.id, count(m.external_id) FILTER (WHERE m.responded_at IS NOT NULL OR EXISTS (
                       SELECT 1 FROM {schema}.attributed_orders a
                       WHERE a.campaign_id = c.id AND a.external_id = m.external_id)),
                   c.plan->'forecast'->>'expected_responses'
            FROM {schema}.campaigns c
            LEFT JOIN {schema}.campaign_members m ON m.campaign_id = c.id AND m.excluded_by IS NULL
            WHERE c.state = 'running'
            GROUP BY c.id""")
        .format(schema=_SCHEMA)
        .clause
    )
    return list(rows)
