"""Suggestions: what to do now, from the seeds' advice, each scored like a plan (into a temporary table, nothing
kept), with its forecast and whether capacity allows it.

- reactivation (001): lapsed customers still likely alive (probability alive at least
  CAMPAIGNS_SUGGESTION_MIN_PROBABILITY_ALIVE, members without a model pass), by post;
- second_order (003): first-time buyers 30 to 60 days after their order (CAMPAIGNS_SUGGESTION_SECOND_ORDER_DAYS),
  by email: half of them are lost otherwise;
- loyalty (002, 004): key accounts without any contact for 90 days (CAMPAIGNS_SUGGESTION_QUIET_DAYS): no
  interaction in segmentation and no campaign contact, by phone.
Each runs at the channel's usual cost per contact (CAMPAIGNS_SUGGESTION_CONTACT_COSTS) for four ISO weeks (Monday to
Sunday, the weeks capacity counts), so that its forecast and capacity check cover exactly four weeks (`schedule`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from campaigns.audience import repository as audience
from campaigns.audience import service as planning
from campaigns.audience.schemas import EXCLUSION_RULES
from campaigns.campaigns.models import CampaignRow
from campaigns.campaigns.schemas import CampaignCreate
from campaigns.clients.capacity import CapacityClient
from campaigns.clients.segmentation import SegmentationClient
from campaigns.forecast import service as forecasts
from campaigns.gating import service as gating
from campaigns.settings import CampaignsSettings
from campaigns.suggestions.schemas import Suggestion, Suggestions
from servicekit import clock

WEEKS = 4
MIN_DAYS_LEFT = 4  # Monday to Thursday: enough of this week is left to act in it


def schedule(day: date) -> tuple[date, date]:
    """(starts_on, ends_on) of a suggestion asked for on `day` (today in the company's time zone): four ISO weeks,
    ending on a Sunday. This week counts as the first when at least MIN_DAYS_LEFT of its days are left, today
    included (Monday to Thursday): the suggestion starts today and runs 25 to 28 days. From Friday to Sunday too
    little of the week is left: it starts on the next Monday and runs 28 days. Either way the forecast spreads over
    four weeks, the first holding at least 4/25 of the expected orders, and capacity is asked about those four."""
    this_week = clock.week_of(day)
    days_left = 7 - day.weekday()
    first_week = this_week if days_left >= MIN_DAYS_LEFT else this_week + timedelta(weeks=1)
    return max(day, first_week), first_week + timedelta(weeks=WEEKS, days=-1)


def candidates(settings: CampaignsSettings) -> list[tuple[str, str, dict[str, Any]]]:
    """(title, why, campaign fields) of every suggestion."""
    low, high = settings.suggestion_second_order_days
    quiet = settings.suggestion_quiet_days
    alive = settings.suggestion_min_probability_alive
    return [
        (
            "Win back lapsed customers who are still likely to buy",
            f"Nullkunden (lapsed: no order for more than a year) with a probability alive of at least {alive}: "
            "former customers come back with less effort than new ones are won, and stay loyal (seed 001).",
            {
                "kind": "reactivation",
                "channel": "post",
                "audience": {"lifecycle": ["lapsed"], "min_probability_alive": str(alive)},
            },
        ),
        (
            "Get the second order from first-time buyers",
            f"First-time buyers (Z2) {low} to {high} days after their order: about half of them are lost unless "
            "the second order comes quickly; only it signals satisfaction (seed 003).",
            {
                "kind": "second_order",
                "channel": "email",
                "audience": {"z_stage": ["Z2"], "last_order_days_ago_min": low, "last_order_days_ago_max": high},
            },
        ),
        (
            "Call key accounts nobody has spoken to lately",
            f"Key accounts without any contact for {quiet} days: they carry the company and deserve attention "
            "before habit sets in (seeds 002 and 004).",
            {
                "kind": "loyalty",
                "channel": "phone",
                "audience": {
                    "key_account": True,
                    "z_stage": ["Z2", "Z3", "Z4"],
                    "lifecycle": ["new", "active", "reactivated"],
                    "no_contact_days": quiet,
                },
            },
        ),
    ]


async def suggest(
    session: AsyncSession, settings: CampaignsSettings, segmentation: SegmentationClient, capacity: CapacityClient
) -> Suggestions:
    day = gating.today(settings)
    starts_on, ends_on = schedule(day)
    await audience.create_scratch(session)
    found, empty = [], []
    for title, why, fields in candidates(settings):
        body = CampaignCreate.model_validate(
            {
                "name": title,
                **fields,
                "starts_on": starts_on,
                "ends_on": ends_on,
                "cost_per_contact": settings.suggestion_contact_costs[fields["channel"]],
            }
        )
        row = CampaignRow(
            id=0,
            name=title,
            kind=body.kind,
            channel=body.channel,
            audience=body.audience.model_dump(mode="json"),
            incentives=[],
            currency=body.currency,
            starts_on=body.starts_on,
            ends_on=body.ends_on,
            cost_per_contact=body.cost_per_contact,
            contribution_margin=None,
            assumed_order_value=None,
            size_limit=None,
            include_negative_value=False,
            budget=None,
        )
        _, considered, model = await planning.score(session, row, settings, segmentation, day, 0, audience.SCRATCH)
        counts, _ = await audience.exclusion_counts(session, 0, audience.SCRATCH)
        if not counts.get(None):
            empty.append(title)
            continue
        assert body.starts_on is not None
        assert body.ends_on is not None
        forecast = await forecasts.build_forecast(session, 0, model, body.starts_on, body.ends_on, audience.SCRATCH)
        found.append(
            Suggestion(
                kind=body.kind,
                channel=body.channel,
                title=title,
                why=why,
                considered=considered,
                members=forecast.members,
                excluded={r: counts[r] for r in EXCLUSION_RULES if counts.get(r)},
                forecast=forecast,
                capacity=await gating.check(capacity, forecast, clock.week_of(day)),
                campaign=body,
            )
        )
    found.sort(key=lambda s: s.forecast.expected_net, reverse=True)
    return Suggestions(as_of=day, suggestions=found, without_members=empty)
