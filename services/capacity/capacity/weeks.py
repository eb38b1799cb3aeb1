"""ISO weeks, named by their Monday everywhere in the API (`week_start`), with the ISO label alongside."""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import AfterValidator, Field

from servicekit import clock
from servicekit.bounds import Day
from servicekit.clock import week_of
from servicekit.errors import Unprocessable


def current_week(time_zone: str) -> date:
    """This week in the company's time zone, by the service's clock (CAPACITY_FIXED_NOW)."""
    return week_of(clock.today(time_zone))


def iso_week(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def weeks_between(first: date, last: date) -> int:
    """How many weeks from the week starting `first` to the one starting `last`, both included."""
    return (last - first).days // 7 + 1


def _a_monday(day: date) -> date:
    if day.weekday() != 0:
        raise ValueError(f"must be a Monday, the start of an ISO week (the week of {day} starts {week_of(day)})")
    return day


WeekStart = Annotated[Day, AfterValidator(_a_monday), Field(examples=["2026-12-07"])]
"""A week as the date of its Monday."""


@dataclass(frozen=True)
class WeekRange:
    """Weeks `first` to `last` (Mondays, both included) within the planning horizon that starts `this_week`."""

    this_week: date
    first: date
    last: date


def horizon_end(this_week: date, forecast_weeks: int) -> date:
    """The Monday of the last week the service plans for."""
    return this_week + timedelta(weeks=forecast_weeks - 1)


def check_week(week: date, this_week: date, forecast_weeks: int, field: list[str | int]) -> None:
    """A 422 naming the field for a week in the past or beyond the planning horizon."""
    if week < this_week:
        raise Unprocessable(f"The week of {week} is in the past; this week starts {this_week}.", field=field)
    last = horizon_end(this_week, forecast_weeks)
    if week > last:
        raise Unprocessable(
            f"The week of {week} is beyond the planning horizon of {forecast_weeks} weeks (the last starts {last}).",
            field=field,
        )


def week_range(
    request: Request,
    from_week: Annotated[WeekStart | None, Query(description="First week (a Monday; default this week).")] = None,
    to_week: Annotated[
        WeekStart | None, Query(description="Last week, included (default: the horizon's last).")
    ] = None,
) -> WeekRange:
    settings = request.app.state.settings
    this_week = current_week(settings.time_zone)
    first = from_week or this_week
    last = to_week or horizon_end(this_week, settings.forecast_weeks)
    check_week(first, this_week, settings.forecast_weeks, ["query", "from_week"])
    check_week(last, this_week, settings.forecast_weeks, ["query", "to_week"])
    if last < first:
        raise Unprocessable("to_week must not be before from_week.", field=["query", "to_week"])
    return WeekRange(this_week=this_week, first=first, last=last)


WeekRangeDep = Annotated[WeekRange, Depends(week_range)]
