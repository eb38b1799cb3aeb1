import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.company.models import SettingsRow
from segmentation.company.schemas import Thresholds
from segmentation.db import SCHEMA


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
    await session.execute(
        text(f"""
        INSERT INTO {SCHEMA}.settings (id, thresholds) VALUES (1, CAST(:t AS jsonb))
        ON CONFLICT (id) DO UPDATE SET thresholds = EXCLUDED.thresholds, updated_at = now()"""),
        {"t": json.dumps(values)},
    )
