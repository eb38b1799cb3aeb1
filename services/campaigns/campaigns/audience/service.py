"""Planning: the audience chosen by rules over segmentation's classifications (never the whole base), frozen
with each member's features, scored, ranked and limited.

    P(response)       = posterior mean of the member's Z-stage for the campaign's kind x channel
                        x his probability alive (where segmentation has one; CAMPAIGNS_SCALE_BY_PROBABILITY_ALIVE)
    order value       = expected_order_value, else average_order_value, else the campaign's assumed_order_value
    contribution      = P(response) x order value x contribution margin
    incentive cost    = its cost (per_contact) or P(response) x its cost (per_response)
    expected value    = contribution - cost per contact - incentive cost

The audience stream is COPY'd into a temporary table and scored, ruled, ranked and stored in one INSERT ...
SELECT (audience.repository); a re-plan replaces the frozen audience."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaigns.audience import repository
from campaigns.audience.schemas import EXCLUSION_RULES, Member, Plan
from campaigns.campaigns import repository as campaigns
from campaigns.campaigns import service as campaign_service
from campaigns.campaigns.errors import CampaignNotPlannable, CampaignStateConflict
from campaigns.campaigns.models import CampaignRow
from campaigns.campaigns.schemas import AudienceRules, Campaign
from campaigns.clients.capacity import CapacityClient
from campaigns.clients.segmentation import SegmentationClient
from campaigns.forecast import service as forecasts
from campaigns.gating import service as gating
from campaigns.incentives import repository as incentives
from campaigns.settings import Z_STAGES, CampaignsSettings
from campaigns.types import CENT
from servicekit import clock
from servicekit.pagination import Page, decode_cursor, encode_cursor
from servicekit.sql import SQL

COPY_BATCH = 5000
KIND_DEFAULTS: dict[str, tuple[str, list[str]]] = {
    "reactivation": ("lifecycle", ["lapsed"]),
    "second_order": ("z_stage", ["Z2"]),
    "nurture": ("z_stage", ["Z1"]),
    "loyalty": ("z_stage", ["Z4"]),
    "acquisition": ("z_stage", ["Z0"]),
}
"""What a kind is for (DOMAIN.md), when the rules leave that classification open. complaint_recovery takes
whoever has an open complaint, whatever his classes."""

_LIST_FILTERS = ("lifecycle", "z_stage", "abc", "quadrant", "payment", "phase", "consent")


def segmentation_filters(rules: AudienceRules, kind: str, day: date) -> dict[str, Any]:
    """The query of segmentation's audience stream: the rules' classifications (the kind's default where open),
    revenue and last-order ranges (days ago counted back from the planning day)."""
    params: dict[str, Any] = {name: list(getattr(rules, name)) for name in _LIST_FILTERS if getattr(rules, name)}
    if kind in KIND_DEFAULTS:
        name, values = KIND_DEFAULTS[kind]
        params.setdefault(name, values)
    if rules.key_account is not None:
        params["key_account"] = str(rules.key_account).lower()
    for name in ("min_revenue_12m", "max_revenue_12m"):
        if getattr(rules, name) is not None:
            params[name] = str(getattr(rules, name))
    first, before = rules.last_order_from, rules.last_order_before
    if rules.last_order_days_ago_max is not None:
        since = day - timedelta(days=rules.last_order_days_ago_max)
        first = max(first, since) if first else since
    if rules.last_order_days_ago_min is not None:
        until = day - timedelta(days=rules.last_order_days_ago_min - 1)
        before = min(before, until) if before else until
    if first:
        params["last_order_from"] = first.isoformat()
    if before:
        params["last_order_before"] = before.isoformat()
    return params


async def _incentive_rules(session: AsyncSession, row: CampaignRow) -> list[dict[str, Any]]:
    found = await incentives.by_keys(session, row.incentives)
    out = []
    for order, key in enumerate(row.incentives):
        incentive = found.get(key)
        if incentive is None or not incentive.active:
            raise CampaignNotPlannable(
                f"Incentive {key!r} is {'not active' if incentive else 'gone'}; change the campaign's incentives."
            )
        if incentive.currency != row.currency:
            raise CampaignNotPlannable(f"Incentive {key!r} is in {incentive.currency}, the campaign in {row.currency}.")
        out.append(
            {
                "ord": order,
                "key": key,
                "audience": incentive.audience,
                "cost": str(incentive.cost),
                "cost_basis": incentive.cost_basis,
                "credit_based": incentive.credit_based,
                "eligibility": incentive.eligibility,
            }
        )
    return out


async def score(
    session: AsyncSession,
    row: CampaignRow,
    settings: CampaignsSettings,
    segmentation: SegmentationClient,
    day: date,
    version: int,
    target: SQL = repository.MEMBERS,
) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """Stream the audience into the stage and freeze it scored under `row.id` into `target`. Returns the
    segmentation filters, the customers considered and the response model."""
    rules = AudienceRules.model_validate(row.audience)
    filters = segmentation_filters(rules, row.kind, day)
    response_model = await forecasts.posteriors(session, settings, row.kind, row.channel)
    incentive_rules = await _incentive_rules(session, row)
    recent_since = recent_ids = None
    if rules.no_contact_days:
        recent_since = clock.now() - timedelta(days=rules.no_contact_days)
        recent_ids = sorted(await segmentation.contacted_customers(recent_since))

    await repository.delete_members(session, row.id, target)
    await repository.create_stage(session)
    considered, batch = 0, []
    async for line, member in segmentation.audience(filters):
        batch.append((member["external_id"], line))
        considered += 1
        if len(batch) >= COPY_BATCH:
            await repository.copy_stage(session, batch)
            batch = []
    if batch:
        await repository.copy_stage(session, batch)

    start = row.starts_on or day
    zone_start = datetime.combine(start, datetime.min.time(), ZoneInfo(settings.time_zone))
    cap = timedelta(days=settings.contact_cap_days)
    await repository.freeze(
        session,
        {
            "campaign_id": row.id,
            "code_prefix": str(row.id),
            "code_seed": f"{row.id}:{version}",
            "kind": row.kind,
            "channel": row.channel,
            "stages": list(Z_STAGES),
            "p": [response_model[z].mean for z in Z_STAGES],
            "incentives": json.dumps(incentive_rules),
            "has_incentives": bool(incentive_rules),
            "scale": settings.scale_by_probability_alive,
            "min_alive": rules.min_probability_alive,
            "recent_ids": recent_ids or [],
            "recent_since": recent_since,
            "cap": settings.contact_cap,
            "cap_from": zone_start - cap,
            "cap_to": zone_start + cap,
            "cap_from_day": start - cap,
            "cap_to_day": start + cap,
            "margin": row.contribution_margin if row.contribution_margin is not None else settings.contribution_margin,
            "assumed_order_value": row.assumed_order_value,
            "contact_cost": row.cost_per_contact,
            "override": row.include_negative_value,
            "size_limit": row.size_limit,
            "budget": row.budget,
        },
        target,
    )
    return filters, considered, response_model


async def plan_campaign(
    session: AsyncSession,
    campaign_id: int,
    settings: CampaignsSettings,
    segmentation: SegmentationClient,
    capacity: CapacityClient,
    by: str,
    note: str | None,
) -> Campaign:
    """Freeze the campaign's audience, scored, with the forecast and a what-if at capacity: draft -> planned
    (a planned campaign is planned anew)."""
    row = await campaign_service.load(session, campaign_id, lock=True)
    campaign_service.require_state(row, "planned", ("draft", "planned"))
    if row.starts_on is None or row.ends_on is None:
        raise CampaignNotPlannable("Set starts_on and ends_on before planning: the forecast spreads over them.")
    day = gating.today(settings)
    if row.ends_on < day:
        raise CampaignNotPlannable(f"The campaign's schedule ended on {row.ends_on}; planning needs a future end.")
    version = row.plan_version + 1
    filters, considered, response_model = await score(session, row, settings, segmentation, day, version)

    counts, negative_kept = await repository.exclusion_counts(session, row.id)
    forecast = await forecasts.build_forecast(session, row.id, response_model, max(row.starts_on, day), row.ends_on)
    capacity_check = await gating.check(capacity, forecast, clock.week_of(day))
    plan = Plan(
        version=version,
        planned_at=clock.now(),
        as_of=day,
        segmentation_filters=filters,
        considered=considered,
        included=counts.get(None, 0),
        excluded={rule: counts.get(rule, 0) for rule in EXCLUSION_RULES},
        negative_value_kept=negative_kept,
        response_model=[response_model[z] for z in Z_STAGES],
        forecast=forecast,
        capacity=capacity_check,
    )
    await campaigns.update_fields(
        session,
        row.id,
        {"plan": plan.model_dump(mode="json"), "plan_version": version, "planned_at": plan.planned_at},
    )
    row = await campaign_service.record(session, row, "plan", "planned", by, note)
    return await campaign_service.read(session, row)


# --- members and exports ----------------------------------------------------------------------------------


def member_schema(row: Any) -> Member:
    return Member(
        external_id=row.external_id,
        included=row.excluded_by is None,
        excluded_by=row.excluded_by,
        rank=row.rank,
        z_stage=row.z_stage,
        lifecycle=row.lifecycle,
        p_response=row.p_response,
        order_value=row.order_value,
        expected_contribution=row.expected_contribution,
        contact_cost=row.contact_cost,
        incentive=row.incentive_key,
        incentive_cost=row.incentive_cost,
        expected_value=row.expected_value,
        personal_code=row.personal_code,
        contacted_at=row.contacted_at,
        responded_at=row.responded_at,
        response=row.response,
        features=row.features,
    )


async def list_members(
    session: AsyncSession,
    campaign_id: int,
    included: bool | None,
    excluded_by: str | None,
    outcome: str | None,
    cursor: str | None,
    limit: int,
) -> Page[Member]:
    await campaign_service.load(session, campaign_id)
    position = decode_cursor(cursor, ("rank", "id"))
    after = (int(position["rank"]), str(position["id"])) if position else None
    rows = await repository.members_page(session, campaign_id, included, excluded_by, outcome, after, limit)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor({"rank": last.rank if last.rank is not None else 2**31, "id": last.external_id})
    return Page[Member](items=[member_schema(row) for row in rows[:limit]], next_cursor=next_cursor)


EXPORT_COLUMNS = (
    "campaign_id",
    "campaign",
    "channel",
    "external_id",
    "rank",
    "z_stage",
    "lifecycle",
    "p_response",
    "expected_value",
    "incentive",
    "incentive_name",
    "incentive_value",
    "incentive_value_unit",
    "personal_code",
)
EXPORTABLE = ("approved", "running", "completed")


async def exportable(session: AsyncSession, campaign_id: int) -> CampaignRow:
    row = await campaign_service.load(session, campaign_id)
    if row.state not in EXPORTABLE:
        raise CampaignStateConflict(row.id, row.state, "exported", EXPORTABLE)
    return row


async def export_lines(sessions: async_sessionmaker[AsyncSession], row: CampaignRow, fmt: str) -> AsyncIterator[bytes]:
    """The included members in rank order with their personal incentive, as CSV or NDJSON, streamed."""
    async with sessions() as session, session.begin():
        offered = await incentives.by_keys(session, row.incentives)
        if fmt == "csv":
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerow(EXPORT_COLUMNS)
            yield buffer.getvalue().encode()
        async for partition in repository.stream_included(session, row.id, 2000):
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            for member in partition:
                incentive = offered.get(member.incentive_key) if member.incentive_key else None
                values = {
                    "campaign_id": row.id,
                    "campaign": row.name,
                    "channel": row.channel,
                    "external_id": member.external_id,
                    "rank": member.rank,
                    "z_stage": member.z_stage,
                    "lifecycle": member.lifecycle,
                    "p_response": str(member.p_response),
                    "expected_value": str(member.expected_value.quantize(CENT)),
                    "incentive": member.incentive_key,
                    "incentive_name": incentive.name if incentive else None,
                    "incentive_value": str(incentive.value) if incentive else None,
                    "incentive_value_unit": incentive.value_unit if incentive else None,
                    "personal_code": member.personal_code,
                }
                if fmt == "csv":
                    writer.writerow(["" if values[c] is None else values[c] for c in EXPORT_COLUMNS])
                else:
                    buffer.write(json.dumps(values) + "\n")
            yield buffer.getvalue().encode()
