"""The service app factory: every service gets the same middleware, errors, health and metrics."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import MetaData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit import clock
from servicekit.business_metrics import BusinessCollector, BusinessMetrics
from servicekit.db import ReadPool, build_engine, install_database_error_handlers, sessionmaker_for
from servicekit.errors import PROBLEM_RESPONSES, install_error_handlers, internal_error_response, problem_response
from servicekit.input_rules import InputRulesMiddleware, InvalidInput, check_request_input, invalid_input_handler
from servicekit.migrations import database_heads, script_heads
from servicekit.observability import (
    MetricsMiddleware,
    RequestIdMiddleware,
    configure_logging,
    metrics_endpoint,
)
from servicekit.settings import ServiceSettings
from servicekit.signing import SignatureMiddleware, warn_if_development_secret

logger = logging.getLogger("servicekit.app")

LifespanHook = Callable[[FastAPI], Awaitable[None]]


class _BodyTooLarge(StarletteHTTPException):
    """An HTTPException, because FastAPI's body parsing re-raises those but turns any other error into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body exceeds the limit of {limit} bytes.")


def _body_too_large_response(detail: str, path: str) -> JSONResponse:
    return problem_response(413, "Content Too Large", detail, instance=path)


async def _body_too_large_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, _BodyTooLarge)
    return _body_too_large_response(str(exc.detail), request.url.path)


UPLOAD_PATH_SEGMENT = "/imports/"


class BodyLimitMiddleware:
    """413 problem+json for bodies over the limit, by Content-Length or while streaming in.

    Bulk uploads (paths with an /imports/ segment) have a limit of their own; they are streamed, never held.
    """

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int) -> None:
        self.app = app
        self.default_limit = limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if UPLOAD_PATH_SEGMENT in scope["path"] else self.default_limit
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._reject(scope, receive, send, limit)
                return
        received = 0
        started = exceeded = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request" and not exceeded:
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True  # raise once: later reads (disconnect listeners) pass through
                    raise _BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await self._reject(scope, receive, send, limit)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = _body_too_large_response(_BodyTooLarge(limit).detail, scope["path"])
        await response(scope, receive, send)


class LastResortMiddleware:
    """Turns any exception that escaped the app into a 500 problem+json carrying the request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await internal_error_response(scope["path"])(scope, receive, send)


def keep_until_shutdown(app: FastAPI, task: asyncio.Task[object]) -> None:
    """Hold on to work a request started and does not wait for (a run, a fit, a vacuum): the event loop keeps
    only weak references to tasks, and at shutdown the lifespan cancels what is still running."""
    app.state.background_tasks.add(task)
    task.add_done_callback(app.state.background_tasks.discard)


@contextmanager
def _settled_garbage_collector() -> Iterator[None]:
    """While the app serves: what the process held when it started (modules, routes, models) is left out of
    collections, and collections come less often. With Python's defaults a full collection walked every object
    every few hundred requests and was the p99 of a profile read (100 ms against a p50 of 14 ms;
    docs/benchmarks.md). Undone at shutdown, for processes (tests) that start many apps."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def add_standard_middleware(app: FastAPI, settings: ServiceSettings, *, verify_signatures: bool = True) -> None:
    """Outermost first: a fixed clock when the settings stop it, request id, last-resort 500, metrics and access
    log, signed calls only, body limit, input rules."""
    app.add_middleware(InputRulesMiddleware, upload_segment=UPLOAD_PATH_SEGMENT)
    app.add_middleware(
        BodyLimitMiddleware, limit=settings.request_body_limit_bytes, upload_limit=settings.upload_body_limit_bytes
    )
    if verify_signatures:
        app.add_middleware(
            SignatureMiddleware,
            secrets=settings.signing_secrets(),
            max_skew_seconds=settings.internal_signing_max_skew_seconds,
        )
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(LastResortMiddleware)
    app.add_middleware(RequestIdMiddleware)
    if settings.fixed_now is not None:
        app.add_middleware(clock.FixedClockMiddleware, fixed_now=settings.fixed_now)


def create_service_app(
    *,
    name: str,
    settings: ServiceSettings,
    metadata: MetaData,
    component_dir: Path,
    routers: Sequence[APIRouter],
    description: str = "",
    version: str = "0.1.0",
    on_startup: Sequence[LifespanHook] = (),
    on_shutdown: Sequence[LifespanHook] = (),
    serve_openapi: bool = True,
    business_metrics: Sequence[BusinessCollector] = (),
    verify_signatures: bool = True,
) -> FastAPI:
    """A FastAPI app with the platform's conventions; the engine is built in lifespan, never at import.

    `verify_signatures`: answer only calls signed by another component (servicekit.signing); the gateway, the
    one component callers reach directly, turns it off.

    `business_metrics`: collectors of `<service>_...` figures read from the service's tables when /metrics
    is scraped (servicekit.business_metrics).
    """
    schema = metadata.schema
    assert schema, "the service's MetaData must name its schema"
    expected_heads = script_heads(component_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_json)
        warn_if_development_secret(settings.signing_secrets())
        engine = build_engine(settings, application_name=name)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker_for(engine)
        app.state.read_pool = ReadPool(settings, application_name=name)
        await app.state.read_pool.open()
        app.state.background_tasks = set()  # work a request started and does not wait for (e.g. runs)
        try:
            with clock.fixed_at(settings.fixed_now):  # startup hooks and the loops they start read the app's clock
                for hook in on_startup:
                    await hook(app)
                with _settled_garbage_collector():
                    yield
        finally:
            for task in list(app.state.background_tasks):
                task.cancel()
            await asyncio.gather(*app.state.background_tasks, return_exceptions=True)
            for hook in on_shutdown:
                await hook(app)
            await app.state.read_pool.close()
            await engine.dispose()

    app = FastAPI(
        title=name,
        description=description,
        version=version,
        lifespan=lifespan,
        responses=PROBLEM_RESPONSES,
        dependencies=[Depends(check_request_input)],
        openapi_url="/openapi.json" if serve_openapi else None,
        # A path with a trailing slash is a 404, not a redirect: Starlette's redirect names the address the request
        # was sent to, which behind the gateway is the service's own (and following it skips the gateway).
        redirect_slashes=False,
    )
    if business_metrics:
        app.state.business_metrics = BusinessMetrics(
            business_metrics, settings.metrics_cache_seconds, settings.metrics_timeout_seconds
        )
    install_error_handlers(app)
    install_database_error_handlers(app)
    app.add_exception_handler(_BodyTooLarge, _body_too_large_handler)
    app.add_exception_handler(InvalidInput, invalid_input_handler)
    add_standard_middleware(app, settings, verify_signatures=verify_signatures)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Alive: the process answers. Says nothing about the database."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        """Ready: the database answers and every migration of this service's schema is applied."""
        try:
            async with asyncio.timeout(settings.db_connect_timeout_seconds):
                async with request.app.state.engine.connect() as connection:
                    applied = await database_heads(connection, schema)
        except Exception as exc:  # any failure to reach the database means not ready
            logger.warning("not ready: database unreachable (%s)", type(exc).__name__)
            return problem_response(503, "Service Unavailable", "The database is unreachable.", instance="/readyz")
        if applied != expected_heads:
            return problem_response(
                503,
                "Service Unavailable",
                f"Schema {schema} is at {sorted(applied) or 'nothing'}, expected {sorted(expected_heads)}; "
                "run `make migrate`.",
                instance="/readyz",
            )
        return JSONResponse({"status": "ready", "database": "ok", "migrations": sorted(applied)})

    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    for router in routers:
        app.include_router(router)
    return app
