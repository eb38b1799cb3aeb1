from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class CapacitySettings(ServiceSettings):
    """Settings of the capacity service; environment variables start with CAPACITY_."""

    model_config = SettingsConfigDict(env_prefix="CAPACITY_", extra="ignore", populate_by_name=True)
