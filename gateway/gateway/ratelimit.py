"""Rate limits per API key: a token bucket per key and scope, in this process or shared through Redis.

Each request takes one token from the bucket of its key and the scope it needs (reads and writes are
counted apart); a bucket holds up to `burst` tokens and refills at `per_second`. An empty bucket is a 429.
Responses carry `RateLimit-Limit` (the burst), `RateLimit-Remaining` (whole tokens left) and
`RateLimit-Reset` (seconds until the bucket is full again), as in the IETF draft
draft-ietf-httpapi-ratelimit-headers; a 429 adds `Retry-After` (seconds until the next token).
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass

import redis.asyncio as redis
from fastapi import FastAPI

from gateway.keys.schemas import Scope
from gateway.metrics import RATE_LIMIT_FAIL_OPEN, RATE_LIMITED
from gateway.settings import GatewaySettings
from servicekit.errors import AppError

logger = logging.getLogger("gateway.ratelimit")

# After Redis failed, requests pass unchecked for this long before Redis is asked again, so that a Redis
# that hangs costs one timeout per second rather than one per request.
_REDIS_RETRY_SECONDS = 1.0
_REDIS_KEY_PREFIX = "gateway:ratelimit"
RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")

# The same refill-and-take as `_take`, atomic in Redis and on Redis's clock, so that replicas whose clocks
# differ still count together. Tokens are returned as a string: Redis truncates Lua numbers to integers.
_TAKE_SCRIPT = """
local burst = tonumber(ARGV[1])
local per_second = tonumber(ARGV[2])
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local stored = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(stored[1]) or burst
local at = tonumber(stored[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * per_second)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / per_second * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


@dataclass(frozen=True)
class Policy:
    burst: int
    per_second: float


@dataclass(frozen=True)
class Quota:
    """What one check found: whether the request may pass, and the headers that tell the caller."""

    policy: Policy
    allowed: bool
    tokens: float  # left after this request

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.policy.burst),
            "RateLimit-Remaining": str(max(0, math.floor(self.tokens))),
            "RateLimit-Reset": str(max(0, math.ceil((self.policy.burst - self.tokens) / self.policy.per_second))),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil((1 - self.tokens) / self.policy.per_second)))
        return headers


class RateLimited(AppError):
    status = 429
    title = "Too Many Requests"


def refilled(tokens: float, at: float, now: float, policy: Policy) -> float:
    """A bucket's tokens at `now`, counted `tokens` at `at` and refilled since, up to the burst."""
    return min(policy.burst, tokens + max(0.0, now - at) * policy.per_second)


def _take(tokens: float, at: float, now: float, policy: Policy) -> tuple[bool, float]:
    tokens = refilled(tokens, at, now, policy)
    if tokens >= 1:
        return True, tokens - 1
    return False, tokens


class LocalBuckets:
    """Buckets in this process: each replica counts on its own."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._buckets: dict[str, tuple[float, float, float]] = {}  # tokens, when counted, when full again

    async def take(self, bucket: str, policy: Policy) -> Quota:
        # No await in here: within one event loop, the read and the write cannot interleave with another request.
        now = time.monotonic()
        tokens, at, _ = self._buckets.get(bucket, (policy.burst, now, now))
        allowed, tokens = _take(tokens, at, now, policy)
        if len(self._buckets) >= self.max_entries and bucket not in self._buckets:
            # A missing bucket is a full one: forgetting the full ones changes nothing for their keys.
            self._buckets = {b: entry for b, entry in self._buckets.items() if entry[2] > now}
        self._buckets[bucket] = (tokens, now, now + (policy.burst - tokens) / policy.per_second)
        return Quota(policy, allowed, tokens)

    async def close(self) -> None:
        pass


class RedisBuckets:
    """Buckets in Redis, shared by every gateway replica that uses the same Redis."""

    def __init__(self, url: str, timeout_seconds: float) -> None:
        self.client = redis.from_url(url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds)
        self._script = self.client.register_script(_TAKE_SCRIPT)

    async def take(self, bucket: str, policy: Policy) -> Quota:
        allowed, tokens = await self._script(
            keys=[f"{_REDIS_KEY_PREFIX}:{bucket}"], args=[policy.burst, policy.per_second]
        )
        return Quota(policy, bool(allowed), float(tokens))

    async def close(self) -> None:
        await self.client.aclose()


class RateLimiter:
    """Admits a request or refuses it with a 429; fails open when Redis cannot be asked."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.policies = {
            Scope.read: Policy(settings.rate_limit_read_burst, settings.rate_limit_read_per_second),
            Scope.write: Policy(settings.rate_limit_write_burst, settings.rate_limit_write_per_second),
        }
        self.buckets: LocalBuckets | RedisBuckets = (
            RedisBuckets(settings.redis_url, settings.redis_timeout_seconds) if settings.redis_url else LocalBuckets()
        )
        self._redis_down_until = 0.0

    async def admit(self, key_id: uuid.UUID, scope: Scope) -> dict[str, str]:
        """The RateLimit headers for the response; raises a 429 problem when the key's bucket is empty."""
        if not self.enabled:
            return {}
        policy = self.policies[scope]
        if time.monotonic() < self._redis_down_until:
            RATE_LIMIT_FAIL_OPEN.inc()
            return {}
        try:
            quota = await self.buckets.take(f"{scope.value}:{key_id}", policy)
        except (redis.RedisError, OSError) as exc:
            # A rate limit protects the services; refusing every request because Redis is gone would take them
            # down instead. So the request passes, uncounted, and the outage shows in logs and metrics.
            if not self._redis_down_until:
                logger.warning("rate limits unchecked: Redis is unreachable (%s)", type(exc).__name__)
            self._redis_down_until = time.monotonic() + _REDIS_RETRY_SECONDS
            RATE_LIMIT_FAIL_OPEN.inc()
            return {}
        if self._redis_down_until:
            logger.warning("rate limits checked again: Redis answers")
            self._redis_down_until = 0.0
        headers = quota.headers()
        if not quota.allowed:
            RATE_LIMITED.labels(scope.value).inc()
            raise RateLimited(
                f"This key may make {policy.burst} {scope.value} requests at once and {policy.per_second:g} a second "
                f"after that; retry in {headers['Retry-After']} s.",
                headers=headers,
            )
        return headers

    async def close(self) -> None:
        await self.buckets.close()


async def open_rate_limiter(app: FastAPI) -> None:
    app.state.rate_limiter = RateLimiter(app.state.settings)


async def close_rate_limiter(app: FastAPI) -> None:
    await app.state.rate_limiter.close()
