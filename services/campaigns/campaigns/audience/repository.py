"""All SQL of audiences: the staged audience stream, freezing it scored and ranked in one statement, trimming,
counts and sums, pages and exports. Everything set-based: COPY in, INSERT ... SELECT, window functions."""

from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaigns.audience.models import MemberRow
from campaigns.db import SCHEMA
from campaigns.results.models import AttributedOrderRow
from servicekit.sql import SQL, ident

_SCHEMA = ident(SCHEMA)
STAGE = "campaign_audience_stage"
_STAGE = ident(STAGE)
MEMBERS = ident(SCHEMA, "campaign_members")
SCRATCH = ident("campaign_scratch_members")
"""Where suggestions score audiences they do not keep: a temporary table shaped like campaign_members."""


async def create_stage(session: AsyncSession) -> None:
    """A temporary table for the audience stream, gone when the transaction ends."""
    await session.execute(
        SQL("CREATE TEMPORARY TABLE IF NOT EXISTS {stage} (external_id text, doc jsonb) ON COMMIT DROP")
        .format(stage=_STAGE)
        .clause
    )
    await session.execute(SQL("TRUNCATE {stage}").format(stage=_STAGE).clause)


async def copy_stage(session: AsyncSession, records: Sequence[tuple[str, str]]) -> None:
    """COPY (external id, raw JSON line) records into the stage, on the session's own connection."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(STAGE, records=records, columns=["external_id", "doc"])


async def create_scratch(session: AsyncSession) -> None:
    await session.execute(
        SQL("CREATE TEMPORARY TABLE IF NOT EXISTS {scratch} (LIKE {members}) ON COMMIT DROP")
        .format(scratch=SCRATCH, members=MEMBERS)
        .clause
    )


async def delete_members(session: AsyncSession, campaign_id: int, table: SQL = MEMBERS) -> None:
    if table == MEMBERS:
        await session.execute(delete(MemberRow).where(MemberRow.campaign_id == campaign_id))
    else:
        statement = SQL("DELETE FROM {table} WHERE campaign_id = :id").format(table=table)
        await session.execute(statement.clause, {"id": campaign_id})


_ELIGIBLE = SQL("""
    (i.audience = 'all' OR (i.audience = 'existing') = (m.order_count > 0))
    AND (coalesce(jsonb_array_length(i.eligibility->'z_stage'), 0) = 0
         OR i.eligibility->'z_stage' @> to_jsonb(m.z_stage))
    AND (coalesce(jsonb_array_length(i.eligibility->'lifecycle'), 0) = 0
         OR coalesce(i.eligibility->'lifecycle' @> to_jsonb(m.lifecycle), false))
    AND (coalesce(jsonb_array_length(i.eligibility->'abc'), 0) = 0
         OR coalesce(i.eligibility->'abc' @> to_jsonb(m.abc), false))
    AND (coalesce(jsonb_array_length(i.eligibility->'quadrant'), 0) = 0
         OR coalesce(i.eligibility->'quadrant' @> to_jsonb(m.quadrant), false))
    AND (coalesce(jsonb_array_length(i.eligibility->'payment'), 0) = 0
         OR coalesce(i.eligibility->'payment' @> to_jsonb(m.payment), false))
    AND (jsonb_typeof(i.eligibility->'key_account') IS DISTINCT FROM 'boolean'
         OR (i.eligibility->>'key_account')::boolean = m.key_account)""")

_FREEZE = SQL("""
INSERT INTO {target}
    (campaign_id, external_id, features, z_stage, lifecycle, alive_factor, p_response, order_value,
     expected_contribution, contact_cost, incentive_key, incentive_cost, expected_value, rank, excluded_by,
     personal_code)
WITH posterior AS (
    SELECT * FROM unnest(CAST(:stages AS text[]), CAST(:p AS numeric[])) AS t(z_stage, p)),
incentive AS (
    SELECT * FROM jsonb_to_recordset(CAST(:incentives AS jsonb))
        AS t(ord int, key text, audience text, cost numeric, cost_basis text, credit_based boolean, eligibility jsonb)),
member AS (
    SELECT DISTINCT ON (s.external_id) s.external_id, s.doc,
           coalesce(s.doc->>'z_stage', 'Z0') AS z_stage, s.doc->>'lifecycle' AS lifecycle, s.doc->>'abc' AS abc,
           s.doc->>'quadrant' AS quadrant, s.doc->>'payment' AS payment,
           coalesce((s.doc->>'key_account')::boolean, false) AS key_account,
           coalesce((s.doc->>'order_count')::int, 0) AS order_count,
           (s.doc->>'probability_alive')::numeric AS probability_alive,
           coalesce((s.doc->>'open_complaint')::boolean, false) AS open_complaint,
           coalesce(CASE CAST(:channel AS text)
               WHEN 'email' THEN (s.doc->>'consent_email')::boolean
               WHEN 'phone' THEN (s.doc->>'consent_phone')::boolean
               WHEN 'post' THEN (s.doc->>'consent_post')::boolean
               WHEN 'visit' THEN (s.doc->>'consent_phone')::boolean
               WHEN 'event' THEN (s.doc->>'consent_post')::boolean OR (s.doc->>'consent_email')::boolean
           END, false) AS consented,
           coalesce((s.doc->>'expected_order_value')::numeric, (s.doc->>'average_order_value')::numeric,
                    CAST(:assumed_order_value AS numeric), 0) AS order_value
    FROM {stage} s
    ORDER BY s.external_id),
near_contacts AS (
    SELECT m.external_id, count(*) AS n
    FROM {schema}.campaign_members m JOIN {schema}.campaigns c ON c.id = m.campaign_id
    WHERE m.excluded_by IS NULL AND m.campaign_id <> :campaign_id AND c.kind <> 'complaint_recovery'
      AND m.external_id IN (SELECT external_id FROM {stage})
      AND (m.contacted_at > :cap_from AND m.contacted_at < :cap_to
           OR m.contacted_at IS NULL AND c.state IN ('approved', 'running')
              AND c.starts_on > CAST(:cap_from_day AS date) AND c.starts_on < CAST(:cap_to_day AS date))
    GROUP BY m.external_id),
recent AS (
    SELECT unnest(CAST(:recent_ids AS text[])) AS external_id
    UNION
    SELECT m.external_id FROM {schema}.campaign_members m
    WHERE CAST(:recent_since AS timestamptz) IS NOT NULL AND m.excluded_by IS NULL
      AND m.contacted_at >= CAST(:recent_since AS timestamptz)
      AND m.external_id IN (SELECT external_id FROM {stage})),
scored AS (
    SELECT m.*, pz.p AS base_p,
           CASE WHEN CAST(:scale AS boolean) AND m.probability_alive IS NOT NULL
                THEN least(greatest(m.probability_alive, 0), 1) ELSE 1 END AS alive_factor,
           inc.key AS incentive_key, coalesce(inc.cost, 0) AS incentive_price, inc.cost_basis,
           any_inc.key IS NOT NULL AS eligible_ignoring_payment,
           coalesce(nc.n, 0) AS near_contacts, r.external_id IS NOT NULL AS recently_contacted
    FROM member m
    JOIN posterior pz ON pz.z_stage = m.z_stage
    LEFT JOIN LATERAL (
        SELECT i.key, i.cost, i.cost_basis FROM incentive i
        WHERE {eligible} AND NOT (i.credit_based AND m.payment IS NOT DISTINCT FROM 'prepayment_only')
        ORDER BY i.ord LIMIT 1) inc ON true
    LEFT JOIN LATERAL (SELECT i.key FROM incentive i WHERE {eligible} LIMIT 1) any_inc ON true
    LEFT JOIN near_contacts nc ON nc.external_id = m.external_id
    LEFT JOIN (SELECT DISTINCT external_id FROM recent) r ON r.external_id = m.external_id),
valued AS (
    SELECT s.*, round(s.base_p * s.alive_factor, 8) AS p FROM scored s),
costed AS (
    SELECT v.*, CAST(:contact_cost AS numeric) AS contact_cost,
           v.p * v.order_value * CAST(:margin AS numeric) AS contribution,
           CASE v.cost_basis WHEN 'per_contact' THEN v.incentive_price
                             WHEN 'per_response' THEN v.p * v.incentive_price ELSE 0 END AS incentive_cost,
           CASE
               WHEN CAST(:min_alive AS numeric) IS NOT NULL AND v.probability_alive < CAST(:min_alive AS numeric)
                   THEN 'probability_alive_below_minimum'
               WHEN v.recently_contacted THEN 'recent_contact'
               WHEN NOT v.consented THEN 'no_consent'
               WHEN CAST(:kind AS text) <> 'complaint_recovery' AND v.open_complaint THEN 'open_complaint'
               WHEN CAST(:kind AS text) = 'complaint_recovery' AND NOT v.open_complaint THEN 'no_open_complaint'
               WHEN CAST(:kind AS text) <> 'complaint_recovery' AND v.near_contacts >= CAST(:cap AS int)
                   THEN 'contact_cap'
               WHEN CAST(:has_incentives AS boolean) AND v.incentive_key IS NULL AND v.eligible_ignoring_payment
                   THEN 'prepayment_only'
               WHEN CAST(:has_incentives AS boolean) AND v.incentive_key IS NULL THEN 'not_eligible_for_incentive'
           END AS ruled_out
    FROM valued v),
evaluated AS (
    SELECT c.*, round(c.contribution - c.contact_cost - c.incentive_cost, 4) AS ev FROM costed c),
ranked AS (
    SELECT e.*,
           CASE WHEN e.ruled_out IS NULL
                THEN row_number() OVER (PARTITION BY e.ruled_out IS NULL ORDER BY e.ev DESC, e.external_id) END AS rnk,
           coalesce(e.ruled_out,
                    CASE WHEN e.ev < 0 AND NOT CAST(:override AS boolean) THEN 'negative_expected_value' END) AS out2
    FROM evaluated e),
limited AS (
    SELECT r.*,
           row_number() OVER (PARTITION BY r.out2 IS NULL ORDER BY r.rnk) AS kept,
           sum(r.contact_cost + r.incentive_cost)
               OVER (PARTITION BY r.out2 IS NULL ORDER BY r.rnk ROWS UNBOUNDED PRECEDING) AS spent
    FROM ranked r),
decided AS (
    SELECT l.*, coalesce(l.out2,
        CASE WHEN CAST(:size_limit AS int) IS NOT NULL AND l.kept > CAST(:size_limit AS int) THEN 'size_limit'
             WHEN CAST(:budget AS numeric) IS NOT NULL AND l.spent > CAST(:budget AS numeric) THEN 'budget'
        END) AS excluded_by
    FROM limited l)
SELECT CAST(:campaign_id AS bigint), d.external_id, d.doc, d.z_stage, d.lifecycle, d.alive_factor, d.p,
       round(d.order_value, 2), d.contribution, d.contact_cost, d.incentive_key, d.incentive_cost, d.ev, d.rnk,
       d.excluded_by,
       CASE WHEN d.excluded_by IS NULL AND d.incentive_key IS NOT NULL
            THEN 'C' || CAST(:code_prefix AS text) || '-' || upper(substr(md5(
                CAST(:code_seed AS text) || ':' || d.external_id), 1, 8)) END
FROM decided d""")


async def freeze(session: AsyncSession, params: dict[str, Any], target: SQL = MEMBERS) -> None:
    """Score every staged member, apply the rules, rank and limit, and store the audience, in one statement."""
    statement = _FREEZE.format(target=target, stage=_STAGE, schema=_SCHEMA, eligible=_ELIGIBLE)
    await session.execute(statement.clause, params)


async def exclusion_counts(
    session: AsyncSession, campaign_id: int, table: SQL = MEMBERS
) -> tuple[dict[str | None, int], int]:
    """Members per exclusion rule (None: included), and the included ones with a negative expected value."""
    rows = await session.execute(
        SQL("""SELECT excluded_by, count(*), count(*) FILTER (WHERE expected_value < 0) FROM {table}
               WHERE campaign_id = :id GROUP BY excluded_by""")
        .format(table=table)
        .clause,
        {"id": campaign_id},
    )
    counts, negative = {}, 0
    for rule, count, below_zero in rows:
        counts[rule] = int(count)
        if rule is None:
            negative = int(below_zero)
    return counts, negative


async def forecast_sums(session: AsyncSession, campaign_id: int, table: SQL = MEMBERS) -> list[Any]:
    """Per Z-stage over the included members: members, sum P, sum P x order value, contribution, costs."""
    rows = await session.execute(
        SQL("""SELECT z_stage, count(*), sum(p_response), sum(p_response * order_value),
                      sum(expected_contribution), sum(contact_cost), sum(incentive_cost)
               FROM {table} WHERE campaign_id = :id AND excluded_by IS NULL GROUP BY z_stage""")
        .format(table=table)
        .clause,
        {"id": campaign_id},
    )
    return list(rows)


async def trim(session: AsyncSession, campaign_id: int, keep_orders: Decimal) -> int:
    """Leave out the included members beyond `keep_orders` expected orders, lowest expected value first: those
    whose running sum of P(response) in rank order exceeds it. Returns how many were cut."""
    result = await session.execute(
        SQL("""
            UPDATE {members} m SET excluded_by = 'capacity'
            FROM (SELECT external_id,
                         sum(p_response) OVER (ORDER BY rank, external_id ROWS UNBOUNDED PRECEDING) AS running
                  FROM {members}
                  WHERE campaign_id = :id AND excluded_by IS NULL) k
            WHERE m.campaign_id = :id AND m.external_id = k.external_id AND k.running > :keep""")
        .format(members=MEMBERS)
        .clause,
        {"id": campaign_id, "keep": keep_orders},
    )
    return result.rowcount  # type: ignore[attr-defined]


def members_query(
    campaign_id: int, included: bool | None, excluded_by: str | None, outcome: str | None
) -> Select[tuple[MemberRow]]:
    query = select(MemberRow).where(MemberRow.campaign_id == campaign_id)
    if included is not None:
        query = query.where(MemberRow.excluded_by.is_(None) if included else MemberRow.excluded_by.is_not(None))
    if excluded_by is not None:
        query = query.where(MemberRow.excluded_by == excluded_by)
    bought = exists().where(
        AttributedOrderRow.campaign_id == MemberRow.campaign_id, AttributedOrderRow.external_id == MemberRow.external_id
    )
    if outcome == "contacted":
        query = query.where(MemberRow.contacted_at.is_not(None))
    elif outcome == "responded":
        query = query.where(MemberRow.responded_at.is_not(None) | bought)
    elif outcome == "bought":
        query = query.where(bought)
    elif outcome == "reactivated":
        query = query.where(MemberRow.lifecycle == "lapsed", bought)
    return query


async def members_page(
    session: AsyncSession,
    campaign_id: int,
    included: bool | None,
    excluded_by: str | None,
    outcome: str | None,
    after: tuple[int, str] | None,
    limit: int,
) -> list[MemberRow]:
    """Members in rank order (unranked last, by external id), up to limit + 1 after the position `after`
    (rank, with 2**31 for unranked, and external id)."""
    order = func.coalesce(MemberRow.rank, 2**31)
    query = members_query(campaign_id, included, excluded_by, outcome)
    if after is not None:
        query = query.where((order > after[0]) | ((order == after[0]) & (MemberRow.external_id > after[1])))
    return list(await session.scalars(query.order_by(order, MemberRow.external_id).limit(limit + 1)))


async def stream_included(session: AsyncSession, campaign_id: int, batch: int) -> AsyncIterator[Sequence[Any]]:
    """The included members in rank order, batch by batch from a server-side cursor."""
    query = (
        select(MemberRow)
        .where(MemberRow.campaign_id == campaign_id, MemberRow.excluded_by.is_(None))
        .order_by(MemberRow.rank, MemberRow.external_id)
        .execution_options(yield_per=batch)
    )
    result = await session.stream_scalars(query)
    async for partition in result.partitions():
        yield partition
