"""The bounds every service's input shares: dates and times, day counts, amounts of money, ratios, counts, ids.

Written once, so that a value means the same range wherever it occurs and a 422 says that range: a value
outside what the domain allows (or what Postgres and the services' arithmetic can hold) is refused where it
enters, never stored to fail later (a day window of 2^63 days, a ratio of 1e400, an order in the year 9999).

`bounded(...)` makes a number type whose 422 names the whole range (pydantic's own message names only the
end that was crossed); `Day` and `Time` are dates and times within the supported years.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import AfterValidator, AwareDatetime, Field, ValidationError, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import PydanticCustomError

# Dates and times: what an ERP's data holds, with room to plan ahead. The classification runs pack days into
# integers up to 2150 (segmentation/classification/compute.py), and Python's datetime ends in the year 9999.
FIRST_YEAR, LAST_YEAR = 1900, 2099
FIRST_DAY, LAST_DAY = date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31)
DATE_RANGE = f"between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}"

# Errors of the value's own checks that mean "out of range" (not "not a number"): they get the range instead.
_RANGE_ERRORS = frozenset(
    {
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "finite_number",
        "decimal_max_digits",
        "decimal_whole_digits",
    }
)


def _plain(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


def range_text(
    ge: Any = None, gt: Any = None, le: Any = None, lt: Any = None, unit: str = "", places: int | None = None
) -> str:
    """The range in words, e.g. 'from 1 to 3650 days', 'greater than 0 and at most 1'."""
    low = f"from {_plain(ge)}" if ge is not None else f"greater than {_plain(gt)}" if gt is not None else ""
    high = f"at most {_plain(le)}" if le is not None else f"less than {_plain(lt)}" if lt is not None else ""
    if ge is not None and le is not None:
        text = f"from {_plain(ge)} to {_plain(le)}"
    else:
        text = " and ".join(part for part in (low, high) if part)
    if unit:
        text += f" {unit}"
    if places is not None:
        text += f", with at most {places} decimal places" if places else ", a whole number"
    return text


def _in_range(message: str) -> WrapValidator:
    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            if any(error["type"] in _RANGE_ERRORS for error in exc.errors()):
                raise PydanticCustomError("out_of_range", "must be {range}", {"range": message}) from None
            raise

    return WrapValidator(check)


def bounded(
    kind: type,
    *,
    ge: Any = None,
    gt: Any = None,
    le: Any = None,
    lt: Any = None,
    unit: str = "",
    max_digits: int | None = None,
    decimal_places: int | None = None,
    **field: Any,
) -> Any:
    """`kind` (int or Decimal) within the bounds, the 422 naming the whole range ("must be from 1 to 3650 days").

    Decimals may give `max_digits` and `decimal_places` (a numeric(p, s) column's): too many places is refused
    by pydantic's own message, too many digits before the point with the range."""
    text = range_text(ge, gt, le, lt, unit, decimal_places if kind is Decimal else None)
    constraints = {"ge": ge, "gt": gt, "le": le, "lt": lt, "max_digits": max_digits, "decimal_places": decimal_places}
    given = {name: value for name, value in constraints.items() if value is not None}
    return Annotated[kind, Field(**given, **field), _in_range(text)]


# --- dates and times --------------------------------------------------------------------------------------


def _day_in_range(value: date, handler: ValidatorFunctionWrapHandler) -> date:
    day = handler(value)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise PydanticCustomError("out_of_range", "must lie {range}", {"range": DATE_RANGE})
    return day


def _time_in_range(value: Any, handler: ValidatorFunctionWrapHandler) -> datetime:
    # In the time's own offset: 2099-12-31T23:00:00-05:00 is in range (and its UTC still one Postgres holds).
    moment = handler(value)
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise PydanticCustomError("out_of_range", "must lie {range}", {"range": DATE_RANGE})
    return moment


Day = Annotated[date, WrapValidator(_day_in_range), Field(examples=["2026-03-14"])]
"""A calendar day within the supported range (1900-01-01 to 2099-12-31)."""
Time = Annotated[datetime, WrapValidator(_time_in_range)]
"""A time (RFC 3339) within the supported range, in its own offset."""
AwareTime = Annotated[AwareDatetime, WrapValidator(_time_in_range), Field(examples=["2026-03-14T09:30:00Z"])]
"""A time with its zone or offset, within the supported range."""


# --- numbers ----------------------------------------------------------------------------------------------

MAX_DAYS = 3650
"""Ten years: the longest day window or day count any rule needs (a lapse, a gap, a trend window)."""


def days(ge: int = 1, le: int = MAX_DAYS, **field: Any) -> Any:
    """A day window or a number of days, `ge` to `le` (by default 1 to 3650)."""
    return bounded(int, ge=ge, le=le, unit="days", **field)


DayCount = days()
"""A day window or a number of days, 1 to 3650."""

MAX_AMOUNT = Decimal("999999999999.99")
"""The largest single amount of money: just under a trillion, a numeric(14, 2). Sums of them are numeric(18, 2)."""
Amount = bounded(Decimal, ge=0, le=MAX_AMOUNT, max_digits=14, decimal_places=2, examples=["1250.00"])
"""Money without its currency: a decimal string with at most two places, 0 to 999999999999.99."""
SignedAmount = bounded(Decimal, ge=-MAX_AMOUNT, le=MAX_AMOUNT, max_digits=14, decimal_places=2, examples=["-35.50"])
"""An amount that may be negative (a margin), -999999999999.99 to 999999999999.99."""
MAX_TOTAL = Decimal("9999999999999999.99")
"""The largest sum of amounts (a customer's revenue, numeric(18, 2))."""
Total = bounded(Decimal, ge=0, le=MAX_TOTAL)
"""A bound on a sum of amounts (a filter on revenue), 0 to 9999999999999999.99."""

Share = bounded(Decimal, ge=0, le=1, max_digits=5, decimal_places=4, examples=["0.30"])
"""A share from 0 to 1, at most four places (a numeric(5, 4))."""

MAX_INT4 = 2**31 - 1
MAX_INT8 = 2**63 - 1
Id = bounded(int, ge=1, le=MAX_INT8)
"""A bigint id the database gave out."""

_TIME_ZONES = frozenset(available_timezones())


def _known_time_zone(value: str) -> str:
    if value not in _TIME_ZONES:
        raise ValueError("Unknown time zone; use an IANA name such as Europe/Berlin.")
    return value


# An IANA time zone's name, one this Python knows (the companies' days are its calendar days).
TimeZoneName = Annotated[str, AfterValidator(_known_time_zone)]
