"""Field types every fact of the ERP shares: its ids, currencies, amounts, days and times."""

import re
from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from servicekit.bounds import FIRST_YEAR as FIRST_YEAR
from servicekit.bounds import LAST_YEAR as LAST_YEAR
from servicekit.bounds import Amount as Amount
from servicekit.bounds import AwareTime, Day
from servicekit.bounds import SignedAmount as SignedAmount

EXTERNAL_ID_PATTERN = r"^[^\x00-\x1f\x7f/]+$"
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=EXTERNAL_ID_PATTERN)]
ExternalIdPath = Annotated[
    str, Path(min_length=1, max_length=128, pattern=EXTERNAL_ID_PATTERN, description="The ERP's id.")
]
CreateMissingCustomer = Annotated[
    bool,
    Query(description="Create an auto-created customer for an unknown customer_external_id instead of a 422."),
]

# ISO 4217 active codes (2026), so that a typo such as "EUE" is rejected rather than stored.
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD
    CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ
    GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR
    LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
    PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB
    TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW
    ZWG
    """.split()  # noqa: SIM905 - a block of codes reads better than a list
)


def _known_currency(code: str) -> str:
    if code not in ISO_4217:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


CurrencyCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_known_currency), Field(examples=["EUR"])
]


# Facts lie in the supported years (servicekit.bounds): an order of the year 1 is a typo, and runs pack days
# into integers (compute.py).
FactDate = Day

_DAY_ONLY = re.compile(r"\d{4}-\d\d-\d\d")
_AS_DAY = TypeAdapter(Day)
_AS_TIME = TypeAdapter(AwareTime)


def is_day(value: object) -> bool:
    """A day alone (a date, not a datetime): what a FactTime holds until the company's time zone makes it a time."""
    return isinstance(value, date) and not isinstance(value, datetime)


def _time_or_day(value: Any, _: ValidatorFunctionWrapHandler) -> datetime | date:
    # Validated as one type or the other, never as a union: the 422 then names the field alone (body.ordered_at),
    # with the message of a time or of a day, and a day keeps the bounds of every other day.
    as_day = is_day(value) or (isinstance(value, str) and _DAY_ONLY.fullmatch(value) is not None)
    try:
        return _AS_DAY.validate_python(value) if as_day else _AS_TIME.validate_python(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise PydanticCustomError(error["type"], error["msg"]) from None


FactTime = Annotated[
    datetime | date, WrapValidator(_time_or_day), Field(examples=["2026-03-14T09:30:00+01:00", "2026-03-14"])
]
"""A time with its zone or offset, or a day alone (YYYY-MM-DD, as many ERPs send): the start of that day in the
company's time zone, which the service resolves (`start_of_day`) before it stores the fact."""


def start_of_day(value: datetime | date, zone: ZoneInfo) -> datetime:
    """A FactTime as the instant it stands for: a day alone is its first moment (00:00) in `zone`, as Postgres
    reads one (imports.repository); where midnight does not exist there, the first moment after the gap."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(), tzinfo=zone)
