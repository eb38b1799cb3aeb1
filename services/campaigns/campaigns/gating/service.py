"""Capacity gating: a campaign promises no more than capacity allows (seed 000, DOMAIN "Capacity").

Expected extra demand = the expected orders of each ISO week of the schedule (forecast.weeks) x each
resource's load per order (capacity's `load_per_order`). Approval asks capacity's what-if how much of it fits;
  - all of it: the whole demand is reserved;
  - part of it, and the campaign's capacity_policy is trim: the audience is cut, lowest expected value first,
    until its expected orders fit in the tightest week (each member's expected order spreads over the weeks
    like the campaign's), and that is reserved;
  - none of it, or part with capacity_policy refuse: refused (409 capacity-refused), nothing reserved.
The reservation (Idempotency-Key campaign-<id>-plan-<version>-<n>) is made and confirmed at capacity first;
the campaign's own changes are committed after. If anything fails, nothing changes here; a retried approval
finds the live reservation of the campaign at capacity and uses it instead of reserving again."""

from __future__ import annotations

import logging
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from campaigns.audience import repository as audience
from campaigns.audience.schemas import Approval, CapacityCheck, Plan
from campaigns.campaigns import repository as campaigns
from campaigns.campaigns import service as campaign_service
from campaigns.campaigns.errors import CampaignNotPlannable
from campaigns.campaigns.models import CampaignRow
from campaigns.campaigns.schemas import Campaign
from campaigns.clients.capacity import CapacityAnswered, CapacityClient, Reservation, ResourceLoad, WhatIf
from campaigns.forecast import service as forecasts
from campaigns.forecast.schemas import Forecast, WeekForecast
from campaigns.gating.errors import CapacityPlanRefused, CapacityRefused
from campaigns.settings import CampaignsSettings
from campaigns.types import CENT
from servicekit import clock
from servicekit.errors import AppError

logger = logging.getLogger("campaigns.gating")

LIVE = ("held", "confirmed")
SHARE = Decimal("0.0001")


def today(settings: CampaignsSettings) -> date:
    """Today in the company's time zone (CAMPAIGNS_TIME_ZONE), by the service's clock (CAMPAIGNS_FIXED_NOW)."""
    return clock.today(settings.time_zone)


def label(campaign_id: int) -> str:
    return f"campaign-{campaign_id}"


def _weeks(forecast: Forecast, this_week: date) -> list[WeekForecast]:
    """The weeks capacity can be asked about: this one and later, with orders."""
    return [w for w in forecast.weeks if w.week_start >= this_week and w.expected_orders > 0]


def _binding(what_if: WhatIf) -> tuple[Decimal, date | None, str | None]:
    """The share of the orders that fits in the tightest week, that week and the resource that binds."""
    share, week, resource = Decimal(1).quantize(SHARE), None, None
    for w in what_if.weeks:
        if w.orders > 0 and w.fitting_orders < w.orders:
            fits = (w.fitting_orders / w.orders).quantize(SHARE, ROUND_FLOOR)
            if fits < share or week is None:
                share, week, resource = fits, w.week_start, w.binding_resource
    return share, week, resource


async def check(capacity: CapacityClient, forecast: Forecast, this_week: date) -> CapacityCheck:
    """What-if for the forecast's weeks; never raises: when capacity cannot be asked, `checked` is false."""
    weeks = _weeks(forecast, this_week)
    if not weeks:
        return CapacityCheck(
            checked=True, fits=True, fitting_share=Decimal(1).quantize(SHARE), detail="No orders expected."
        )
    try:
        what_if = await capacity.what_if([(w.week_start, w.expected_orders) for w in weeks])
    except AppError as exc:
        return CapacityCheck(checked=False, detail=f"Capacity could not be asked: {exc.detail or exc.title}")
    share, week, resource = _binding(what_if)
    if share >= 1:
        detail = "Capacity can take every expected order."
    else:
        detail = f"Capacity can take {share:.0%} of the expected orders ({resource} limits in the week of {week})."
    return CapacityCheck(
        checked=True,
        fits=share >= 1,
        fitting_share=share,
        binding_week=week,
        binding_resource=resource,
        detail=detail,
    )


def _cents_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_CEILING)


def _lines(
    weeks: list[WeekForecast], loads: list[ResourceLoad], what_if: WhatIf | None
) -> list[tuple[str, date, Decimal]]:
    """Per resource and week: the week's orders x the load per order, rounded up to the cent, never above what
    what-if found available (rounding of the orders must not tip a line over)."""
    available = {
        (r.resource, w.week_start): r.available for w in (what_if.weeks if what_if else []) for r in w.resources
    }
    lines = []
    for week in weeks:
        for load in loads:
            amount = _cents_up(week.expected_orders * load.load_per_order)
            cap = available.get((load.key, week.week_start))
            if cap is not None:
                amount = min(amount, cap)
            if amount > 0:
                lines.append((load.key, week.week_start, amount))
    return lines


def _kept_share(reservation: Reservation, weeks: list[WeekForecast], loads: list[ResourceLoad]) -> Decimal:
    """The share of the planned orders a reservation made earlier holds room for (its tightest line)."""
    full = {(key, week): amount for key, week, amount in _lines(weeks, loads, None)}
    share = Decimal(1).quantize(SHARE)
    for line in reservation.lines:
        want = full.get((line.resource, line.week_start))
        if want:
            share = min(share, (line.granted / want).quantize(SHARE, ROUND_FLOOR))
    return share


def _reservation_json(reservation: Reservation) -> dict[str, object]:
    return {
        "id": reservation.id,
        "campaign": reservation.campaign,
        "state": reservation.state,
        "lines": [
            {"resource": ln.resource, "week_start": ln.week_start.isoformat(), "amount": str(ln.granted)}
            for ln in reservation.lines
        ],
    }


async def approve(
    session: AsyncSession,
    campaign_id: int,
    settings: CampaignsSettings,
    capacity: CapacityClient,
    by: str,
    note: str | None,
) -> Campaign:
    row = await campaign_service.load(session, campaign_id, lock=True)
    if row.state == "approved":  # approved before: nothing more to do
        return await campaign_service.read(session, row)
    campaign_service.require_state(row, "approved", ("planned",))
    assert row.plan is not None
    assert row.starts_on is not None
    assert row.ends_on is not None
    day = today(settings)
    if row.ends_on < day:
        raise CampaignNotPlannable(f"The campaign's schedule ended on {row.ends_on}; change it and plan again.")
    plan = Plan.model_validate(row.plan)
    response_model = {p.z_stage: p for p in plan.response_model}
    first = max(row.starts_on, day)
    this_week = clock.week_of(day)
    planned = await forecasts.build_forecast(session, row.id, response_model, first, row.ends_on)
    weeks = _weeks(planned, this_week)

    loads = [r for r in await capacity.resource_loads() if r.load_per_order > 0] if weeks else []
    earlier = await capacity.reservations_of(label(row.id)) if loads else []
    live = [r for r in earlier if r.state in LIVE]
    what_if: WhatIf | None = None
    week: date | None = None
    resource: str | None = None
    if not loads:
        share, outcome = Decimal(1).quantize(SHARE), "no_load"
    elif live:
        share = _kept_share(live[-1], weeks, loads)
        outcome = "fits" if share >= 1 else "trimmed"
    else:
        try:
            what_if = await capacity.what_if([(w.week_start, w.expected_orders) for w in weeks])
        except CapacityAnswered as exc:
            raise CapacityPlanRefused(f"Capacity cannot consider the plan: {exc.detail}") from exc
        share, week, resource = _binding(what_if)
        outcome = "fits" if share >= 1 else "trimmed"
        if share <= 0 or (share < 1 and row.capacity_policy == "refuse"):
            raise _refusal(row, planned, share, week, resource)

    trimmed = 0
    kept = planned
    if share < 1:
        trimmed = await audience.trim(session, row.id, (planned.expected_responses * share).quantize(CENT, ROUND_FLOOR))
        kept = await forecasts.build_forecast(session, row.id, response_model, first, row.ends_on)
        if kept.members == 0:
            raise _refusal(row, planned, Decimal(0), week, resource)

    reservation = None
    if live:
        reservation = live[-1]
    elif loads:
        lines = _lines(_weeks(kept, this_week), loads, what_if)
        if lines:
            key = f"{label(row.id)}-plan-{row.plan_version}-{len(earlier) + 1}"
            try:
                reservation = await capacity.reserve(label(row.id), lines, key)
            except CapacityAnswered as exc:
                if exc.status == 409 and exc.problem.get("shortfalls") is not None:
                    raise CapacityRefused(
                        "Capacity changed while the campaign was being approved and the expected orders no longer "
                        f"fit ({exc.detail}); nothing was reserved or changed, approve again.",
                        {"capacity": exc.problem},
                    ) from exc
                raise CapacityPlanRefused(f"Capacity refused the reservation: {exc.detail}") from exc
    if reservation is not None and reservation.state != "confirmed":
        reservation = await capacity.move(reservation.id, "confirm")

    plan.forecast_before_capacity = planned if trimmed else None
    plan.forecast = kept
    plan.excluded["capacity"] = trimmed
    plan.included = kept.members
    plan.approval = Approval(
        outcome=outcome,
        fitting_share=min(share, Decimal(1)),
        members_before=planned.members,
        members_trimmed=trimmed,
        expected_orders_before=planned.expected_orders,
        expected_orders_after=kept.expected_orders,
        binding_week=week,
        binding_resource=resource,
        detail=_approval_detail(outcome, share, trimmed, week, resource),
    )
    await campaigns.update_fields(
        session,
        row.id,
        {"plan": plan.model_dump(mode="json"), "reservation": _reservation_json(reservation) if reservation else None},
    )
    row = await campaign_service.record(session, row, "approve", "approved", by, note)
    return await campaign_service.read(session, row)


def _approval_detail(outcome: str, share: Decimal, trimmed: int, week: date | None, resource: str | None) -> str:
    if outcome == "no_load":
        return "No capacity resource is loaded by orders: nothing to reserve."
    if outcome == "fits":
        return "Capacity takes every expected order; reserved and confirmed."
    where = f" ({resource} limits in the week of {week})" if week else ""
    return (
        f"Capacity takes {share:.0%} of the expected orders{where}: {trimmed} member(s) with the lowest expected "
        "value were cut; the rest is reserved and confirmed."
    )


def _refusal(
    row: CampaignRow, planned: Forecast, share: Decimal, week: date | None, resource: str | None
) -> CapacityRefused:
    where = f"{resource} limits in the week of {week}" if week else "no week has room"
    if share <= 0:
        detail = (
            f"Capacity cannot take any of the campaign's {planned.expected_orders} expected orders ({where}); the "
            "campaign is not approved and nothing was reserved."
        )
    else:
        detail = (
            f"Capacity can take only {share:.0%} of the campaign's {planned.expected_orders} expected orders "
            f"({where}) and its capacity_policy is refuse; the campaign is not approved and nothing was reserved. "
            "Set capacity_policy to trim to cut the audience to what fits."
        )
    return CapacityRefused(
        detail,
        {
            "fitting_share": str(max(share, Decimal(0))),
            "expected_orders": str(planned.expected_orders),
            "binding_week": week.isoformat() if week else None,
            "binding_resource": resource,
            "capacity_policy": row.capacity_policy,
        },
    )


async def release(capacity: CapacityClient, row: CampaignRow) -> dict[str, object] | None:
    """Give the campaign's reservation back (cancelling); already released or expired changes nothing."""
    if not row.reservation or row.reservation.get("state") in ("released", "expired"):
        return row.reservation
    try:
        released = await capacity.move(int(row.reservation["id"]), "release")  # type: ignore[call-overload]
    except CapacityAnswered as exc:
        state = exc.problem.get("state")
        if exc.status == 409 and state in ("released", "expired"):
            return {**row.reservation, "state": state}
        raise CapacityPlanRefused(f"Capacity refused to release the reservation: {exc.detail}") from exc
    return _reservation_json(released)


async def consume(capacity: CapacityClient, row: CampaignRow) -> dict[str, object] | None:
    """Mark the reservation used (completing): its weeks keep counting at capacity, as orders now."""
    if not row.reservation or row.reservation.get("state") != "confirmed":
        return row.reservation
    try:
        consumed = await capacity.move(int(row.reservation["id"]), "consume")  # type: ignore[call-overload]
    except CapacityAnswered as exc:
        raise CapacityPlanRefused(f"Capacity refused to mark the reservation consumed: {exc.detail}") from exc
    return _reservation_json(consumed)
