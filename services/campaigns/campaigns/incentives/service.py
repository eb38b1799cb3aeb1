"""Rules of the incentive catalogue, above all the loyalty rule (seed 002, "Treue belohnen"): an offer to
existing customers is never worse than the same offer to new customers.

Incentives are grouped by `offer`. For every active incentive of an offer for new customers there must be an
active one of the same offer for existing customers (or for all) worth at least as much, in the same unit.
Every change that would break this, whether it raises the new customers' value, lowers or deactivates the
existing customers' one, or moves one to another offer, is refused and nothing is written."""

from sqlalchemy.ext.asyncio import AsyncSession

from campaigns.incentives import repository
from campaigns.incentives.errors import IncentiveNotFound, LoyaltyRuleViolated
from campaigns.incentives.models import IncentiveRow
from campaigns.incentives.schemas import Incentive, IncentivePut
from servicekit.pagination import Page, decode_id_cursor, id_page


def to_schema(row: IncentiveRow) -> Incentive:
    return Incentive.model_validate(row, from_attributes=True)


def _figure(row: IncentiveRow) -> dict[str, str]:
    return {"key": row.key, "value": str(row.value), "value_unit": row.value_unit}


def _shown(row: IncentiveRow) -> str:
    return f"{row.value} %" if row.value_unit == "percent" else f"{row.value} {row.currency}"


def check_loyalty_rule(offer: str, incentives: list[IncentiveRow]) -> None:
    """Raise LoyaltyRuleViolated unless every active new-customer incentive of `offer` is matched or beaten by
    an active one for existing customers."""
    for_existing = [i for i in incentives if i.audience in ("existing", "all")]
    for new in (i for i in incentives if i.audience == "new"):
        comparable = [i for i in for_existing if i.value_unit == new.value_unit and i.currency == new.currency]
        best = max(comparable, key=lambda i: i.value, default=None)
        if best is not None and best.value >= new.value:
            continue
        if best is None:
            detail = (
                f"Offer {offer!r} gives new customers {_shown(new)} ({new.key!r}) but existing customers nothing "
                "comparable: an offer to existing customers is never worse than the same offer to new customers. "
                "Add an incentive of this offer for existing customers worth at least as much first."
            )
        else:
            detail = (
                f"Offer {offer!r} would give new customers {_shown(new)} ({new.key!r}) but existing customers only "
                f"{_shown(best)} ({best.key!r}): an offer to existing customers is never worse than the same offer "
                "to new customers."
            )
        raise LoyaltyRuleViolated(detail, offer, _figure(new), _figure(best) if best else None)


async def put_incentive(session: AsyncSession, key: str, body: IncentivePut) -> tuple[Incentive, bool]:
    values = body.model_dump(exclude={"offer"}) | {"offer": body.offer or key}
    earlier = await repository.get_by_key(session, key)
    offers = {values["offer"]} | ({earlier.offer} if earlier else set())
    await repository.lock_offers(session, offers)
    row, created = await repository.upsert(session, key, values)
    for offer in sorted(offers):
        check_loyalty_rule(offer, await repository.active_of_offer(session, offer))
    return to_schema(row), created


async def get_incentive(session: AsyncSession, key: str) -> Incentive:
    row = await repository.get_by_key(session, key)
    if row is None:
        raise IncentiveNotFound(key)
    return to_schema(row)


async def list_incentives(
    session: AsyncSession, cursor: str | None, limit: int, active: bool | None, offer: str | None
) -> Page[Incentive]:
    rows = await repository.list_page(session, decode_id_cursor(cursor), limit, active, offer)
    return id_page(rows, limit, to_schema)
