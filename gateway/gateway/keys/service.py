"""API keys: random, shown once, stored only as an HMAC-SHA256 hash."""

import hashlib
import hmac
import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.keys import repository
from gateway.keys.models import ApiKeyRow
from gateway.keys.schemas import ApiKey, CreatedApiKey, Scope

KEY_PREFIX = "rk_"
SHOWN_PREFIX_LENGTH = 11  # "rk_" and 8 random characters: enough to tell keys apart in a list


def hash_key(secret: str, key: str) -> str:
    return hmac.new(secret.encode(), key.encode(), hashlib.sha256).hexdigest()


def to_schema(row: ApiKeyRow) -> ApiKey:
    return ApiKey.model_validate(row, from_attributes=True)


async def create_key(session: AsyncSession, secret: str, name: str, scopes: list[Scope]) -> CreatedApiKey:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = await repository.insert(
        session,
        name=name,
        prefix=key[:SHOWN_PREFIX_LENGTH],
        key_hash=hash_key(secret, key),
        scopes=sorted({s.value for s in scopes}, key=lambda s: Scope(s).rank),
    )
    return CreatedApiKey(**to_schema(row).model_dump(), key=key)


def is_well_formed(key: str) -> bool:
    return key.startswith(KEY_PREFIX) and len(key) <= 100


async def authenticate(session: AsyncSession, key_hash: str) -> ApiKey | None:
    """The active key with this hash (see `hash_key`), or None: the key itself is never stored."""
    row = await repository.find_active_by_hash(session, key_hash)
    return to_schema(row) if row else None


async def list_keys(session: AsyncSession, include_revoked: bool = False) -> list[ApiKey]:
    return [to_schema(row) for row in await repository.list_all(session, include_revoked)]


async def revoke_key(session: AsyncSession, id_or_prefix: str) -> list[ApiKey]:
    return [to_schema(row) for row in await repository.revoke(session, id_or_prefix)]
