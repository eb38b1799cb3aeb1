"""Who is calling, and may they: API keys from `Authorization: Bearer` or `X-API-Key`, scopes by method."""

from __future__ import annotations

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


async def authorize(request: Request, required: Scope) -> ApiKey:
    """The caller's key if it grants `required`; else a 401 or 403 problem."""
    key = presented_key(request)
    if key is None:
        raise Unauthorized(
            "An API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`.", headers=_CHALLENGE
        )
    secret = request.app.state.settings.api_key_secret.get_secret_value()
    async with request.app.state.sessionmaker() as session:
        api_key = await service.authenticate(session, secret, key)
    if api_key is None:
        raise Unauthorized("The API key is unknown or revoked.", headers=_CHALLENGE)
    if not api_key.grants(required):
        raise Forbidden(
            f"This key has scope {', '.join(api_key.scopes)}; {request.method} needs {required.value}.",
        )
    return api_key
