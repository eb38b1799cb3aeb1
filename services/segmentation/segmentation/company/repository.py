from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.company.models import SettingsRow
from segmentation.company.schemas import Thresholds


async def load_thresholds(session: AsyncSession) -> Thresholds:
    row = await session.get(SettingsRow, 1)
    return Thresholds.stored(row.thresholds if row else None)


async def lock_thresholds(session: AsyncSession) -> dict[str, Any]:
    """The stored configuration as stored, locked until the transaction ends (a merge patch reads, merges and
    writes it: two at once must not lose one's change). The row is created first when absent."""
    await session.execute(insert(SettingsRow).values(id=1, thresholds={}).on_conflict_do_nothing())
    row = await session.get(SettingsRow, 1, with_for_update=True, populate_existing=True)
    assert row is not None
    return dict(row.thresholds)


async def save_thresholds(session: AsyncSession, thresholds: Thresholds) -> None:
    values = thresholds.model_dump(mode="json")
    upsert = insert(SettingsRow).values(id=1, thresholds=values)
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[SettingsRow.id], set_={"thresholds": upsert.excluded.thresholds, "updated_at": func.now()}
        )
    )
