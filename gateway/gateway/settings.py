from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from servicekit.app import UPLOAD_PATH_SEGMENT
from servicekit.settings import ServiceSettings

DEVELOPMENT_KEY_SECRET = "development-only-secret-change-me"  # noqa: S105 - a warning is logged when used


class RouteTimeout(BaseModel):
    """A timeout of its own for the routes under `prefix`, for one method or (None) all."""

    method: str | None
    prefix: str
    seconds: float = Field(gt=0)

    @classmethod
    def parse(cls, text: str) -> RouteTimeout:
        """From `[METHOD ]PATH_PREFIX=SECONDS`, e.g. `POST /v1/segmentation/runs=30`."""
        route, _, seconds = text.strip().rpartition("=")
        method, _, prefix = route.strip().rpartition(" ")
        if not prefix.startswith("/") or not seconds:
            raise ValueError(f"{text.strip()!r} is not `[METHOD ]PATH_PREFIX=SECONDS`")
        return cls(method=method.strip().upper() or None, prefix=prefix, seconds=seconds.strip())


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
    upstream_route_timeouts: Annotated[list[RouteTimeout], NoDecode] = Field(
        default_factory=list,
        description="Timeouts of their own for some routes, comma-separated `[METHOD ]PATH_PREFIX=SECONDS`, e.g. "
        "`GET /v1/segmentation/customers=2`; the longest matching prefix wins.",
    )
    upstream_retries: int = Field(
        default=2, ge=0, description="Further attempts for a request that is safe to repeat, when a service failed."
    )
    upstream_retry_backoff_seconds: float = Field(
        default=0.05, ge=0, description="Wait before the first retry; doubled for each further one, with jitter."
    )
    circuit_breaker_failures: int = Field(
        default=5, ge=0, description="Failed calls in a row that open a service's circuit breaker (0: never)."
    )
    circuit_breaker_cooldown_seconds: float = Field(
        default=10.0, gt=0, description="How long an open breaker answers 503 before one request probes the service."
    )
    upstream_max_connections: int = Field(default=200, ge=1, description="Pooled connections per service.")
    api_key_secret: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_KEY_SECRET),
        description="HMAC-SHA256 key for hashing API keys. Set it in production; changing it voids every key.",
    )
    api_key_cache_seconds: float = Field(
        default=5.0, ge=0, description="Known keys are cached this long; a revoked key works at most this long."
    )
    api_key_unknown_cache_seconds: float = Field(
        default=60.0, ge=0, description="Unknown keys are remembered this long: presenting one again costs no lookup."
    )
    api_key_unknown_cache_entries: int = Field(
        default=10_000, ge=1, description="Unknown keys remembered at most; the oldest are forgotten first."
    )
    auth_failure_limit_enabled: bool = Field(
        default=True, description="Limit the unknown API keys each client address may present."
    )
    auth_failure_burst: int = Field(
        default=20, ge=1, description="Unknown API keys a client address may present at once; past that, 429."
    )
    auth_failure_per_second: float = Field(
        default=1.0, gt=0, description="Unknown API keys a client address may present per second, sustained."
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

    @field_validator("upstream_route_timeouts", mode="before")
    @classmethod
    def _parse_route_timeouts(cls, value: object) -> object:
        if isinstance(value, str):
            value = [entry for entry in value.split(",") if entry.strip()]
        if isinstance(value, list):
            return [RouteTimeout.parse(entry) if isinstance(entry, str) else entry for entry in value]
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    def upstream_timeout(self, method: str, path: str) -> float:
        """How long a service may stay silent on this request before the caller gets a 504."""
        upload = UPLOAD_PATH_SEGMENT in path
        matches = [
            rule
            for rule in self.upstream_route_timeouts
            if rule.method in (None, method)
            and path.startswith(rule.prefix)
            # A bulk import is silent until its file is committed: only a rule naming imports may shorten that.
            and (not upload or "/imports" in rule.prefix)
        ]
        if matches:
            # The longest prefix wins; for the same prefix, the rule naming the method.
            return max(matches, key=lambda rule: (len(rule.prefix), rule.method is not None)).seconds
        return self.upload_timeout_seconds if upload else self.upstream_timeout_seconds

    def upstreams(self) -> dict[str, str]:
        return {
            "segmentation": self.segmentation_url,
            "campaigns": self.campaigns_url,
            "capacity": self.capacity_url,
        }
