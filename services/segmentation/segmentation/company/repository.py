import json

from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.company.models import SettingsRow
from segmentation.company.schemas import Thresholds
from segmentation.db import SCHEMA
from servicekit.sql import SQL, ident


async def load_thresholds(session: AsyncSession) -> Thresholds:
    row = await session.get(SettingsRow, 1)
    return Thresholds.stored(row.thresholds if row else None)


async def save_thresholds(session: AsyncSession, thresholds: Thresholds) -> None:
    values = thresholds.model_dump(mode="json")
    await session.execute(
        SQL("""
        INSERT INTO {schema}.settings (id, thresholds) VALUES (1, CAST(:t AS jsonb))
        ON CONFLICT (id) DO UPDATE SET thresholds = EXCLUDED.thresholds, updated_at = now()""")
        .format(schema=ident(SCHEMA))
        .clause,
        {"t": json.dumps(values)},
    )
