from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class CampaignsSettings(ServiceSettings):
    """Settings of the campaigns service; environment variables start with CAMPAIGNS_."""

    model_config = SettingsConfigDict(env_prefix="CAMPAIGNS_", extra="ignore", populate_by_name=True)
