"""Routing `/v1/<service>/...` to the services: pooled connections, bodies streamed both ways.

The proxy uses aiohttp rather than httpx: on this hot path httpx's pool checks every pooled
connection on each request, which cost more than half of the gateway's throughput (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from fastapi import APIRouter, FastAPI, Request
from starlette.responses import StreamingResponse
from yarl import URL

from gateway.auth import authorize, required_scope
from gateway.keys.schemas import ApiKey
from gateway.ratelimit import RATE_LIMIT_HEADERS
from gateway.settings import GatewaySettings
from servicekit.app import UPLOAD_PATH_SEGMENT
from servicekit.errors import AppError, BadGateway, GatewayTimeout, NotFound, ServiceUnavailable
from servicekit.observability import current_request_id

logger = logging.getLogger("gateway.proxy")

# RFC 9110 7.6.1 hop-by-hop fields, plus the ones the proxy sets itself; credentials stay at the gateway.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "host"}
)  # fmt: skip
_NOT_FORWARDED = _HOP_BY_HOP | {"authorization", "x-api-key", "x-api-key-id", "x-request-id"}
_NOT_RETURNED = _HOP_BY_HOP | {"date", "server"}  # the gateway's own server sets these
_RATE_LIMIT_FIELDS = frozenset(name.lower() for name in RATE_LIMIT_HEADERS)  # the gateway's own, never a service's
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

router = APIRouter()


class Upstream:
    """One service behind the gateway: its base URL and a pooled session."""

    def __init__(self, name: str, base_url: str, settings: GatewaySettings) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        # A bulk import answers once it is committed, which for a large file takes minutes.
        self.upload_timeout = aiohttp.ClientTimeout(
            total=None, connect=settings.upstream_connect_timeout_seconds, sock_read=settings.upload_timeout_seconds
        )
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=settings.upstream_max_connections),
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=settings.upstream_connect_timeout_seconds,  # includes waiting for a pooled connection
                sock_read=settings.upstream_timeout_seconds,
            ),
            cookie_jar=aiohttp.DummyCookieJar(),  # a proxy keeps no cookies
            auto_decompress=False,  # bodies pass through as the service encoded them
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),  # only the caller's are sent
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


async def _relay(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    finally:
        response.release()  # back to the pool, also when the client went away mid-body


@router.api_route("/v1/{service}/{path:path}", methods=_METHODS, include_in_schema=False)
async def proxy(service: str, path: str, request: Request) -> StreamingResponse:
    upstreams: dict[str, Upstream] = request.app.state.upstreams
    upstream = upstreams.get(service)
    if upstream is None:
        raise NotFound(f"No service {service!r}; the API has {', '.join(f'/v1/{s}' for s in upstreams)}.")
    request.scope["route_template"] = f"/v1/{service}/*"
    scope = required_scope(request.method)
    api_key = await authorize(request, scope)
    rate_limit_headers = await request.app.state.rate_limiter.admit(api_key.id, scope)
    try:
        response = await _forward(upstream, request, api_key)
    except AppError as exc:
        exc.headers = {**rate_limit_headers, **exc.headers}
        raise
    relayed = StreamingResponse(_relay(response), status_code=response.status)
    # Raw pairs keep repeated fields (Set-Cookie, Link) apart; the body passes through still encoded.
    not_returned = _NOT_RETURNED | _RATE_LIMIT_FIELDS if rate_limit_headers else _NOT_RETURNED
    relayed.raw_headers = [(k, v) for k, v in response.raw_headers if k.decode("latin-1").lower() not in not_returned]
    relayed.raw_headers += [(k.lower().encode(), v.encode()) for k, v in rate_limit_headers.items()]
    return relayed


async def _forward(upstream: Upstream, request: Request, api_key: ApiKey) -> aiohttp.ClientResponse:
    """The service's response to the caller's request, its body not yet read."""
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
    headers = [(k, v) for k, v in headers if k.lower() not in _NOT_FORWARDED]
    headers += [
        ("x-request-id", current_request_id() or ""),
        ("x-api-key-id", str(api_key.id)),
        ("x-forwarded-for", request.client.host if request.client else ""),
        ("x-forwarded-proto", request.url.scheme),
    ]
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    target = raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
    has_body = request.method not in ("GET", "HEAD", "OPTIONS") or "content-length" in request.headers
    body = _ForwardedBody(request)
    # aiohttp reads timeout=None as "no timeout": pass one only to override the session's.
    timeout = {"timeout": upstream.upload_timeout} if UPLOAD_PATH_SEGMENT in request.url.path else {}
    try:
        response = await upstream.session.request(
            request.method,
            upstream.url(target),
            headers=headers,
            data=body.stream() if has_body else None,
            allow_redirects=False,
            **timeout,
        )
    except (TimeoutError, aiohttp.ClientError) as exc:
        if body.failed:
            raise body.failed from exc
        logger.warning("upstream %s failed: %s", upstream.name, type(exc).__name__)
        raise upstream.error(exc) from exc
    if body.failed:  # the upload broke off (too large, client gone); the service saw a cut body
        response.release()
        raise body.failed
    return response
