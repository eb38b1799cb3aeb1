from decimal import Decimal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from servicekit.bounds import TimeZoneName
from servicekit.settings import ServiceSettings

Z_STAGES = ("Z0", "Z1", "Z2", "Z3", "Z4")


class CampaignsSettings(ServiceSettings):
    """Settings of the campaigns service; environment variables start with CAMPAIGNS_."""

    model_config = SettingsConfigDict(env_prefix="CAMPAIGNS_", extra="ignore", populate_by_name=True)

    segmentation_url: str = Field(
        default="http://127.0.0.1:8101",
        description="Where the segmentation service listens (audiences, order facts, interactions).",
    )
    segmentation_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A segmentation call (or a pause within an audience stream) longer fails."
    )
    capacity_url: str = Field(
        default="http://127.0.0.1:8103", description="Where the capacity service listens (what-if, reservations)."
    )
    capacity_timeout_seconds: float = Field(default=10.0, gt=0, description="A capacity call slower than this fails.")
    time_zone: TimeZoneName = Field(
        default="UTC", description="The company's IANA time zone: which day is today. Set it to segmentation's."
    )
    contribution_margin: Decimal = Field(
        default=Decimal("0.30"),
        ge=0,
        le=1,
        description="Share of an order's value that is contribution, for campaigns that do not set their own.",
    )
    response_priors: dict[str, Decimal] = Field(
        default={
            "Z0": Decimal("0.01"),
            "Z1": Decimal("0.02"),
            "Z2": Decimal("0.05"),
            "Z3": Decimal("0.07"),
            "Z4": Decimal("0.10"),
        },
        description="Prior response rate per Z-stage (JSON), before the company's own results.",
    )
    prior_strength: int = Field(
        default=100, ge=1, description="Weight of the prior in contacts: Beta(n x prior, n x (1 - prior))."
    )
    scale_by_probability_alive: bool = Field(
        default=True, description="Multiply a member's response probability by his probability alive, where known."
    )
    contact_cap: int = Field(
        default=3, ge=1, description="Most marketing contacts per customer within contact_cap_days, all campaigns."
    )
    contact_cap_days: int = Field(default=30, ge=1, le=366, description="The rolling period of the contact cap.")
    attribution_window_days: int = Field(
        default=60, ge=1, le=365, description="An order this many days after a contact counts for the campaign."
    )
    suggestion_min_probability_alive: Decimal = Field(
        default=Decimal("0.30"), ge=0, le=1, description="Reactivation suggestions: lapsed, but at least this alive."
    )
    suggestion_second_order_days: tuple[int, int] = Field(
        default=(30, 60), description="Second-order suggestions: first-time buyers this many days after the order."
    )
    suggestion_contact_costs: dict[str, Decimal] = Field(
        default={
            "email": Decimal("0.10"),
            "phone": Decimal("8.00"),
            "post": Decimal("1.50"),
            "visit": Decimal("120.00"),
            "event": Decimal("60.00"),
        },
        description="Suggestions: the usual cost of one contact per channel (JSON).",
    )
    suggestion_quiet_days: int = Field(
        default=90, ge=1, description="Loyalty suggestions: key accounts without any contact for this many days."
    )

    @field_validator("response_priors")
    @classmethod
    def _every_stage_a_probability(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        if set(value) != set(Z_STAGES):
            raise ValueError(f"Give a prior for each of {', '.join(Z_STAGES)}.")
        if any(not 0 < p < 1 for p in value.values()):
            raise ValueError("A prior response rate lies strictly between 0 and 1.")
        return value

    @field_validator("suggestion_contact_costs")
    @classmethod
    def _every_channel_costed(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        channels = {"email", "phone", "post", "visit", "event"}
        if set(value) != channels or any(cost < 0 for cost in value.values()):
            raise ValueError(f"Give a cost of at least 0 for each of {', '.join(sorted(channels))}.")
        return {channel: cost.quantize(Decimal("0.01")) for channel, cost in value.items()}

    @field_validator("suggestion_second_order_days")
    @classmethod
    def _a_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= value[0] < value[1]:
            raise ValueError("Give [from, to] days with 0 <= from < to.")
        return value
