"""A run's calendar days: the fixed-offset shortcut of `Days.local_date` against the zone's own rules."""

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from segmentation.orderdays.days import Days, zone_offsets
from servicekit.settings import async_database_url

# Summer time, double summer time (Berlin 1945), half-hour and 45-minute offsets, a zone that skipped a day
# (Apia, end of 2011), one whose summer time is half an hour (Lord Howe), and one without any change.
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Apia",
    "Australia/Lord_Howe",
    "UTC",
]
SPANS = [
    ("1899-12-31 00:00Z", "1900-01-03 00:00Z"),
    ("1940-01-01 00:00Z", "1950-01-01 00:00Z"),
    ("2011-01-01 00:00Z", "2013-01-01 00:00Z"),
    ("2099-12-29 00:00Z", "2100-01-02 00:00Z"),
]


@pytest.mark.parametrize("zone", ZONES)
async def test_the_shortcut_gives_every_instant_the_day_the_zone_gives_it(db_url: str, zone: str) -> None:
    engine = create_async_engine(async_database_url(db_url))
    try:
        async with engine.connect() as session:
            offsets = await zone_offsets(session, zone)
            quick, exact = Days(date(2026, 1, 1), zone, offsets), Days(date(2026, 1, 1), zone)
            # Every quarter hour of spans with changes, and the first and last days facts may lie in.
            differing, checked, near_midnight = (
                await session.execute(
                    text(f"""
                SELECT count(*) FILTER (WHERE {quick.local_date("t")} IS DISTINCT FROM {exact.local_date("t")}),
                       count(*),
                       count(*) FILTER (WHERE {quick.local_date("t")} <> (t AT TIME ZONE 'UTC')::date)
                FROM unnest(ARRAY[{", ".join(f"'{a}'" for a, _ in SPANS)}]::timestamptz[],
                            ARRAY[{", ".join(f"'{b}'" for _, b in SPANS)}]::timestamptz[]) AS span(a, b),
                     generate_series(span.a, span.b, interval '15 min') t""")
                )
            ).one()
    finally:
        await engine.dispose()
    assert checked > 400_000
    assert differing == 0
    if zone == "UTC":
        assert offsets == (0, 0)
        assert near_midnight == 0
    else:  # the instants where the zone's day is not UTC's were checked too
        assert near_midnight > 1_000


async def test_the_offsets_are_those_the_zone_has_had(db_url: str) -> None:
    engine = create_async_engine(async_database_url(db_url))
    try:
        async with engine.connect() as session:
            berlin, kolkata = await zone_offsets(session, "Europe/Berlin"), await zone_offsets(session, "Asia/Kolkata")
    finally:
        await engine.dispose()
    assert berlin == (3600, 3 * 3600), "CET, and the double summer time of 1945"
    assert kolkata[1] == 6 * 3600 + 30 * 60, "war time in 1942-1945"
