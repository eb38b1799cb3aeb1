from datetime import date
from zoneinfo import ZoneInfo

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
