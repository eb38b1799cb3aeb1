from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class SegmentationSettings(ServiceSettings):
    """Settings of the segmentation service; environment variables start with SEGMENTATION_."""

    model_config = SettingsConfigDict(env_prefix="SEGMENTATION_", extra="ignore", populate_by_name=True)

    import_stale_after_seconds: int = Field(
        default=3600,
        ge=60,
        description="An import still receiving or processing after this long is taken as dead (its process "
        "stopped): its Idempotency-Key may be used again.",
    )
