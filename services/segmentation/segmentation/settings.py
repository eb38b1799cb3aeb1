from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class SegmentationSettings(ServiceSettings):
    """Settings of the segmentation service; environment variables start with SEGMENTATION_."""

    model_config = SettingsConfigDict(env_prefix="SEGMENTATION_", extra="ignore", populate_by_name=True)

    import_stale_after_seconds: int = Field(
        default=3600,
        ge=60,
        description="An import still receiving or processing after this long is given up (failed, nothing "
        "imported). Imports whose upload broke off or whose process stopped end at once.",
    )
    import_vacuum_min_rows: int = Field(
        default=100_000,
        ge=1,
        description="After an import of at least this many rows, its table is vacuumed and analysed in the "
        "background: fresh statistics, and a visibility map that lets runs read the covering indexes alone.",
    )
