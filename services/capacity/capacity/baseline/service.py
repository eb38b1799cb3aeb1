"""The baseline: the existing customers' expected orders per week, times the load of an order on each
resource, plus manual adjustments.

Each refresh asks the segmentation service for the booked orders per week of the last `history_weeks` +
`backtest_weeks` complete weeks (all customers: one lapsed has no orders in that window by definition) and,
for the last `history_weeks`, per ABC class. The expected orders per week are the predictive model's
(`/predictive/weekly-purchases`) when it answers, else the mean of the last `history_weeks` weeks. The
forecast is stored with its ABC shares and the history method's backtest; reports and reservations always
use the newest stored forecast, so when segmentation cannot be asked the last one keeps serving, flagged
stale once it is older than `baseline_max_age_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from capacity.baseline import forecast, repository
from capacity.baseline.errors import AdjustmentNotFound, BaselineMissing, BaselineUnavailable
from capacity.baseline.models import AdjustmentRow, ForecastRow
from capacity.baseline.schemas import (
    Adjustment,
    AdjustmentCreate,
    Backtest,
    BacktestSummary,
    BacktestWeek,
    Baseline,
    BaselineWeek,
    Forecast,
)
from capacity.clients.segmentation import SegmentationClient, WeeklyPurchases
from capacity.planning import repository as planning
from capacity.resources.service import resource_id
from capacity.settings import CapacitySettings
from capacity.weeks import WeekRange, check_week, current_week, iso_week
from servicekit.errors import AppError, BadGateway, GatewayTimeout, ServiceUnavailable
from servicekit.idempotency import IdempotencyKeyReused, fingerprint
from servicekit.pagination import Page, decode_id_cursor, encode_cursor

logger = logging.getLogger("capacity.baseline")

ABC_CLASSES = ("A", "B", "C")
UPSTREAM_FAILURES = (ServiceUnavailable, GatewayTimeout, BadGateway)


def forecast_schema(row: ForecastRow, settings: CapacitySettings, stale_reason: str | None = None) -> Forecast:
    stale = datetime.now(UTC) - row.computed_at > timedelta(seconds=settings.baseline_max_age_seconds)
    if stale and stale_reason is None:
        stale_reason = (
            f"The forecast is older than {settings.baseline_max_age_seconds} s: the segmentation service could not "
            "be asked since, or the service has not tried yet."
        )
    summary = None
    if row.backtest:
        summary = BacktestSummary.model_validate({k: v for k, v in row.backtest.items() if k != "weeks"})
    return Forecast(
        id=row.id,
        computed_at=row.computed_at,
        source=row.source,
        method=row.method,
        first_week=row.first_week,
        weeks=row.weeks,
        history_first_week=row.history_first_week,
        history_last_week=row.history_last_week,
        customers=row.customers,
        fit_id=row.fit_id,
        fitted_at=row.fitted_at,
        stale=stale,
        stale_reason=stale_reason if stale else None,
        backtest=summary,
    )


async def compute(session: AsyncSession, client: SegmentationClient, settings: CapacitySettings) -> ForecastRow:
    """Ask segmentation, store a new forecast. Segmentation unreachable or failing: a 502/503/504 AppError."""
    this_week = current_week(settings.time_zone)
    history, test_weeks, ahead = settings.history_weeks, settings.backtest_weeks, settings.forecast_weeks
    history_first = this_week - timedelta(weeks=history + test_weeks)
    recent_first = this_week - timedelta(weeks=history)
    total, *by_class = await asyncio.gather(
        client.weekly_orders(history_first, this_week),
        *(client.weekly_orders(recent_first, this_week, abc) for abc in ABC_CLASSES),
    )
    counts = [week.orders for week in total.weeks]
    recent = counts[-history:]
    mean = forecast.mean(recent)
    backtest = forecast.backtest(history_first, counts, history, test_weeks)
    class_orders = {abc: sum(w.orders for w in found.weeks) for abc, found in zip(ABC_CLASSES, by_class, strict=True)}
    shares = forecast.shares(sum(recent), class_orders)
    values = {
        "first_week": this_week,
        "weeks": ahead,
        "history_first_week": recent_first,
        "history_last_week": this_week - timedelta(weeks=1),
        "customers": total.customers,
        "backtest": backtest.as_json(),
    }
    predicted = await _predicted(client, this_week, ahead)
    if predicted is not None:
        weeks = [(w.week_start, w.expected_orders.quantize(forecast.CENT, ROUND_HALF_UP)) for w in predicted.weeks]
        values |= {
            "source": "predictive",
            "fit_id": predicted.fit_id,
            "fitted_at": predicted.fitted_at,
            "method": f"The sum over the {predicted.customers} existing customers of their expected purchases per "
            f"week under segmentation's BG/NBD model (fit {predicted.fit_id}, fitted {predicted.fitted_at:%Y-%m-%d}).",
        }
    else:
        weeks = [(this_week + timedelta(weeks=i), mean) for i in range(ahead)]
        values |= {
            "source": "history",
            "method": f"The mean of the booked orders of the {history} complete weeks from {recent_first} to "
            f"{this_week - timedelta(days=1)}: {sum(recent)} orders, {mean} per week, for every week ahead "
            "(no usable predictive model).",
        }
    row = await repository.store(session, values, weeks, shares)
    logger.info("baseline forecast %s from %s: %s orders in week 1", row.id, row.source, weeks[0][1])
    return row


async def _predicted(client: SegmentationClient, this_week: date, weeks: int) -> WeeklyPurchases | None:
    try:
        return await client.weekly_purchases(this_week, weeks)
    except AppError as exc:  # the history is in hand: a failing model is no reason to fail the forecast
        logger.warning("predicted purchases failed (%s); using the history", exc.detail)
        return None


async def refresh(session: AsyncSession, client: SegmentationClient, settings: CapacitySettings) -> Forecast:
    """A new forecast, now. Segmentation unreachable: a 503 problem (the stored forecast stays the baseline)."""
    try:
        row = await compute(session, client, settings)
    except UPSTREAM_FAILURES as exc:
        raise BaselineUnavailable(f"{exc.detail} The last stored forecast stays the baseline.") from exc
    return forecast_schema(row, settings)


async def current_forecast(
    session: AsyncSession, client: SegmentationClient, settings: CapacitySettings
) -> tuple[ForecastRow, str | None]:
    """The newest forecast, refreshed first when it is older than the maximum age; with why it is stale when
    the refresh failed. Nothing stored and segmentation unreachable: a 503 problem, never a 500."""
    row = await repository.newest(session)
    if row is not None and datetime.now(UTC) - row.computed_at <= timedelta(seconds=settings.baseline_max_age_seconds):
        return row, None
    try:
        return await compute(session, client, settings), None
    except UPSTREAM_FAILURES as exc:
        if row is None:
            raise BaselineUnavailable(f"{exc.detail} No forecast is stored to fall back on.") from exc
        logger.warning("baseline refresh failed (%s); serving forecast %s", exc.detail, row.id)
        return row, f"{exc.detail} This is the last stored forecast, of {row.computed_at:%Y-%m-%dT%H:%M:%SZ}."


async def newest_forecast(session: AsyncSession) -> ForecastRow:
    """The newest stored forecast, as reports and reservations use it: never refreshed on the way."""
    row = await repository.newest(session)
    if row is None:
        raise BaselineMissing()
    return row


async def get_baseline(
    session: AsyncSession,
    client: SegmentationClient,
    settings: CapacitySettings,
    resource_key: str | None,
    weeks: WeekRange,
) -> Baseline:
    ids = [await resource_id(session, resource_key, ["query", "resource"])] if resource_key else None
    row, stale_reason = await current_forecast(session, client, settings)
    cells = await planning.grid(session, ids, weeks.this_week, weeks.first, weeks.last)
    return Baseline(
        forecast=forecast_schema(row, settings, stale_reason),
        weeks=[
            BaselineWeek(
                resource=c.resource,
                week_start=c.week_start,
                iso_week=iso_week(c.week_start),
                expected_orders=c.expected_orders,
                load_per_order=c.load_per_order,
                adjustments=c.adjustments,
                baseline=c.baseline,
            )
            for c in cells
        ],
    )


async def get_backtest(session: AsyncSession) -> Backtest:
    row = await newest_forecast(session)
    assert row.backtest is not None
    test = row.backtest
    weeks = [
        BacktestWeek(
            week_start=w["week_start"],
            iso_week=iso_week(date.fromisoformat(w["week_start"])),
            forecast=Decimal(w["forecast"]),
            actual=w["actual"],
            error=Decimal(w["forecast"]) - w["actual"],
        )
        for w in test["weeks"]
    ]
    return Backtest.model_validate({**test, "forecast_id": row.id, "weeks": weeks})


# --- adjustments ----------------------------------------------------------------------------------


def adjustment_schema(row: AdjustmentRow, resource_key: str) -> Adjustment:
    return Adjustment(
        id=row.id,
        resource=resource_key,
        week_start=row.week_start,
        iso_week=iso_week(row.week_start),
        amount=row.amount,
        reason=row.reason,
        created_at=row.created_at,
    )


async def create_adjustment(
    session: AsyncSession,
    body: AdjustmentCreate,
    idempotency_key: str | None,
    settings: CapacitySettings,
    *,
    idempotency_scope: str,
) -> tuple[Adjustment, bool]:
    """The new adjustment, or for a reused Idempotency-Key the one it created and True."""
    rid = await resource_id(session, body.resource, ["body", "resource"])
    check_week(body.week_start, current_week(settings.time_zone), settings.forecast_weeks, ["body", "week_start"])
    values = body.model_dump(exclude={"resource"}) | {
        "resource_id": rid,
        "idempotency_key": idempotency_key,
        "idempotency_scope": idempotency_scope,
        "request_fingerprint": fingerprint(body),
    }
    row = await repository.create_adjustment(session, values)
    if row is None:
        assert idempotency_key is not None
        earlier = await repository.adjustment_by_key(session, idempotency_scope, idempotency_key)
        if earlier is None:  # deleted meanwhile: the key is free again
            return await create_adjustment(
                session, body, idempotency_key, settings, idempotency_scope=idempotency_scope
            )
        if earlier.request_fingerprint != values["request_fingerprint"]:
            raise IdempotencyKeyReused(idempotency_key)
        return adjustment_schema(earlier, body.resource), True
    return adjustment_schema(row, body.resource), False


async def get_adjustment(session: AsyncSession, adjustment_id: int) -> Adjustment:
    found = await repository.get_adjustment(session, adjustment_id)
    if found is None:
        raise AdjustmentNotFound(adjustment_id)
    return adjustment_schema(*found)


async def list_adjustments(
    session: AsyncSession, resource_key: str | None, from_week: date | None, cursor: str | None, limit: int
) -> Page[Adjustment]:
    rid = await resource_id(session, resource_key, ["query", "resource"]) if resource_key else None
    rows = await repository.list_adjustments(session, rid, from_week, decode_id_cursor(cursor), limit)
    next_cursor = encode_cursor({"id": rows[limit - 1][0].id}) if len(rows) > limit else None
    return Page[Adjustment](items=[adjustment_schema(*row) for row in rows[:limit]], next_cursor=next_cursor)


async def delete_adjustment(session: AsyncSession, adjustment_id: int) -> None:
    if not await repository.delete_adjustment(session, adjustment_id):
        raise AdjustmentNotFound(adjustment_id)
