"""Reports over every classification: the summary by class, flows between classes, and orders per week."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from segmentation.classification import repository
from segmentation.classification.schemas import (
    Bucket,
    Flow,
    FlowReport,
    ProfileFilters,
    Summary,
    WeeklyOrders,
    WeekOfOrders,
)
from segmentation.company.repository import load_thresholds
from servicekit.errors import BadRequest


async def flow_report(session: AsyncSession, attribute: str, from_date: date, to_date: date) -> FlowReport:
    if to_date < from_date:
        raise BadRequest("to_date must not be before from_date.")
    rows = await repository.flows(session, attribute, from_date, to_date)
    flows = [Flow(from_value=f, to_value=t, customers=n) for f, t, n in rows]
    return FlowReport(attribute=attribute, from_date=from_date, to_date=to_date, flows=flows)  # type: ignore[arg-type]


async def get_summary(session: AsyncSession) -> Summary:
    groups: dict[str, dict[str, Bucket]] = {a: {} for a in repository.SUMMARY_ATTRIBUTES}
    total = Bucket(customers=0, revenue_12m=Decimal(0))
    as_of = None
    for attribute, state, customers, revenue, newest in await repository.summary(session):
        if attribute is None:
            total, as_of = Bucket(customers=customers, revenue_12m=revenue), newest
        elif state is not None:  # customers without a quadrant are not a state of the matrix
            groups[attribute][state] = Bucket(customers=customers, revenue_12m=revenue)
    return Summary(as_of=as_of, customers=total.customers, revenue_12m=total.revenue_12m, **groups)


async def weekly_orders(session: AsyncSession, filters: ProfileFilters, from_date: date, to_date: date) -> WeeklyOrders:
    if to_date <= from_date:
        raise BadRequest("to_date must be after from_date.")
    if (to_date - from_date).days > 3 * 366:
        raise BadRequest("At most three years of weeks at once.")
    thresholds = await load_thresholds(session)
    start = datetime.combine(from_date, datetime.min.time(), thresholds.zone)
    end = datetime.combine(to_date, datetime.min.time(), thresholds.zone)
    weeks_found = await repository.weekly_orders(session, filters, start, end, thresholds.time_zone)
    counted = {row[0].date(): (int(row[1]), row[2]) for row in weeks_found}
    members = await repository.count_matching(session, filters)
    monday = from_date - timedelta(days=from_date.weekday())
    weeks = []
    while monday < to_date:
        orders, amount = counted.get(monday, (0, Decimal("0.00")))
        year, week, _ = monday.isocalendar()
        weeks.append(WeekOfOrders(week_start=monday, iso_week=f"{year}-W{week:02d}", orders=orders, net_amount=amount))
        monday += timedelta(days=7)
    return WeeklyOrders(from_date=from_date, to_date=to_date, customers=members, weeks=weeks)
