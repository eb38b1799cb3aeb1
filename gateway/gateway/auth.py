"""Who is calling, and may they: API keys from `Authorization: Bearer` or `X-API-Key`, scopes by method.

Looking a key up costs a database round trip, so the gateway remembers known keys for a few seconds and unknown
ones for longer, and limits per client address how many keys may turn out unknown (a flood of guessed keys is
answered 429 from memory instead of from the database).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import secrets
import time
from collections.abc import Mapping
from typing import Any

from fastapi import Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope

from gateway.keys import service
from gateway.keys.schemas import ApiKey, Scope
from gateway.metrics import AUTH_FAILURES, KEY_LOOKUPS
from gateway.ratelimit import Policy, RateLimited, refilled
from gateway.settings import GatewaySettings
from servicekit.errors import Forbidden, Unauthorized, problem_response

logger = logging.getLogger("gateway.auth")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="retention"'}


def presented_key(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key") or None


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

    def knew(self, key_hash: str) -> bool:
        """Whether the key was valid when last looked up, however long ago (until the cache is next emptied)."""
        return key_hash in self._entries

    def forget(self, key_hash: str) -> None:
        self._entries.pop(key_hash, None)

    def put(self, key_hash: str, api_key: ApiKey) -> None:
        if self.ttl_seconds <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # crude but bounded; refills from the database within one TTL
        self._entries[key_hash] = (time.monotonic() + self.ttl_seconds, api_key)


class UnknownKeys:
    """Hashes of keys the database did not know, remembered for `ttl_seconds`, so that a key sent again (a client
    with a revoked key retrying, a guess repeated) costs no lookup. Keys are random: one cannot be created after it
    was remembered as unknown, and a revoked key stays revoked. At most `max_entries`, the oldest forgotten first."""

    def __init__(self, ttl_seconds: float, max_entries: int) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._expiry: dict[str, float] = {}  # in insertion order, which with one TTL is the order of expiry

    def __contains__(self, key_hash: str) -> bool:
        expiry = self._expiry.get(key_hash)
        if expiry is None:
            return False
        if expiry < time.monotonic():
            del self._expiry[key_hash]
            return False
        return True

    def add(self, key_hash: str) -> None:
        if self.ttl_seconds <= 0:
            return
        self._expiry.pop(key_hash, None)
        while len(self._expiry) >= self.max_entries:
            del self._expiry[next(iter(self._expiry))]
        self._expiry[key_hash] = time.monotonic() + self.ttl_seconds


def client_address(client: tuple[str, int] | Any | None) -> str:
    """Whom a failed authentication is counted against: the address the server took the request from (its
    `client`; uvicorn takes it from X-Forwarded-For only for connections from its --forwarded-allow-ips), an IPv6
    address by its /64, which a single host commonly has to itself."""
    host = client[0] if client else ""
    if ":" in host:
        try:
            return str(ipaddress.IPv6Network((host, 64), strict=False))
        except ValueError:
            return host
    return host


class FailedAuthentications:
    """A token bucket per client address for looking keys up: each lookup takes a token, and gives it back when the
    key is known. So an address may present `burst` unknown keys at once and `per_second` after that; past that,
    a key it presents that would need a lookup is refused with a 429 instead. In this process only: each replica
    counts on its own (it protects the lookups this process would make)."""

    def __init__(self, settings: GatewaySettings, max_entries: int = 100_000) -> None:
        self.enabled = settings.auth_failure_limit_enabled
        self.policy = Policy(settings.auth_failure_burst, settings.auth_failure_per_second)
        self.max_entries = max_entries
        self._buckets: dict[str, tuple[float, float, bool]] = {}  # tokens, when counted, whether refusing

    def take(self, address: str) -> None:
        """Admit one lookup for `address`, or raise the 429 problem."""
        retry_after = self.refusal(address)
        if retry_after is not None:
            raise RateLimited(self.detail(retry_after), headers={"Retry-After": str(retry_after)})
        if not self.enabled:
            return
        now = time.monotonic()
        tokens, at, refusing = self._buckets.get(address, (self.policy.burst, now, False))
        tokens = refilled(tokens, at, now, self.policy)
        if len(self._buckets) >= self.max_entries and address not in self._buckets:
            self._forget_full(now)
        # A bucket full again ends an episode of refusals: the next one is logged again.
        self._buckets[address] = (tokens - 1, now, refusing and tokens < self.policy.burst)

    def refusal(self, address: str) -> int | None:
        """None when `address` may have a key looked up now; else the seconds until it may (a refusal, counted)."""
        entry = self._buckets.get(address)
        if entry is None or not self.enabled:
            return None
        tokens, at, refusing = entry
        now = time.monotonic()
        tokens = refilled(tokens, at, now, self.policy)
        if tokens >= 1:
            return None
        if not refusing:
            logger.warning("refusing unknown API keys from %s: it presented too many", address)
            self._buckets[address] = (tokens, now, True)
        AUTH_FAILURES.labels("throttled").inc()
        return max(1, math.ceil((1 - tokens) / self.policy.per_second))

    def detail(self, retry_after: int) -> str:
        return (
            f"Too many unknown API keys from this address: {self.policy.burst} at once and "
            f"{self.policy.per_second:g} a second after that; retry in {retry_after} s."
        )

    def exhausted(self, address: str) -> bool:
        """Whether a lookup for `address` would be refused now (nothing counted)."""
        entry = self._buckets.get(address)
        return entry is not None and self.enabled and refilled(entry[0], entry[1], time.monotonic(), self.policy) < 1

    def give_back(self, address: str) -> None:
        """The lookup found the key (or failed): it does not count."""
        entry = self._buckets.get(address)
        if self.enabled and entry is not None:
            self._buckets[address] = (min(self.policy.burst, entry[0] + 1), entry[1], entry[2])

    def _forget_full(self, now: float) -> None:
        # A missing bucket is a full one: forgetting the full ones changes nothing for their addresses.
        self._buckets = {
            address: entry
            for address, entry in self._buckets.items()
            if refilled(entry[0], entry[1], now, self.policy) < self.policy.burst
        }
        if len(self._buckets) >= self.max_entries:
            self._buckets.clear()  # crude but bounded: every address starts afresh


async def _lookup(request: Request, key: str) -> ApiKey | None:
    state = request.app.state
    key_hash = service.hash_key(state.settings.api_key_secret.get_secret_value(), key)
    api_key = state.key_cache.get(key_hash)
    if api_key is not None:
        return api_key
    if key_hash in state.unknown_keys:
        return None
    # A key that was valid when last seen is looked up even from an address that presented too many unknown
    # ones: a client behind the same address as a flood keeps working.
    address = None if state.key_cache.knew(key_hash) else client_address(request.client)
    if address is not None:
        state.failed_authentications.take(address)
    try:
        async with state.sessionmaker() as session:
            api_key = await service.authenticate(session, key_hash)
    except BaseException:
        if address is not None:
            state.failed_authentications.give_back(address)
        raise
    KEY_LOOKUPS.labels("found" if api_key else "unknown").inc()
    if api_key is None:
        state.unknown_keys.add(key_hash)
        state.key_cache.forget(key_hash)
        return None
    state.key_cache.put(key_hash, api_key)
    if address is not None:
        state.failed_authentications.give_back(address)
    return api_key


async def authorize(request: Request, required: Scope) -> ApiKey:
    """The caller's key if it grants `required`; else a 401 or 403 problem, or a 429 when the caller's address
    presented too many unknown keys (FailedAuthentications)."""
    key = presented_key(request.headers)
    if key is None:
        AUTH_FAILURES.labels("missing").inc()
        raise Unauthorized(
            "An API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`.", headers=_CHALLENGE
        )
    api_key = await _lookup(request, key) if service.is_well_formed(key) else None
    if api_key is None:
        AUTH_FAILURES.labels("invalid").inc()
        raise Unauthorized("The API key is unknown or revoked.", headers=_CHALLENGE)
    if not api_key.grants(required):
        raise Forbidden(
            f"This key has scope {', '.join(api_key.scopes)}; {request.method} needs {required.value}.",
        )
    return api_key


def _needs_lookup(state: Any, key: str | None) -> bool:
    """Whether checking `key` would take a database lookup (see `_lookup`)."""
    if key is None or not service.is_well_formed(key):
        return False
    key_hash = service.hash_key(state.settings.api_key_secret.get_secret_value(), key)
    return not (state.key_cache.get(key_hash) or key_hash in state.unknown_keys or state.key_cache.knew(key_hash))


class RefuseFloodingAddresses:
    """Answers the 429 for a request from an address that presented too many unknown keys, with a key that would
    need a lookup, before the rest of the gateway's middleware: a flood of guessed keys is then the cheapest request
    the gateway serves (about half the CPU of going through the stack, docs/benchmarks.md), which is what keeps
    other callers' latency in a flood. Such requests are counted in gateway_auth_failures_total, not in
    http_requests_total or the access log. Other requests pass at the cost of one dictionary lookup."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            state = scope["app"].state
            limiter: FailedAuthentications = state.failed_authentications
            address = client_address(scope.get("client"))
            if limiter.exhausted(address) and _needs_lookup(state, presented_key(Headers(scope=scope))):
                retry_after = limiter.refusal(address)
                if retry_after is not None:
                    request_id = secrets.token_hex(16)
                    response = problem_response(
                        429,
                        RateLimited.title,
                        limiter.detail(retry_after),
                        instance=scope["path"],
                        headers={"Retry-After": str(retry_after), "X-Request-ID": request_id},
                        extra={"request_id": request_id},
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
