"""Rules of the campaigns domain: mapping between the API shape and rows, paging."""

from sqlalchemy.ext.asyncio import AsyncSession

from campaigns.campaigns import repository
from campaigns.campaigns.errors import CampaignNotFound
from campaigns.campaigns.models import CampaignRow
from campaigns.campaigns.schemas import Campaign, CampaignFilters
from servicekit.pagination import Page, decode_id_cursor, id_page


def to_schema(row: CampaignRow) -> Campaign:
    return Campaign.model_validate(row, from_attributes=True)


async def get_campaign(session: AsyncSession, campaign_id: int) -> Campaign:
    row = await repository.get(session, campaign_id)
    if row is None:
        raise CampaignNotFound(campaign_id)
    return to_schema(row)


async def list_campaigns(
    session: AsyncSession, filters: CampaignFilters, cursor: str | None, limit: int
) -> Page[Campaign]:
    after_id = decode_id_cursor(cursor)
    rows = await repository.list_page(session, filters, after_id, limit)
    return id_page(rows, limit, to_schema)
