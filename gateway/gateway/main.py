"""The gateway: one front door for ERP systems, the frontend and ops.

API keys and scopes, rate limits, request ids, CORS, one OpenAPI document, and routing to the services.
"""

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.auth import FailedAuthentications, KeyCache, RefuseFloodingAddresses, UnknownKeys
from gateway.db import metadata
from gateway.openapi import MergedOpenApi
from gateway.proxy import close_upstreams, open_upstreams
from gateway.proxy import router as proxy_router
from gateway.ratelimit import RATE_LIMIT_HEADERS, close_rate_limiter, open_rate_limiter
from gateway.settings import DEVELOPMENT_KEY_SECRET, GatewaySettings
from servicekit.app import create_service_app
from servicekit.errors import problem_response

COMPONENT_DIR = Path(__file__).resolve().parent.parent


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered as problem+json like every other error, saying what was
    refused (Starlette answers it in plain text)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            if "origin" in headers and "access-control-request-method" in headers:
                response = self.preflight_response(request_headers=headers)
                if response.status_code == 400:
                    response = self._refusal(response, headers, scope["path"])
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _refusal(self, response: Response, headers: Headers, path: str) -> Response:
        failures = bytes(response.body).decode().removeprefix("Disallowed CORS ").split(", ")
        reasons = {
            "origin": f"the origin {headers['origin']} is not allowed",
            "method": f"the method {headers['access-control-request-method']} is not allowed "
            f"(allowed: {', '.join(self.allow_methods)})",
            "headers": f"the request headers {headers.get('access-control-request-headers', '')} are not all allowed "
            f"(allowed: {', '.join(sorted(self.allow_headers))})",
            "private-network": "private network access is not allowed",
        }
        detail = "CORS preflight refused: " + "; ".join(reasons.get(f, f) for f in failures) + "."
        kept = {k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")}
        return problem_response(400, "Bad Request", detail, instance=path, headers=kept)


async def _warn_development_secret(app: FastAPI) -> None:
    if app.state.settings.api_key_secret.get_secret_value() == DEVELOPMENT_KEY_SECRET:
        logging.getLogger("gateway").warning("GATEWAY_API_KEY_SECRET is not set: using the development secret")


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    app = create_service_app(
        name="gateway",
        description="The platform's API gateway.",
        settings=settings,
        metadata=metadata,
        component_dir=COMPONENT_DIR,
        routers=[proxy_router],
        on_startup=[open_upstreams, open_rate_limiter, _warn_development_secret],
        on_shutdown=[close_upstreams, close_rate_limiter],
        serve_openapi=False,  # it serves the merged document of all services instead of its own
        verify_signatures=False,  # the front door: callers present API keys, and the gateway signs for them
    )
    app.state.key_cache = KeyCache(settings.api_key_cache_seconds)
    app.state.unknown_keys = UnknownKeys(settings.api_key_unknown_cache_seconds, settings.api_key_unknown_cache_entries)
    app.state.failed_authentications = FailedAuthentications(settings)
    app.state.openapi = merged = MergedOpenApi(settings.openapi_cache_seconds)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        document, missing = await merged.document(request.app.state.upstreams)
        headers = {"Warning": f'199 - "incomplete: {", ".join(missing)} unavailable"'} if missing else None
        return JSONResponse(document, headers=headers)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Retention platform API")

    app.add_middleware(RefuseFloodingAddresses)  # before all of servicekit's: the cheapest answer for a flood
    # Outermost, so that preflights and every error response carry the CORS headers too.
    app.add_middleware(
        ProblemCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "X-API-Key",
            "Content-Type",
            "Idempotency-Key",
            "X-Request-ID",
            "traceparent",
            "tracestate",
        ],
        expose_headers=["X-Request-ID", "Location", "Retry-After", *RATE_LIMIT_HEADERS],
        max_age=600,
    )
    return app
