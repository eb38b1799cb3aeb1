from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from segmentation.company import repository
from segmentation.company.schemas import CompanySettings, Thresholds
from servicekit import clock


def today(settings: CompanySettings | None = None) -> date:
    """The day classifications are as of unless a run names another: today in the company's time zone, by the
    service's clock (SEGMENTATION_FIXED_NOW)."""
    return clock.today(settings.zone if settings else ZoneInfo("UTC"))


async def get_thresholds(session: AsyncSession) -> Thresholds:
    return await repository.load_thresholds(session)


async def put_thresholds(sessions: async_sessionmaker[AsyncSession], thresholds: Thresholds) -> bool:
    """Store the thresholds (committed on return); whether the time zone changed, which the orders' index of
    days follows (orderdays.index)."""
    async with sessions() as session, session.begin():
        before = await repository.load_thresholds(session)
        await repository.save_thresholds(session, thresholds)
    return before.time_zone != thresholds.time_zone


async def patch_thresholds(
    sessions: async_sessionmaker[AsyncSession], patch: dict[str, Any]
) -> tuple[Thresholds, bool]:
    """Apply a JSON Merge Patch (RFC 7396) to the stored configuration: a member replaces the stored one, a null
    removes it (its default applies), an object is merged member by member (exchange_rates). The result is
    validated as a whole, as a PUT of it would be. Returns it and whether the time zone changed."""
    async with sessions() as session, session.begin():
        stored = await repository.lock_thresholds(session)
        before = Thresholds.stored(stored)
        # Merged onto what is in use (a stored value out of its bounds reads as its default), not onto that value.
        merged = merge_patch(before.model_dump(mode="json", exclude_defaults=True), patch)
        try:
            after = Thresholds.model_validate(merged)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
            ) from None
        await repository.save_thresholds(session, after)
    return after, before.time_zone != after.time_zone


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: the document `target` with `patch` applied."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = merge_patch(merged.get(name), value)
    return merged
