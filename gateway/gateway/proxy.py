"""Routing `/v1/<service>/...` to the services: pooled connections, bodies streamed both ways."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import APIRouter, FastAPI, Request
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

from gateway.auth import authorize, required_scope
from gateway.settings import GatewaySettings
from servicekit.errors import NotFound
from servicekit.http import create_http_client, upstream_error

logger = logging.getLogger("gateway.proxy")

# RFC 9110 7.6.1 hop-by-hop fields, plus the ones the proxy sets itself; credentials stay at the gateway.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "host"}
)  # fmt: skip
_NOT_FORWARDED = _HOP_BY_HOP | {"authorization", "x-api-key", "x-api-key-id", "x-api-key-name", "x-request-id"}
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

router = APIRouter()


def build_upstream_clients(
    settings: GatewaySettings, transports: dict[str, httpx.AsyncBaseTransport] | None = None
) -> dict[str, httpx.AsyncClient]:
    """One pooled client per service; `transports` lets tests route a service in-process."""
    transports = transports or {}
    return {
        name: create_http_client(
            url,
            timeout_seconds=settings.upstream_timeout_seconds,
            connect_timeout_seconds=settings.upstream_connect_timeout_seconds,
            max_connections=settings.upstream_max_connections,
            transport=transports.get(name),
        )
        for name, url in settings.upstreams().items()
    }


async def open_upstreams(app: FastAPI) -> None:
    app.state.upstreams = build_upstream_clients(app.state.settings, app.state.upstream_transports)


async def close_upstreams(app: FastAPI) -> None:
    for client in app.state.upstreams.values():
        await client.aclose()


class _ForwardedBody:
    """The client's body, streamed on; remembers if reading it failed, whoever swallowed the error."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.failed: BaseException | None = None

    async def stream(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.request.stream():
                yield chunk
        except BaseException as exc:
            self.failed = exc
            raise


@router.api_route("/v1/{service}/{path:path}", methods=_METHODS, include_in_schema=False)
async def proxy(service: str, path: str, request: Request) -> StreamingResponse:
    upstreams: dict[str, httpx.AsyncClient] = request.app.state.upstreams
    client = upstreams.get(service)
    if client is None:
        raise NotFound(f"No service {service!r}; the API has {', '.join(f'/v1/{s}' for s in upstreams)}.")
    request.scope["route_template"] = f"/v1/{service}/*"
    api_key = await authorize(request, required_scope(request.method))

    headers = [(k, v) for k, v in request.headers.raw if k.decode("latin-1").lower() not in _NOT_FORWARDED]
    headers += [
        (b"x-api-key-id", str(api_key.id).encode()),
        (b"x-forwarded-for", (request.client.host if request.client else "").encode()),
        (b"x-forwarded-proto", request.url.scheme.encode()),
    ]
    has_body = request.method not in ("GET", "HEAD", "OPTIONS") or "content-length" in request.headers
    body = _ForwardedBody(request)
    upstream_request = client.build_request(
        request.method,
        httpx.URL(path=request.url.path, query=request.url.query.encode("latin-1")),
        headers=headers,
        content=body.stream() if has_body else None,
    )
    try:
        upstream = await client.send(upstream_request, stream=True)
    except httpx.HTTPError as exc:
        logger.warning("upstream %s failed: %s", service, type(exc).__name__)
        raise upstream_error(service, exc) from exc
    if body.failed:  # the upload broke off (too large, client gone); the upstream saw a cut body
        await upstream.aclose()
        raise body.failed
    response = StreamingResponse(
        upstream.aiter_raw(), status_code=upstream.status_code, background=BackgroundTask(upstream.aclose)
    )
    # Raw pairs keep repeated fields (Set-Cookie, Link) apart; the body passes through still encoded.
    response.raw_headers = [(k, v) for k, v in upstream.headers.raw if k.decode("latin-1").lower() not in _HOP_BY_HOP]
    return response
