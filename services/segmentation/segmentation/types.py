"""Field types every fact of the ERP shares: its ids, currencies, amounts, days and times."""

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, Field, StringConstraints

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
FactTime = AwareTime
