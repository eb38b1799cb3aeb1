"""The services' clock: what "now", "today" and "this week" mean to the domain (schedules, "N days ago",
as-of days, the weeks capacity counts).

It is the system clock unless the service's `fixed_now` setting stops it at one instant (tests, demos, a
replay of a past day): then every request and background task of that app reads that instant. Record-keeping
timestamps written by Postgres (created_at, updated_at, hold expiry) and ages measured for operations (cache
and baseline staleness, metrics) keep the real clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from starlette.types import ASGIApp, Receive, Scope, Send

_fixed_now: ContextVar[datetime | None] = ContextVar("servicekit_fixed_now", default=None)


def now() -> datetime:
    """The current instant, in UTC."""
    return (_fixed_now.get() or datetime.now(UTC)).astimezone(UTC)


def today(time_zone: str | ZoneInfo) -> date:
    """Today in the company's time zone, which may already be tomorrow (or still yesterday) in UTC."""
    return now().astimezone(ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone).date()


def week_of(day: date) -> date:
    """The Monday of the ISO week (Monday to Sunday) `day` is in."""
    return day - timedelta(days=day.weekday())


@contextmanager
def fixed_at(instant: datetime | None) -> Iterator[None]:
    """Within it (and in the tasks created within it, which copy the context), the clock stands at `instant`;
    None: the system clock. The app's lifespan runs in it (servicekit.app), its requests in the middleware."""
    token = _fixed_now.set(instant)
    try:
        yield
    finally:
        _fixed_now.reset(token)


class FixedClockMiddleware:
    """Stops the clock at `fixed_now` for every request (and the tasks a request creates)."""

    def __init__(self, app: ASGIApp, fixed_now: datetime) -> None:
        self.app = app
        self.fixed_now = fixed_now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with fixed_at(self.fixed_now):
            await self.app(scope, receive, send)
