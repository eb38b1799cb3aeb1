"""Who is calling, and may they: API keys from `Authorization: Bearer` or `X-API-Key`, scopes by method."""

from __future__ import annotations

import time

from fastapi import Request

from gateway.keys import service
from gateway.keys.schemas import ApiKey, Scope
from servicekit.errors import Forbidden, Unauthorized

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="retention"'}


def presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


def required_scope(method: str) -> Scope:
    return Scope.read if method.upper() in READ_METHODS else Scope.write


class KeyCache:
    """Active keys by hash for a few seconds, so that most requests need no database round trip.

    Only known keys are kept, so a revoked key stops working within `ttl_seconds`; unknown keys always
    go to the database.
    """

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, ApiKey]] = {}

    def get(self, key_hash: str) -> ApiKey | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key_hash: str, api_key: ApiKey) -> None:
        if self.ttl_seconds <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # crude but bounded; refills from the database within one TTL
        self._entries[key_hash] = (time.monotonic() + self.ttl_seconds, api_key)


async def _lookup(request: Request, key: str) -> ApiKey | None:
    state = request.app.state
    key_hash = service.hash_key(state.settings.api_key_secret.get_secret_value(), key)
    api_key = state.key_cache.get(key_hash)
    if api_key is None:
        async with state.sessionmaker() as session:
            api_key = await service.authenticate(session, key_hash)
        if api_key is not None:
            state.key_cache.put(key_hash, api_key)
    return api_key


async def authorize(request: Request, required: Scope) -> ApiKey:
    """The caller's key if it grants `required`; else a 401 or 403 problem."""
    key = presented_key(request)
    if key is None:
        raise Unauthorized(
            "An API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`.", headers=_CHALLENGE
        )
    api_key = await _lookup(request, key) if service.is_well_formed(key) else None
    if api_key is None:
        raise Unauthorized("The API key is unknown or revoked.", headers=_CHALLENGE)
    if not api_key.grants(required):
        raise Forbidden(
            f"This key has scope {', '.join(api_key.scopes)}; {request.method} needs {required.value}.",
        )
    return api_key
