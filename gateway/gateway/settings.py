from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from servicekit.settings import ServiceSettings

DEVELOPMENT_KEY_SECRET = "development-only-secret-change-me"  # noqa: S105 - a warning is logged when used


class GatewaySettings(ServiceSettings):
    """Settings of the gateway; environment variables start with GATEWAY_."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    segmentation_url: str = Field(default="http://127.0.0.1:8101", description="Base URL of segmentation.")
    campaigns_url: str = Field(default="http://127.0.0.1:8102", description="Base URL of campaigns.")
    capacity_url: str = Field(default="http://127.0.0.1:8103", description="Base URL of capacity.")
    upstream_timeout_seconds: float = Field(default=10.0, gt=0, description="504 when a service takes longer.")
    upload_timeout_seconds: float = Field(
        default=900.0, gt=0, description="504 when a bulk import (/imports/) takes longer than this."
    )
    upstream_connect_timeout_seconds: float = Field(
        default=1.0, gt=0, description="503 when a service cannot be reached within this."
    )
    upstream_max_connections: int = Field(default=200, ge=1, description="Pooled connections per service.")
    api_key_secret: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_KEY_SECRET),
        description="HMAC-SHA256 key for hashing API keys. Set it in production; changing it voids every key.",
    )
    api_key_cache_seconds: float = Field(
        default=5.0, ge=0, description="Known keys are cached this long; a revoked key works at most this long."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed by CORS, comma-separated ('*' for any)."
    )
    openapi_cache_seconds: float = Field(default=60.0, ge=0, description="How long the merged OpenAPI is kept.")
    rate_limit_enabled: bool = Field(default=True, description="Limit the requests each API key may make.")
    rate_limit_read_per_second: float = Field(
        default=50.0, gt=0, description="Reads (GET, HEAD, OPTIONS) a key may make per second, sustained."
    )
    rate_limit_read_burst: int = Field(default=100, ge=1, description="Reads a key may make at once.")
    rate_limit_write_per_second: float = Field(
        default=20.0, gt=0, description="Writes (every other method) a key may make per second, sustained."
    )
    rate_limit_write_burst: int = Field(default=40, ge=1, description="Writes a key may make at once.")
    redis_url: str = Field(
        default="", description="Redis for rate limits shared by every replica; empty: each process counts alone."
    )
    redis_timeout_seconds: float = Field(
        default=0.25, gt=0, description="A Redis slower than this lets the request through unchecked."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    def upstreams(self) -> dict[str, str]:
        return {
            "segmentation": self.segmentation_url,
            "campaigns": self.campaigns_url,
            "capacity": self.capacity_url,
        }
