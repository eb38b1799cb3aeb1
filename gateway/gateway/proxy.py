"""Routing `/v1/<service>/...` to the services: pooled connections, bodies streamed both ways.

Calls to a service have a timeout per route, retries for requests that are safe to send again, and go
through the service's circuit breaker (gateway/breaker.py).

The proxy uses aiohttp rather than httpx: on this hot path httpx's pool checks every pooled
connection on each request, which cost more than half of the gateway's throughput (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from fastapi import APIRouter, FastAPI, Request
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.responses import Response, StreamingResponse
from yarl import URL

from gateway.auth import authorize, required_scope
from gateway.breaker import CircuitBreaker
from gateway.keys.schemas import ApiKey
from gateway.metrics import UPSTREAM_DURATION, UPSTREAM_ERRORS, UPSTREAM_RETRIES
from gateway.paths import LINK_FIELD, URL_FIELDS, UpstreamUrls, check_path
from gateway.ratelimit import RATE_LIMIT_HEADERS
from gateway.settings import GatewaySettings
from servicekit.app import UPLOAD_PATH_SEGMENT
from servicekit.errors import AppError, BadGateway, GatewayTimeout, NotFound, ServiceUnavailable
from servicekit.http import UPSTREAM_KEEPALIVE_SECONDS
from servicekit.observability import current_request_id
from servicekit.signing import GATEWAY, SIGNATURE_HEADER, Signer

logger = logging.getLogger("gateway.proxy")

_TRACE_CONTEXT = frozenset({"traceparent", "tracestate"})  # checked, then passed on (_trace_context)
# RFC 9110 7.6.1 hop-by-hop fields, plus the ones the proxy sets itself (a caller's X-Forwarded-For is its own
# say; the gateway's server resolved it already where a trusted proxy sent it); credentials stay at the gateway.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
_NOT_FORWARDED = (
    _HOP_BY_HOP
    | {"authorization", "x-api-key", "x-api-key-id", "x-request-id", "x-forwarded-for", "x-forwarded-proto"}
    | {SIGNATURE_HEADER}
    | _TRACE_CONTEXT
)
_NOT_RETURNED = _HOP_BY_HOP | {"date", "server"}  # the gateway's own server sets these
_RATE_LIMIT_FIELDS = frozenset(name.lower() for name in RATE_LIMIT_HEADERS)  # the gateway's own, never a service's
_URL_FIELDS = URL_FIELDS | {LINK_FIELD}  # may hold a service's own address (gateway/paths.py)
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# RFC 9110 9.2.2: sending these twice has the effect of sending them once. So has a POST with an
# Idempotency-Key, which the services honour.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# The service is down, overloaded or stuck (a 500 is a bug on one route: the service itself is fine).
_UNHEALTHY = frozenset({502, 503, 504})
_RETRIED_STATUSES = frozenset({502, 503})  # a 504 took the whole timeout already
# Failures where the request cannot have been processed, or the connection broke before an answer came.
# Never a read timeout: the service may still be working on it, and a retry would answer late.
_RETRIED_ERRORS = frozenset({"connect_error", "connect_timeout", "disconnected"})

# W3C Trace Context: version, trace id, parent id, flags; a later version may append fields.
_TRACEPARENT = re.compile(r"^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}(-.*)?$")
_TRACE_ID = re.compile(r"^(?!0{32})[0-9a-f]{32}$")

router = APIRouter()


class Upstream:
    """One service behind the gateway: its base URL and a pooled session."""

    def __init__(self, name: str, base_url: str, settings: GatewaySettings) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.settings = settings
        self.signer = Signer(settings.signing_secrets(), GATEWAY)
        self.breaker = CircuitBreaker(
            name, settings.circuit_breaker_failures, settings.circuit_breaker_cooldown_seconds
        )
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=settings.upstream_max_connections, keepalive_timeout=UPSTREAM_KEEPALIVE_SECONDS
            ),
            timeout=self.timeout(settings.upstream_timeout_seconds),
            cookie_jar=aiohttp.DummyCookieJar(),  # a proxy keeps no cookies
            auto_decompress=False,  # bodies pass through as the service encoded them
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),  # only the caller's are sent
        )
        # aiohttp sends an idempotent request once more when the connection breaks; the gateway retries
        # itself (counted, bounded, seen by the breaker), so that would double every attempt. No public
        # switch: aiohttp's own test client sets the same attribute.
        self.session._retry_connection = False

    def timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        """How long the service may stay silent (before its answer, or between two chunks of it): a read
        timeout, not a total, so that long streams and bulk imports that keep talking are not cut off."""
        return aiohttp.ClientTimeout(
            total=None,
            connect=self.settings.upstream_connect_timeout_seconds,  # includes waiting for a pooled connection
            sock_read=seconds,
        )

    def url(self, raw_path_and_query: str) -> URL:
        return URL(self.base_url + raw_path_and_query, encoded=True)

    def error(self, exc: BaseException) -> AppError:
        """The problem to answer with when calling this service failed."""
        if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
            return ServiceUnavailable(
                f"The {self.name} service is unavailable; retry shortly.", headers={"Retry-After": "2"}
            )
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return ServiceUnavailable(f"The {self.name} service went away during the request; retry shortly.")
        if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            return GatewayTimeout(f"The {self.name} service did not answer in time.")
        return BadGateway(f"The {self.name} service failed to answer ({type(exc).__name__}).")

    async def close(self) -> None:
        await self.session.close()


async def open_upstreams(app: FastAPI) -> None:
    settings: GatewaySettings = app.state.settings
    app.state.upstreams = {name: Upstream(name, url, settings) for name, url in settings.upstreams().items()}
    app.state.upstream_urls = UpstreamUrls(settings.upstreams())


async def close_upstreams(app: FastAPI) -> None:
    for upstream in app.state.upstreams.values():
        await upstream.close()


class _ForwardedBody:
    """The client's body, streamed on; remembers if reading it failed, whoever swallowed the error."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.failed: BaseException | None = None

    async def stream(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.request.stream():
                if chunk:
                    yield chunk
        except BaseException as exc:
            self.failed = exc
            raise


# Bodies up to this size are read whole and sent as one: most answers (a profile, a page) are a few kB, and
# streaming costs a task per response, a third of the gateway's time on profile reads (docs/benchmarks.md).
_BUFFERED_BODY_LIMIT = 256 * 1024


async def _relayed(upstream: Upstream, response: aiohttp.ClientResponse) -> Response:
    """The service's answer for the caller: small ones whole, the rest (streams, large pages) streamed."""
    length = response.content_length
    if length is None or length > _BUFFERED_BODY_LIMIT:
        return StreamingResponse(_relay(response), status_code=response.status)
    try:
        body = await response.read()
    except (TimeoutError, aiohttp.ClientError) as exc:
        UPSTREAM_ERRORS.labels(upstream.name, _failure_reason(exc)).inc()
        raise upstream.error(exc) from exc
    finally:
        response.release()
    return Response(body, status_code=response.status)


async def _headers_only(upstream: Upstream, response: aiohttp.ClientResponse) -> Response:
    """The answer to a HEAD: the service's answer to the GET, without its body."""
    length = response.content_length
    if length is not None and length <= _BUFFERED_BODY_LIMIT:
        try:
            await response.read()  # so that the connection goes back to the pool
        except (TimeoutError, aiohttp.ClientError) as exc:
            UPSTREAM_ERRORS.labels(upstream.name, _failure_reason(exc)).inc()
            raise upstream.error(exc) from exc
        finally:
            response.release()
    else:
        response.close()  # not worth reading a stream or a large page only to drop it
    return Response(status_code=response.status)


async def _relay(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    finally:
        response.release()  # back to the pool, also when the client went away mid-body


async def proxy(request: Request) -> Response:
    service = request.path_params["service"]
    upstreams: dict[str, Upstream] = request.app.state.upstreams
    upstream = upstreams.get(service)
    if upstream is None:
        raise NotFound(f"No service {service!r}; the API has {', '.join(f'/v1/{s}' for s in upstreams)}.")
    request.scope["route_template"] = f"/v1/{service}/*"
    check_path((request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1"), service)
    scope = required_scope(request.method)
    api_key = await authorize(request, scope)
    rate_limit_headers = await request.app.state.rate_limiter.admit(api_key.id, scope)
    try:
        if request.method == "OPTIONS":
            return await _options(request, service, rate_limit_headers)
        # A HEAD is the GET without its body: the services' routes have no HEAD of their own.
        forwarded = (
            Request({**request.scope, "method": "GET"}, request.receive) if request.method == "HEAD" else request
        )
        response = await _forward(upstream, forwarded, api_key)
        relayed = await (_headers_only if request.method == "HEAD" else _relayed)(upstream, response)
    except AppError as exc:
        exc.headers = {**rate_limit_headers, **exc.headers}
        raise
    relayed.raw_headers = _returned_headers(request, response, rate_limit_headers)
    return relayed


def _returned_headers(
    request: Request, response: aiohttp.ClientResponse, rate_limit_headers: dict[str, str]
) -> list[tuple[bytes, bytes]]:
    """The service's response fields for the caller (raw pairs keep repeated ones such as Set-Cookie and Link
    apart), with URLs of the services made the gateway's own, and the rate limit's."""
    not_returned = _NOT_RETURNED | _RATE_LIMIT_FIELDS if rate_limit_headers else _NOT_RETURNED
    urls: UpstreamUrls = request.app.state.upstream_urls
    returned = []
    for raw_name, raw_value in response.raw_headers:
        name = raw_name.decode("latin-1").lower()
        if name in not_returned:
            continue
        if name in _URL_FIELDS:
            value = urls.returned(name, raw_value.decode("latin-1"))
            if value is None:
                continue
            raw_value = value.encode("latin-1")
        returned.append((raw_name, raw_value))
    returned += [(k.lower().encode(), v.encode()) for k, v in rate_limit_headers.items()]
    return returned


async def _options(request: Request, service: str, rate_limit_headers: dict[str, str]) -> Response:
    """OPTIONS on a path (not a CORS preflight: the CORS middleware answers those): its methods in `Allow`, from the
    services' OpenAPI documents, without asking the service."""
    methods = await request.app.state.openapi.allowed_methods(request.app.state.upstreams, service, request.url.path)
    return Response(status_code=204, headers={"Allow": ", ".join(methods), **rate_limit_headers})


class _AnyPath(PathConvertor):
    """Starlette's `path`, line breaks included: a path with `%0a` in an id reaches the service, which refuses it
    naming the parameter, instead of not matching here (a 404 whose `instance` showed the id without it)."""

    regex = "(?s:.*)"


register_url_convertor("any_path", _AnyPath())
# A plain route, not FastAPI's: it has no parameters to validate or document, and FastAPI's request handling
# (dependencies, parameter validation) cost a tenth of the gateway's time per proxied request.
router.add_route("/v1/{service}/{path:any_path}", proxy, methods=_METHODS, include_in_schema=False)


async def _forward(upstream: Upstream, request: Request, api_key: ApiKey) -> aiohttp.ClientResponse:
    """The service's response to the caller's request, its body not yet read."""
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
    headers = [(k, v) for k, v in headers if k.lower() not in _NOT_FORWARDED]
    headers += _trace_context(request)
    headers += [
        ("x-request-id", current_request_id() or ""),
        ("x-api-key-id", str(api_key.id)),
        ("x-forwarded-for", request.client.host if request.client else ""),
        ("x-forwarded-proto", request.url.scheme),
    ]
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    target = raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
    headers.append((SIGNATURE_HEADER, upstream.signer.header(request.method, target, str(api_key.id))))
    has_body = request.method not in ("GET", "HEAD", "OPTIONS") or "content-length" in request.headers
    streamed = _ForwardedBody(request) if has_body and UPLOAD_PATH_SEGMENT in request.url.path else None
    # A bulk import streams its file through, never held here, so it cannot be sent twice. Other bodies are
    # small (the body limit holds while reading) and read first: they can be sent again, and a body over the
    # limit is refused before the service sees any of it.
    data = await request.body() if has_body and streamed is None else None
    retry = streamed is None and (request.method in _IDEMPOTENT or "idempotency-key" in request.headers)
    attempts = 1 + upstream.settings.upstream_retries if retry else 1
    timeout = upstream.timeout(upstream.settings.upstream_timeout(request.method, request.url.path))
    attempt = 0
    while True:
        attempt += 1
        try:
            response = await _attempt(
                upstream,
                request.method,
                upstream.url(target),
                headers=headers,
                data=streamed.stream() if streamed else data,
                body=streamed,
                timeout=timeout,
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            if streamed and streamed.failed:
                raise streamed.failed from exc
            reason = _failure_reason(exc)
            UPSTREAM_ERRORS.labels(upstream.name, reason).inc()
            if attempt < attempts and reason in _RETRIED_ERRORS:
                await _back_off(upstream, attempt)
                continue
            logger.warning("upstream %s failed: %s", upstream.name, type(exc).__name__)
            raise upstream.error(exc) from exc
        if streamed and streamed.failed:  # the upload broke off (too large, client gone); the service saw a cut body
            response.release()
            raise streamed.failed
        if response.status in _UNHEALTHY:
            UPSTREAM_ERRORS.labels(upstream.name, f"http_{response.status}").inc()
            if attempt < attempts and response.status in _RETRIED_STATUSES:
                response.release()
                await _back_off(upstream, attempt)
                continue
        return response


def _trace_context(request: Request) -> list[tuple[str, str]]:
    """The caller's `traceparent` and `tracestate`, unchanged, when the traceparent is valid; else a new trace,
    so that the services' calls can still be joined up. Its id is the request id when that is one (32 hex
    digits, as the gateway makes them), so that logs and traces share it."""
    traceparents = request.headers.getlist("traceparent")
    if len(traceparents) == 1 and _valid_traceparent(traceparents[0]):
        return [("traceparent", traceparents[0])] + [("tracestate", v) for v in request.headers.getlist("tracestate")]
    # A tracestate belongs to the trace its traceparent names: without one, it is dropped (W3C 3.3).
    request_id = current_request_id() or ""
    trace_id = request_id if _TRACE_ID.match(request_id) else secrets.token_hex(16)
    # Sampled, as the service's own trace would be if it started one: the gateway records nothing itself.
    return [("traceparent", f"00-{trace_id}-{secrets.token_hex(8)}-01")]


def _valid_traceparent(value: str) -> bool:
    # Version 00 has exactly the four fields; a later version may have more after them.
    return bool(_TRACEPARENT.match(value)) and (len(value) == 55 or not value.startswith("00-"))


async def _attempt(
    upstream: Upstream, method: str, url: URL, *, body: _ForwardedBody | None, **kwargs: Any
) -> aiohttp.ClientResponse:
    """One call to the service, let through and judged by its circuit breaker."""
    probe = upstream.breaker.admit()
    healthy: bool | None = None  # None: the call ended in a way that says nothing about the service
    started = time.perf_counter()
    try:
        response = await upstream.session.request(method, url, allow_redirects=False, **kwargs)
        healthy = response.status not in _UNHEALTHY
        return response
    except (TimeoutError, aiohttp.ClientError):
        healthy = None if body and body.failed else False  # a broken upload is the caller's doing
        raise
    finally:
        UPSTREAM_DURATION.labels(upstream.name).observe(time.perf_counter() - started)
        upstream.breaker.record(probe, healthy)


async def _back_off(upstream: Upstream, attempt: int) -> None:
    UPSTREAM_RETRIES.labels(upstream.name).inc()
    delay = upstream.settings.upstream_retry_backoff_seconds * 2 ** (attempt - 1)
    await asyncio.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311 - jitter, so that callers spread out


def _failure_reason(exc: BaseException) -> str:
    """The `reason` label of gateway_upstream_errors_total."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect_error"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "connect_timeout"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
        return "disconnected"
    if isinstance(exc, TimeoutError):
        return "read_timeout"
    return "protocol_error"
