"""Field types the campaigns API shares: keys, money, classifications as segmentation names them."""

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from servicekit.bounds import Amount
from servicekit.bounds import Share as Share

KEY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN), Field(examples=["loyalty-10"])]
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), Field(examples=["EUR"])]

Lifecycle = Literal["prospect", "new", "active", "lapsed", "reactivated"]
ZStage = Literal["Z0", "Z1", "Z2", "Z3", "Z4"]
AbcClass = Literal["A", "B", "C"]
Payment = Literal["punctual", "late", "prepayment_only"]
Quadrant = Literal["top", "development", "premium", "small"]
Phase = Literal["acquisition", "onboarding", "growth", "maturity", "at_risk", "win_back"]
ConsentChannel = Literal["email", "phone", "post"]

CampaignKind = Literal["reactivation", "second_order", "nurture", "loyalty", "complaint_recovery", "acquisition"]
Channel = Literal["email", "phone", "post", "visit", "event"]
CampaignState = Literal["draft", "planned", "approved", "running", "completed", "cancelled"]

CENT = Decimal("0.01")


def to_cents(value: Decimal) -> Decimal:
    """Two places, as every amount is answered ("60" is read as 60.00)."""
    return value.quantize(CENT)


Money = Annotated[Amount, AfterValidator(to_cents)]
"""An amount of money as a decimal string with at most two places, 0 to 999999999999.99 (servicekit.bounds)."""

MAX_CAMPAIGN_DAYS = 1096
"""Three years: a campaign's plan works per week, and no company plans one contact run further ahead."""


def within_campaign_length(starts_on: date | None, ends_on: date | None, field: str) -> None:
    """Raise ValueError for a schedule that ends before it starts or runs longer than MAX_CAMPAIGN_DAYS."""
    if starts_on is None or ends_on is None:
        return
    if ends_on < starts_on:
        raise ValueError("ends_on must not be before starts_on.")
    if (ends_on - starts_on).days + 1 > MAX_CAMPAIGN_DAYS:
        raise ValueError(f"A campaign runs at most {MAX_CAMPAIGN_DAYS} days (three years): {field} is too far.")
