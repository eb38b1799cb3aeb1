"""The gateway: one front door for ERP systems, the frontend and ops.

API keys and scopes, rate limits, request ids, CORS, one OpenAPI document, and routing to the services.
"""

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from gateway.auth import KeyCache
from gateway.db import metadata
from gateway.openapi import MergedOpenApi
from gateway.proxy import close_upstreams, open_upstreams
from gateway.proxy import router as proxy_router
from gateway.ratelimit import RATE_LIMIT_HEADERS, close_rate_limiter, open_rate_limiter
from gateway.settings import DEVELOPMENT_KEY_SECRET, GatewaySettings
from servicekit.app import create_service_app

COMPONENT_DIR = Path(__file__).resolve().parent.parent


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
    merged = MergedOpenApi(settings.openapi_cache_seconds)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        document, missing = await merged.document(request.app.state.upstreams)
        headers = {"Warning": f'199 - "incomplete: {", ".join(missing)} unavailable"'} if missing else None
        return JSONResponse(document, headers=headers)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Retention platform API")

    # Outermost, so that preflights and every error response carry the CORS headers too.
    app.add_middleware(
        CORSMiddleware,
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
