from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class SegmentationSettings(ServiceSettings):
    """Settings of the segmentation service; environment variables start with SEGMENTATION_."""

    model_config = SettingsConfigDict(env_prefix="SEGMENTATION_", extra="ignore", populate_by_name=True)
