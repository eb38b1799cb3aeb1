"""Rules of the campaigns domain: creating and changing campaigns, their states and who moved them when.

States: draft -> planned -> approved -> running -> completed, or cancelled from any but completed. Planning
(audience.service), approval (gating.service) and completion (results.service) do the work of their step and
then move the state here; a campaign's row is locked for every change, so changes happen one at a time."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from campaigns.audience import repository as audience
from campaigns.campaigns import repository
from campaigns.campaigns.errors import CampaignNotFound, CampaignStateConflict, UnknownIncentive
from campaigns.campaigns.models import CampaignEventRow, CampaignRow
from campaigns.campaigns.schemas import Campaign, CampaignCreate, CampaignFilters, CampaignUpdate, Event
from campaigns.incentives import repository as incentives
from campaigns.settings import CampaignsSettings
from campaigns.types import within_campaign_length
from servicekit.errors import Unprocessable
from servicekit.idempotency import IdempotencyKeyReused, fingerprint
from servicekit.pagination import Page, decode_id_cursor, encode_cursor

EDITABLE = ("draft", "planned")


def to_schema(row: CampaignRow, events: list[CampaignEventRow]) -> Campaign:
    values = {name: getattr(row, name) for name in Campaign.model_fields if hasattr(row, name)}
    values["history"] = [Event.model_validate(event) for event in events]
    return Campaign.model_validate(values)


async def read(session: AsyncSession, row: CampaignRow) -> Campaign:
    events = await repository.events_of(session, [row.id])
    return to_schema(row, events.get(row.id, []))


async def get_campaign(session: AsyncSession, campaign_id: int) -> Campaign:
    return await read(session, await load(session, campaign_id))


async def load(session: AsyncSession, campaign_id: int, *, lock: bool = False) -> CampaignRow:
    row = await repository.get(session, campaign_id, lock=lock)
    if row is None:
        raise CampaignNotFound(campaign_id)
    return row


async def list_campaigns(
    session: AsyncSession, filters: CampaignFilters, cursor: str | None, limit: int
) -> Page[Campaign]:
    rows = await repository.list_page(session, filters, decode_id_cursor(cursor), limit)
    shown = rows[:limit]
    events = await repository.events_of(session, [row.id for row in shown])
    next_cursor = encode_cursor({"id": rows[limit - 1].id}) if len(rows) > limit else None
    return Page[Campaign](items=[to_schema(row, events.get(row.id, [])) for row in shown], next_cursor=next_cursor)


async def _check_incentives(session: AsyncSession, keys: list[str]) -> None:
    found = await incentives.by_keys(session, keys)
    for i, key in enumerate(keys):
        if key not in found:
            raise UnknownIncentive(key, ["body", "incentives", i])


async def record(
    session: AsyncSession, row: CampaignRow, action: str, to_state: str, by: str, note: str | None = None
) -> CampaignRow:
    """Move the campaign to `to_state` (it may stay where it is) and write down who did what and when."""
    await repository.add_event(
        session,
        {
            "campaign_id": row.id,
            "action": action,
            "from_state": row.state,
            "to_state": to_state,
            "by": by,
            "note": note,
        },
    )
    return await repository.update_fields(session, row.id, {"state": to_state})


def require_state(row: CampaignRow, action: str, allowed: tuple[str, ...]) -> None:
    if row.state not in allowed:
        raise CampaignStateConflict(row.id, row.state, action, allowed)


async def create_campaign(
    session: AsyncSession,
    body: CampaignCreate,
    idempotency_key: str | None,
    actor: str,
    settings: CampaignsSettings,
    *,
    idempotency_scope: str,
) -> tuple[Campaign, bool]:
    """The new campaign (a draft), or for a reused Idempotency-Key the one it created and True."""
    if idempotency_key is not None and (
        earlier := await repository.by_key(session, idempotency_scope, idempotency_key)
    ):
        return await _replay(session, earlier, body, idempotency_key), True
    await _check_incentives(session, body.incentives)
    values: dict[str, Any] = body.model_dump(exclude={"by", "audience"}) | {
        "audience": body.audience.model_dump(mode="json"),
        "attribution_window_days": body.attribution_window_days or settings.attribution_window_days,
        "created_by": body.by or actor,
        "idempotency_key": idempotency_key,
        "idempotency_scope": idempotency_scope,
        "request_fingerprint": fingerprint(body),
    }
    row = await repository.claim(session, values)
    if row is None:  # the same key sent concurrently: the first request has committed by now
        assert idempotency_key is not None
        earlier = await repository.by_key(session, idempotency_scope, idempotency_key)
        assert earlier is not None
        return await _replay(session, earlier, body, idempotency_key), True
    await record(session, row, "create", "draft", body.by or actor)
    row = await load(session, row.id)
    return await read(session, row), False


async def _replay(session: AsyncSession, earlier: CampaignRow, body: CampaignCreate, key: str) -> Campaign:
    if earlier.request_fingerprint != fingerprint(body):
        raise IdempotencyKeyReused(key)
    return await read(session, earlier)


async def update_campaign(session: AsyncSession, campaign_id: int, body: CampaignUpdate, actor: str) -> Campaign:
    """Change a draft or planned campaign; a planned one goes back to draft and its frozen audience is dropped."""
    row = await load(session, campaign_id, lock=True)
    require_state(row, "changed", EDITABLE)
    changes = body.model_dump(exclude_unset=True, exclude={"by"})
    if "audience" in changes:
        changes["audience"] = body.audience.model_dump(mode="json") if body.audience else {}
    if "incentives" in changes:
        changes["incentives"] = body.incentives or []
        await _check_incentives(session, changes["incentives"])
    for required in (
        "name",
        "channel",
        "cost_per_contact",
        "include_negative_value",
        "capacity_policy",
        "attribution_window_days",
    ):
        if required in changes and changes[required] is None:
            changes.pop(required)  # null for a field that must have a value: left as it is
    starts_on = changes.get("starts_on", row.starts_on)
    ends_on = changes.get("ends_on", row.ends_on)
    try:
        within_campaign_length(starts_on, ends_on, "ends_on" if "ends_on" in changes else "starts_on")
    except ValueError as exc:
        raise Unprocessable(str(exc), field=["body", "ends_on" if "ends_on" in changes else "starts_on"]) from None
    if row.state == "planned":
        await audience.delete_members(session, row.id)
        changes |= {"plan": None, "planned_at": None}
        row = await record(session, row, "change", "draft", body.by or actor, "changed after planning: plan dropped")
    if changes:
        row = await repository.update_fields(session, row.id, changes)
    return await read(session, row)
