"""Reports on the figures of every resource and week (planning.repository): headroom, the acquisition
limit, utilisation with the extra lead time a backlog means, and what-if for a planned campaign."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from itertools import groupby
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from capacity.baseline.service import forecast_schema, newest_forecast
from capacity.planning import repository
from capacity.planning.schemas import (
    AcquisitionLimit,
    AcquisitionWeek,
    Headroom,
    HeadroomWeek,
    ReservationLineSuggestion,
    Utilisation,
    UtilisationWeek,
    WhatIf,
    WhatIfRequest,
    WhatIfResource,
    WhatIfWeek,
)
from capacity.resources.service import resource_id
from capacity.settings import CapacitySettings
from capacity.weeks import WeekRange, check_week, current_week, iso_week

CENT = Decimal("0.01")


async def _ids(session: AsyncSession, resource_key: str | None) -> list[int] | None:
    return [await resource_id(session, resource_key, ["query", "resource"])] if resource_key else None


async def headroom(
    session: AsyncSession, settings: CapacitySettings, resource_key: str | None, weeks: WeekRange
) -> Headroom:
    ids = await _ids(session, resource_key)
    forecast = forecast_schema(await newest_forecast(session), settings)
    cells = await repository.grid(session, ids, weeks.this_week, weeks.first, weeks.last)
    return Headroom(
        baseline=forecast,
        weeks=[
            HeadroomWeek(
                resource=c.resource,
                week_start=c.week_start,
                iso_week=iso_week(c.week_start),
                capacity=c.capacity,
                baseline=c.baseline,
                reserve=c.reserve,
                held=c.held,
                confirmed=c.confirmed,
                consumed=c.consumed,
                headroom=c.headroom,
                acquisition_limit=c.acquisition_limit,
            )
            for c in cells
        ],
    )


async def acquisition_limit(session: AsyncSession, settings: CapacitySettings, weeks: WeekRange) -> AcquisitionLimit:
    forecast = forecast_schema(await newest_forecast(session), settings)
    cells = await repository.grid(session, None, weeks.this_week, weeks.first, weeks.last)
    by_week = []
    for week, in_week in groupby(sorted(cells, key=lambda c: (c.week_start, c.resource)), key=lambda c: c.week_start):
        limiting = [c for c in in_week if c.acquisition_limit is not None]
        binding = min(limiting, key=lambda c: c.acquisition_limit, default=None)
        by_week.append(
            AcquisitionWeek(
                week_start=week,
                iso_week=iso_week(week),
                limit=binding.acquisition_limit if binding else None,
                binding_resource=binding.resource if binding else None,
            )
        )
    limited = [w for w in by_week if w.limit is not None]
    tightest = min(limited, key=lambda w: w.limit or 0, default=None)
    return AcquisitionLimit(
        baseline=forecast,
        from_week=weeks.first,
        to_week=weeks.last,
        limit=tightest.limit if tightest else None,
        binding_resource=tightest.binding_resource if tightest else None,
        binding_week=tightest.week_start if tightest else None,
        weeks=by_week,
    )


async def utilisation(
    session: AsyncSession, settings: CapacitySettings, resource_key: str | None, weeks: WeekRange
) -> Utilisation:
    ids = await _ids(session, resource_key)
    forecast = forecast_schema(await newest_forecast(session), settings)
    cells = await repository.grid(session, ids, weeks.this_week, weeks.first, weeks.last)
    return Utilisation(
        baseline=forecast,
        weeks=[
            UtilisationWeek(
                resource=c.resource,
                week_start=c.week_start,
                iso_week=iso_week(c.week_start),
                capacity=c.capacity,
                demand=c.demand,
                utilisation=c.utilisation,
                backlog=c.backlog,
                extra_lead_time_weeks=c.extra_lead_time_weeks,
                extra_lead_time_days=c.extra_lead_time_days,
                delayed=c.backlog > 0,
            )
            for c in cells
        ],
    )


async def what_if(session: AsyncSession, settings: CapacitySettings, body: WhatIfRequest) -> WhatIf:
    """For each week: the most of the campaign's extra orders every resource has headroom for, at each
    resource's default load per order. Nothing is reserved."""
    this_week = current_week(settings.time_zone)
    for i, week in enumerate(body.weeks):
        check_week(week.week_start, this_week, settings.forecast_weeks, ["body", "weeks", i, "week_start"])
    forecast = forecast_schema(await newest_forecast(session), settings)
    asked = sorted(body.weeks, key=lambda w: w.week_start)
    cells = await repository.grid(session, None, this_week, asked[0].week_start, asked[-1].week_start)
    by_week: dict[date, list[Any]] = {}
    for cell in cells:
        by_week.setdefault(cell.week_start, []).append(cell)
    weeks, lines = [], []
    for planned in asked:
        in_week = sorted(by_week.get(planned.week_start, []), key=lambda c: c.resource)
        loading = [c for c in in_week if c.new_order_load > 0]
        room = {c.resource: max(Decimal(0), c.headroom) for c in in_week}
        fitting = {c.resource: (room[c.resource] / c.new_order_load).quantize(CENT, ROUND_FLOOR) for c in loading}
        binding = min(fitting, key=lambda r: fitting[r], default=None)
        fit = min(planned.orders, fitting[binding]) if binding else planned.orders
        weeks.append(
            WhatIfWeek(
                week_start=planned.week_start,
                iso_week=iso_week(planned.week_start),
                orders=planned.orders,
                fitting_orders=fit,
                fits=fit == planned.orders,
                binding_resource=binding if binding and fit < planned.orders else None,
                resources=[
                    WhatIfResource(
                        resource=c.resource,
                        needed=_cents_up(planned.orders * c.new_order_load),
                        available=room[c.resource],
                    )
                    for c in loading
                ],
            )
        )
        lines += [
            ReservationLineSuggestion(
                resource=c.resource,
                week_start=planned.week_start,
                amount=min(room[c.resource], _cents_up(fit * c.new_order_load)),
            )
            for c in loading
            if fit > 0
        ]
    orders = sum((w.orders for w in weeks), Decimal(0))
    fitting_orders = sum((w.fitting_orders for w in weeks), Decimal(0))
    return WhatIf(
        baseline=forecast,
        fits=all(w.fits for w in weeks),
        orders=orders,
        fitting_orders=fitting_orders,
        fitting_share=(fitting_orders / orders).quantize(Decimal("0.0001"), ROUND_FLOOR) if orders else None,
        weeks=weeks,
        reservation_lines=lines,
    )


def _cents_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_CEILING)
