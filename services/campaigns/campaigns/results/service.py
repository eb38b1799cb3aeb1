"""Execution and measurement: starting (contacts), contacts and responses from mail and CRM tools, attribution
of segmentation's booked orders, results of planned against actual, completion (which teaches the priors).

Attribution: a booked order of an included member counts for the campaign when it is placed at or after his
contact and less than attribution_window_days (default 60) after it, unless another campaign contacted him
later and still before the order (the last contact before an order takes it). Orders are read from
segmentation's order facts, paged by time window over every customer and filtered to the contacted members
here; each attribution replaces the campaign's attributed orders, so a cancelled order drops out."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from campaigns.audience.schemas import Plan
from campaigns.campaigns import repository as campaigns
from campaigns.campaigns import service as campaign_service
from campaigns.campaigns.errors import CampaignStateConflict
from campaigns.campaigns.models import CampaignRow
from campaigns.campaigns.schemas import Campaign
from campaigns.clients.capacity import CapacityClient
from campaigns.clients.segmentation import SegmentationClient
from campaigns.forecast import repository as priors
from campaigns.gating import service as gating
from campaigns.results import repository
from campaigns.results.errors import UnknownMembers
from campaigns.results.schemas import (
    Attribution,
    ContactsIn,
    Figures,
    GroupResult,
    Recorded,
    ResponsesIn,
    Results,
)
from campaigns.settings import Z_STAGES, CampaignsSettings
from campaigns.types import CENT
from servicekit import clock

RECORDING = ("running", "completed")
MEASURABLE = ("running", "completed")


async def start(session: AsyncSession, campaign_id: int, contacts: str, by: str, note: str | None) -> Campaign:
    """approved -> running; with contacts "all" every included member counts as contacted now."""
    row = await campaign_service.load(session, campaign_id, lock=True)
    if row.state == "running":
        return await campaign_service.read(session, row)
    campaign_service.require_state(row, "started", ("approved",))
    if contacts == "all":
        await repository.contact_all(session, row.id, clock.now())
    row = await campaign_service.record(session, row, "start", "running", by, note)
    return await campaign_service.read(session, row)


async def _recording(session: AsyncSession, campaign_id: int) -> CampaignRow:
    row = await campaign_service.load(session, campaign_id, lock=True)
    if row.state not in RECORDING:
        raise CampaignStateConflict(row.id, row.state, "given contacts or responses", RECORDING)
    return row


async def record_contacts(session: AsyncSession, campaign_id: int, body: ContactsIn) -> Recorded:
    row = await _recording(session, campaign_id)
    now = clock.now()
    ids = [c.external_id for c in body.contacts]
    matched = await repository.record_contacts(session, row.id, ids, [c.contacted_at or now for c in body.contacts])
    if missing := [i for i in ids if i not in matched]:
        raise UnknownMembers(missing, "contacts", "member of the campaign's audience")
    return Recorded(recorded=len(matched))


async def record_responses(session: AsyncSession, campaign_id: int, body: ResponsesIn) -> Recorded:
    row = await _recording(session, campaign_id)
    now = clock.now()
    ids = [r.external_id for r in body.responses]
    matched = await repository.record_responses(
        session, row.id, ids, [r.responded_at or now for r in body.responses], [r.response for r in body.responses]
    )
    if missing := [i for i in ids if i not in matched]:
        members = await repository.included_ids(session, row.id, missing)
        uncontacted = [i for i in missing if i in members]
        if uncontacted and len(uncontacted) == len(missing):
            raise UnknownMembers(uncontacted, "responses", "member contacted so far (record the contact first)")
        raise UnknownMembers(missing, "responses", "contacted member of the campaign's audience")
    return Recorded(recorded=len(matched))


def _margin(row: CampaignRow, settings: CampaignsSettings) -> Decimal:
    return row.contribution_margin if row.contribution_margin is not None else settings.contribution_margin


async def attribute(
    session: AsyncSession, row: CampaignRow, settings: CampaignsSettings, segmentation: SegmentationClient
) -> Attribution:
    """Read the booked orders since the first contact and attribute them; completed campaigns teach the priors
    what they show now."""
    first, last = await repository.contact_span(session, row.id)
    now = clock.now()
    read = attributed = 0
    until = None
    await repository.create_order_stage(session)
    if first is not None and last is not None:
        until = min(now, last + timedelta(days=row.attribution_window_days))
        members = await repository.contacted_ids(session, row.id)
        if until > first:
            async for page in segmentation.booked_orders(first, until):
                records = [
                    (
                        o.external_id,
                        o.customer_external_id,
                        o.ordered_at,
                        o.net_amount,
                        o.contribution_margin,
                        o.currency,
                    )
                    for o in page
                    if o.customer_external_id in members and o.status == "booked"
                ]
                if records:
                    await repository.copy_orders(session, records)
                    read += len(records)
    attributed = await repository.attribute(session, row.id, row.attribution_window_days, _margin(row, settings))
    found = Attribution(
        attributed_at=now,
        window_days=row.attribution_window_days,
        orders_from=first,
        orders_before=until,
        orders_read=read,
        orders_attributed=attributed,
    )
    await campaigns.update_fields(session, row.id, {"attribution": found.model_dump(mode="json")})
    if row.state == "completed":
        await priors.record(session, row.id, row.kind, row.channel)
    return found


async def run_attribution(
    session: AsyncSession, campaign_id: int, settings: CampaignsSettings, segmentation: SegmentationClient
) -> Results:
    row = await campaign_service.load(session, campaign_id, lock=True)
    if row.state not in MEASURABLE:
        raise CampaignStateConflict(row.id, row.state, "attributed", MEASURABLE)
    await attribute(session, row, settings, segmentation)
    return await results(session, campaign_id)


async def complete(
    session: AsyncSession,
    campaign_id: int,
    settings: CampaignsSettings,
    segmentation: SegmentationClient,
    capacity: CapacityClient,
    attribute_first: bool,
    by: str,
    note: str | None,
) -> Campaign:
    """running -> completed: orders attributed (unless told not to), the reservation consumed at capacity, and
    what the campaign measured added to the priors of its kind and channel."""
    row = await campaign_service.load(session, campaign_id, lock=True)
    if row.state == "completed":
        return await campaign_service.read(session, row)
    campaign_service.require_state(row, "completed", ("running",))
    if attribute_first:
        await attribute(session, row, settings, segmentation)
    await priors.record(session, row.id, row.kind, row.channel)
    reservation = await gating.consume(capacity, row)
    if reservation != row.reservation:
        await campaigns.update_fields(session, row.id, {"reservation": reservation})
    row = await campaign_service.record(session, row, "complete", "completed", by, note)
    return await campaign_service.read(session, row)


async def cancel(
    session: AsyncSession, campaign_id: int, capacity: CapacityClient, by: str, note: str | None
) -> Campaign:
    """Any state but completed -> cancelled; a reservation at capacity is released first."""
    row = await campaign_service.load(session, campaign_id, lock=True)
    if row.state == "cancelled":
        return await campaign_service.read(session, row)
    campaign_service.require_state(row, "cancelled", ("draft", "planned", "approved", "running"))
    reservation = await gating.release(capacity, row)
    if reservation != row.reservation:
        await campaigns.update_fields(session, row.id, {"reservation": reservation})
    row = await campaign_service.record(session, row, "cancel", "cancelled", by, note)
    return await campaign_service.read(session, row)


def _money(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(CENT, ROUND_HALF_UP)


def _figures(
    contacts: int, responses: Decimal, orders: Decimal, revenue: Decimal, contribution: Decimal, cost: Decimal
) -> Figures:
    net = contribution - cost
    return Figures(
        contacts=contacts,
        responses=responses,
        response_rate=(responses / contacts).quantize(Decimal("0.0001"), ROUND_HALF_UP) if contacts else None,
        orders=orders,
        revenue=_money(revenue),
        contribution=_money(contribution),
        cost=_money(cost),
        net=_money(net),
        roi=(net / cost).quantize(Decimal("0.0001"), ROUND_HALF_UP) if cost > 0 else None,
    )


async def results(session: AsyncSession, campaign_id: int) -> Results:
    row = await campaign_service.load(session, campaign_id)
    plan = Plan.model_validate(row.plan) if row.plan else None
    rows = {r.z_stage: r for r in await repository.actual(session, row.id, row.currency)}
    names = (
        "contacts",
        "responses",
        "orders",
        "revenue",
        "contribution",
        "contact_cost",
        "incentive_cost",
        "reactivated",
    )
    totals = [sum((Decimal(getattr(r, name)) for r in rows.values()), Decimal(0)) for name in names]
    contacts, responses, orders, revenue, contribution, contact_cost, incentive_cost, reactivated = totals
    actual = _figures(int(contacts), responses, orders, revenue, contribution, contact_cost + incentive_cost)
    planned = None
    groups = []
    if plan:
        f = plan.forecast
        planned = _figures(
            f.members,
            f.expected_responses,
            f.expected_orders,
            f.expected_revenue,
            f.expected_contribution,
            f.expected_cost,
        )
        planned_groups = {g.z_stage: g for g in f.by_z_stage}
        for z in Z_STAGES:
            g, r = planned_groups.get(z), rows.get(z)
            if g is None and r is None:
                continue
            groups.append(
                GroupResult(
                    z_stage=z,
                    planned_contacts=g.members if g else 0,
                    planned_responses=g.expected_responses if g else Decimal(0),
                    contacts=int(r.contacts) if r else 0,
                    responses=int(r.responses) if r else 0,
                )
            )
    return Results(
        campaign_id=row.id,
        state=row.state,
        currency=row.currency,
        attribution_window_days=row.attribution_window_days,
        planned=planned,
        actual=actual,
        by_z_stage=groups,
        reactivated=int(reactivated) if row.kind == "reactivation" else None,
        orders_in_other_currencies=await repository.other_currency_orders(session, row.id, row.currency),
        last_attribution=Attribution.model_validate(row.attribution) if row.attribution else None,
    )
