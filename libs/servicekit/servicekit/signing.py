"""Signed internal calls: the services answer only what the gateway or another service signed.

The gateway signs every request it forwards, and a service signs its calls to another (ServiceClient), with
HMAC-SHA256 under a secret every component shares (`INTERNAL_SIGNING_SECRET`). The signature covers the
method, the path with its query as sent, the API key id the call is made for (`X-API-Key-Id`, empty when
none), the signer's name and the time. A service refuses (401 problem+json) a call without a valid signature
made within `INTERNAL_SIGNING_MAX_SKEW_SECONDS` of its own clock, except its probes and /metrics; so an
`X-API-Key-Id` it acts on is always the one the signer vouched for.

The body is not covered: the gateway streams bulk imports (up to 2 GiB) to the service as they arrive, so the
signature has to be sent before the body has been seen. A call could be replayed by someone on the internal
network within the allowed skew, for the same method, path and key: this is defence in depth behind the
network policy, not a replacement for it.

Rotation: the setting is a comma-separated list. Calls are signed with the first secret; a signature made with
any of them is accepted.

Header: `X-Internal-Signature: t=<unix seconds>;by=<signer>;v1=<hex HMAC-SHA256>`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Generator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from servicekit.errors import problem_response
from servicekit.settings import DEVELOPMENT_SIGNING_SECRET

logger = logging.getLogger("servicekit.signing")

SIGNATURE_HEADER = "x-internal-signature"
KEY_ID_HEADER = "x-api-key-id"
GATEWAY = "gateway"  # the signer whose calls come from API keys (the others are services)
UNSIGNED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapes carry no signature
_SIGNATURE = re.compile(r"^t=(\d{1,12});by=([a-z][a-z0-9-]{0,40});v1=([0-9a-f]{64})$")
_PROBLEM_TYPE = "https://docs.retention.example/problems/unsigned-call"
_CHALLENGE = {"WWW-Authenticate": 'X-Internal-Signature realm="retention-internal"'}


def signature(secret: str, method: str, target: str, key_id: str, signer: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of one call. `target` is the path with its query, percent-encoded, as sent."""
    message = "\n".join(("v1", method.upper(), target, key_id, signer, str(timestamp)))
    return hmac.new(secret.encode(), message.encode("latin-1"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Caller:
    """Who made a verified call: the signer, and the API key it was made for (None: no key, e.g. maintenance)."""

    signer: str
    key_id: str | None

    @property
    def idempotency_scope(self) -> str:
        """Whose Idempotency-Key values a request uses: the API key's for calls through the gateway, the calling
        service's own for service-to-service calls (a service derives its keys from its data, the same for
        whichever user triggered the call, e.g. campaign-<id>-plan-<version>-<n>). Rows stored before scopes
        existed, and calls without a key, have the empty scope."""
        if self.signer and self.signer != GATEWAY:
            return f"service:{self.signer}"
        return f"key:{self.key_id}" if self.key_id else ""


_caller: ContextVar[Caller | None] = ContextVar("internal_caller", default=None)


def current_caller() -> Caller | None:
    """The verified caller of the request being handled (None outside one)."""
    return _caller.get()


class Signer:
    """Signs calls as `name` with the first of `secrets`."""

    def __init__(self, secrets: Sequence[str], name: str) -> None:
        if not secrets:
            raise ValueError("at least one signing secret is needed")
        self.secret = secrets[0]
        self.name = name

    def header(self, method: str, target: str, key_id: str | None, now: float | None = None) -> str:
        timestamp = int(time.time() if now is None else now)
        digest = signature(self.secret, method, target, key_id or "", self.name, timestamp)
        return f"t={timestamp};by={self.name};v1={digest}"


class SigningAuth(httpx.Auth):
    """Signs each httpx request. The key id is the request's own `X-API-Key-Id` when it has one (a test acting as
    the gateway), else that of the request being handled (passed on, for the audit trail downstream)."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        key_id = request.headers.get(KEY_ID_HEADER)
        if key_id is None and (caller := current_caller()) and caller.key_id:
            key_id = request.headers[KEY_ID_HEADER] = caller.key_id
        target = request.url.raw_path.decode("ascii")  # path and query, exactly as httpx sends them
        request.headers[SIGNATURE_HEADER] = self.signer.header(request.method, target, key_id)
        yield request


def _target(scope: Scope) -> str:
    """The path with its query as the caller sent it (servers differ on whether raw_path holds the query)."""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    path = raw_path.split(b"?", 1)[0].decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


class SignatureRefused(Exception):
    pass


def verify(
    secrets: Sequence[str],
    method: str,
    target: str,
    headers: Sequence[tuple[bytes, bytes]],
    max_skew: float,
    now: float,
) -> Caller:
    """The caller of a correctly signed, fresh call; else SignatureRefused saying what is wrong."""
    signatures = [v.decode("latin-1") for k, v in headers if k == SIGNATURE_HEADER.encode()]
    key_ids = [v.decode("latin-1") for k, v in headers if k == KEY_ID_HEADER.encode()]
    if not signatures:
        raise SignatureRefused(
            "This service answers only calls signed by the gateway or another service (X-Internal-Signature); "
            "call it through the gateway."
        )
    if len(signatures) > 1 or len(key_ids) > 1:
        raise SignatureRefused("A call carries one X-Internal-Signature and at most one X-API-Key-Id.")
    match = _SIGNATURE.match(signatures[0])
    if match is None:
        raise SignatureRefused("X-Internal-Signature is not `t=<unix seconds>;by=<signer>;v1=<hex HMAC-SHA256>`.")
    timestamp, signer, digest = int(match[1]), match[2], match[3]
    if abs(now - timestamp) > max_skew:
        raise SignatureRefused(
            f"The signature was made {now - timestamp:+.0f} s from this service's clock; at most {max_skew:g} s "
            "are allowed. Check that the clocks are synchronised."
        )
    key_id = key_ids[0] if key_ids else ""
    if not any(hmac.compare_digest(signature(s, method, target, key_id, signer, timestamp), digest) for s in secrets):
        raise SignatureRefused(
            "The signature does not match this call (method, path and query, X-API-Key-Id, signer, time) under "
            "any of this service's INTERNAL_SIGNING_SECRET values."
        )
    return Caller(signer=signer, key_id=key_id or None)


class SignatureMiddleware:
    """Refuses calls that are not signed, badly signed or stale (401 problem+json), except probes and /metrics.
    Records the verified caller for the request (`current_caller`, `CallerDep`)."""

    def __init__(self, app: ASGIApp, secrets: Sequence[str], max_skew_seconds: float) -> None:
        self.app = app
        self.secrets = list(secrets)
        self.max_skew = max_skew_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNSIGNED_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            caller = verify(self.secrets, scope["method"], _target(scope), scope["headers"], self.max_skew, time.time())
        except SignatureRefused as exc:
            logger.warning("refused an unsigned call to %s %s: %s", scope["method"], scope["path"], exc)
            response = problem_response(
                401, "Unauthorized", str(exc), instance=scope["path"], type=_PROBLEM_TYPE, headers=_CHALLENGE
            )
            await response(scope, receive, send)
            return
        scope["internal_caller"] = caller
        token = _caller.set(caller)
        try:
            await self.app(scope, receive, send)
        finally:
            _caller.reset(token)


def warn_if_development_secret(secrets: Sequence[str]) -> None:
    if DEVELOPMENT_SIGNING_SECRET in secrets:
        logger.warning("INTERNAL_SIGNING_SECRET is not set: using the development secret")


def _verified_caller(request: Request) -> Caller:
    # Without the middleware (the gateway), nobody vouched for anything.
    return request.scope.get("internal_caller") or Caller(signer="", key_id=None)


CallerDep = Annotated[Caller, Depends(_verified_caller)]
