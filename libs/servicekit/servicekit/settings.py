"""Settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from pydantic import AliasChoices, AwareDatetime, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def async_database_url(url: str) -> str:
    """Normalise a libpq-style URL to the asyncpg driver SQLAlchemy needs."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def plain_database_url(url: str) -> str:
    """The URL asyncpg itself takes: SQLAlchemy's driver prefix removed."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


DEVELOPMENT_SIGNING_SECRET = "development-only-internal-signing-secret"  # noqa: S105 - a warning is logged


def _split_secrets(value: str) -> list[str]:
    return [secret.strip() for secret in value.split(",") if secret.strip()]


class ServiceSettings(BaseSettings):
    """Base settings. Subclasses set `model_config = SettingsConfigDict(env_prefix="NAME_")`.

    `DATABASE_URL` is shared by all components (one Postgres, one schema each), so it has no prefix.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("database_url", "DATABASE_URL"),
        description="Postgres URL (postgresql://user:pass@host:port/db or ...?host=/socket/dir).",
    )
    db_pool_size: int = Field(default=10, ge=1, description="Connections kept open per process.")
    db_max_overflow: int = Field(default=10, ge=0, description="Extra connections allowed under load.")
    db_connect_timeout_seconds: float = Field(default=3.0, gt=0, description="Give up connecting after this.")
    db_statement_timeout_ms: int = Field(
        default=30_000, ge=0, description="Postgres statement_timeout for request sessions (0 = none)."
    )
    request_body_limit_bytes: int = Field(
        default=1_048_576, ge=1, description="Largest request body accepted (413 beyond)."
    )
    upload_body_limit_bytes: int = Field(
        default=2 * 1024**3, ge=1, description="Largest file accepted by an /imports/ endpoint (413 beyond)."
    )
    internal_signing_secret: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_SIGNING_SECRET),
        validation_alias=AliasChoices("internal_signing_secret", "INTERNAL_SIGNING_SECRET"),
        description="Signs and verifies calls between the components (servicekit.signing); the same in every "
        "component. Comma-separated to rotate: calls are signed with the first, any of them is accepted.",
    )
    internal_signing_max_skew_seconds: float = Field(
        default=60.0,
        gt=0,
        validation_alias=AliasChoices("internal_signing_max_skew_seconds", "INTERNAL_SIGNING_MAX_SKEW_SECONDS"),
        description="A signed call is refused when its time is further than this from the service's clock.",
    )
    log_level: str = Field(default="INFO", description="Python log level.")
    log_json: bool = Field(default=True, description="One JSON object per log line (else plain text).")
    metrics_cache_seconds: float = Field(
        default=30.0, ge=0, description="Business metrics read from the database are kept this long between scrapes."
    )
    metrics_timeout_seconds: float = Field(
        default=5.0, gt=0, description="A scrape waits at most this long for business metrics; then it gets the last."
    )
    fixed_now: AwareDatetime | None = Field(
        default=None,
        description="Tests and demos only: the clock stands still at this instant (RFC 3339 with its offset), "
        "which fixes today, this week and 'N days ago' (servicekit.clock). Unset: the system clock.",
    )

    def signing_secrets(self) -> list[str]:
        """The internal signing secrets in order: the first signs, every one verifies."""
        return _split_secrets(self.internal_signing_secret.get_secret_value())

    @field_validator("internal_signing_secret")
    @classmethod
    def _some_secret(cls, value: SecretStr) -> SecretStr:
        if not _split_secrets(value.get_secret_value()):
            raise ValueError("INTERNAL_SIGNING_SECRET must hold at least one secret (comma-separated to rotate)")
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        return async_database_url(value) if value else value
