"""All SQL of forecasts and adjustments."""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from capacity.baseline.models import AdjustmentRow, ForecastRow, ForecastShareRow, ForecastWeekRow
from capacity.db import SCHEMA
from capacity.resources.models import ResourceRow
from servicekit.sql import SQL, ident

_SCHEMA = ident(SCHEMA)

FORECASTS_KEPT_DAYS = 90


async def newest(session: AsyncSession) -> ForecastRow | None:
    return await session.scalar(
        select(ForecastRow).order_by(ForecastRow.computed_at.desc(), ForecastRow.id.desc()).limit(1)
    )


async def store(
    session: AsyncSession, values: dict[str, Any], weeks: Sequence[tuple[date, Decimal]], shares: dict[str, Decimal]
) -> ForecastRow:
    """A new forecast with its weeks and ABC shares; forecasts older than 90 days go."""
    row = (await session.execute(insert(ForecastRow).values(**values).returning(ForecastRow))).scalar_one()
    await session.execute(
        insert(ForecastWeekRow), [{"forecast_id": row.id, "week_start": w, "expected_orders": o} for w, o in weeks]
    )
    if shares:
        await session.execute(
            insert(ForecastShareRow), [{"forecast_id": row.id, "abc_class": c, "share": s} for c, s in shares.items()]
        )
    await session.execute(
        SQL("DELETE FROM {schema}.forecasts WHERE computed_at < now() - make_interval(days => :days)")
        .format(schema=_SCHEMA)
        .clause,
        {"days": FORECASTS_KEPT_DAYS},
    )
    return row


# --- adjustments ----------------------------------------------------------------------------------


async def create_adjustment(session: AsyncSession, values: dict[str, Any]) -> AdjustmentRow | None:
    """A new adjustment; None when its idempotency key is taken."""
    statement = insert(AdjustmentRow).values(**values).on_conflict_do_nothing().returning(AdjustmentRow)
    return (await session.execute(statement)).scalar_one_or_none()


async def adjustment_by_key(session: AsyncSession, scope: str, idempotency_key: str) -> AdjustmentRow | None:
    return await session.scalar(
        select(AdjustmentRow).where(
            AdjustmentRow.idempotency_scope == scope, AdjustmentRow.idempotency_key == idempotency_key
        )
    )


def _with_key() -> Any:
    return select(AdjustmentRow, ResourceRow.key).join(ResourceRow, ResourceRow.id == AdjustmentRow.resource_id)


async def get_adjustment(session: AsyncSession, adjustment_id: int) -> tuple[AdjustmentRow, str] | None:
    row = (await session.execute(_with_key().where(AdjustmentRow.id == adjustment_id))).one_or_none()
    return (row[0], row[1]) if row else None


async def list_adjustments(
    session: AsyncSession, resource_id: int | None, from_week: date | None, after_id: int | None, limit: int
) -> list[tuple[AdjustmentRow, str]]:
    query = _with_key()
    if resource_id is not None:
        query = query.where(AdjustmentRow.resource_id == resource_id)
    if from_week is not None:
        query = query.where(AdjustmentRow.week_start >= from_week)
    if after_id is not None:
        query = query.where(AdjustmentRow.id > after_id)
    rows = await session.execute(query.order_by(AdjustmentRow.id).limit(limit + 1))
    return [(row[0], row[1]) for row in rows]


async def delete_adjustment(session: AsyncSession, adjustment_id: int) -> bool:
    result = await session.execute(delete(AdjustmentRow).where(AdjustmentRow.id == adjustment_id))
    return result.rowcount == 1  # type: ignore[attr-defined]
