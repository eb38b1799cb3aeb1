from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.bounds import TimeZoneName
from servicekit.settings import ServiceSettings


class CapacitySettings(ServiceSettings):
    """Settings of the capacity service; environment variables start with CAPACITY_."""

    model_config = SettingsConfigDict(env_prefix="CAPACITY_", extra="ignore", populate_by_name=True)

    segmentation_url: str = Field(
        default="http://127.0.0.1:8101", description="Where the segmentation service listens (order history)."
    )
    segmentation_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A segmentation call slower than this fails; the baseline falls back."
    )
    time_zone: TimeZoneName = Field(
        default="UTC",
        description="The company's IANA time zone: which week is the current one. Set it to segmentation's.",
    )
    forecast_weeks: int = Field(
        default=26, ge=1, le=104, description="Weeks ahead the baseline is forecast: the planning horizon."
    )
    history_weeks: int = Field(
        default=13, ge=1, le=52, description="Complete past weeks the history forecast averages."
    )
    backtest_weeks: int = Field(
        default=13, ge=1, le=52, description="Past weeks the history forecast is checked against (backtest)."
    )
    baseline_max_age_seconds: int = Field(
        default=3600, ge=1, description="A stored forecast older than this is refreshed; if that fails, stale."
    )
    reservation_hold_seconds: int = Field(
        default=900, ge=1, le=7 * 86400, description="A held reservation expires after this unless confirmed."
    )
    maintenance_interval_seconds: float = Field(
        default=60.0, ge=0, description="How often expired holds are marked and an old baseline refreshed (0: never)."
    )
