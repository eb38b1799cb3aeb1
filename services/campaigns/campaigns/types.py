"""Field types the campaigns API shares: keys, money, classifications as segmentation names them."""

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

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


Money = Annotated[Decimal, Field(max_digits=14, decimal_places=2, ge=0, examples=["12.50"]), AfterValidator(to_cents)]
"""An amount of money as a decimal string with at most two places, never negative."""
Share = Annotated[Decimal, Field(max_digits=5, decimal_places=4, ge=0, le=1, examples=["0.30"])]
