from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from campaigns.types import AbcClass, Currency, Key, Lifecycle, Money, Payment, Quadrant, Text200, ZStage

IncentiveKind = Literal[
    "loyalty_discount",
    "upgrade",
    "gift",
    "occasion",
    "survey_thanks",
    "complaint_apology",
    "referral_bonus",
    "welcome_discount",
    "free_shipping",
    "payment_terms",
]
IncentiveAudience = Literal["existing", "new", "all"]


class Eligibility(BaseModel):
    """Who may have the incentive, by segmentation's classifications: each list empty means anyone; several
    values of one are OR'ed, different ones AND'ed."""

    model_config = ConfigDict(extra="forbid")

    z_stage: list[ZStage] = []
    lifecycle: list[Lifecycle] = []
    abc: list[AbcClass] = []
    quadrant: list[Quadrant] = []
    payment: list[Payment] = []
    key_account: bool | None = None


class IncentivePut(BaseModel):
    """An incentive as the company describes it; a field left out goes back to its default."""

    model_config = ConfigDict(extra="forbid")

    name: Text200
    kind: IncentiveKind
    offer: Key | None = Field(
        default=None,
        description="What the incentive is an instance of (default: its own key). Incentives of one offer for "
        "new and for existing customers are compared by the loyalty rule.",
        examples=["spring-discount"],
    )
    audience: IncentiveAudience = Field(
        default="existing",
        description="existing: customers who ordered; new: customers who never ordered (prospects, leads); all.",
    )
    value: Money = Field(description="What the customer gets: a percentage or an amount (value_unit).")
    value_unit: Literal["percent", "amount"] = "amount"
    cost: Money = Field(description="What one costs the company, on its cost_basis.")
    cost_basis: Literal["per_contact", "per_response"] = Field(
        default="per_response",
        description="per_contact: paid for every member contacted (a gift sent along); per_response: paid when "
        "a member responds (a discount redeemed).",
    )
    currency: Currency = "EUR"
    credit_based: bool = Field(
        default=False, description="Credit for the customer (payment terms, pay later): never for prepayment_only."
    )
    eligibility: Eligibility = Field(default_factory=Eligibility)
    active: bool = True
    description: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _consistent(self) -> "IncentivePut":
        if self.value_unit == "percent" and self.value > 100:
            raise ValueError("A percentage is at most 100.")
        if self.kind == "payment_terms" and not self.credit_based:
            raise ValueError("Payment terms are credit: set credit_based to true.")
        return self


class Incentive(BaseModel):
    key: Key
    name: str
    kind: IncentiveKind
    offer: str
    audience: IncentiveAudience
    value: Money
    value_unit: Literal["percent", "amount"]
    cost: Money
    cost_basis: Literal["per_contact", "per_response"]
    currency: str
    credit_based: bool
    eligibility: Eligibility
    active: bool
    description: str | None
    created_at: datetime
    updated_at: datetime
