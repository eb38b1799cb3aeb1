"""RFC 9457 problem details: one error family, one renderer, every error in the same shape."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from servicekit.observability import current_request_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
logger = logging.getLogger("servicekit.errors")


class FieldError(BaseModel):
    """One problem with one field of the request."""

    location: list[str | int] = Field(description='Where the problem is, e.g. ["body", "kind"].')
    field: str = Field(description="The location joined with dots, e.g. body.consent.email.")
    message: str
    type: str = Field(description="Machine-readable error type, e.g. missing, enum, json_invalid.")


class Problem(BaseModel):
    """An RFC 9457 problem document, returned with `application/problem+json`."""

    type: str = Field(default="about:blank", description="URI reference identifying the problem type.")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(default=None, description="The request path that failed.")
    request_id: str | None = None
    errors: list[FieldError] | None = None


class AppError(Exception):
    """Base of every error a service raises on purpose; rendered as problem+json."""

    status: int = 500
    title: str = "Internal Server Error"
    type: str = "about:blank"

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        title: str | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or title or self.title)
        if status is not None:
            self.status = status
            if title is None:
                title = HTTPStatus(status).phrase
        self.title = title or self.title
        self.type = type or self.type
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}


class NotFound(AppError):
    status = 404
    title = "Not Found"


class Conflict(AppError):
    status = 409
    title = "Conflict"


class BadRequest(AppError):
    status = 400
    title = "Bad Request"


class Unprocessable(AppError):
    """422 for input that is well-formed but refers to something that does not hold, e.g. an unknown id."""

    status = 422
    title = "Unprocessable Content"

    def __init__(self, detail: str, *, field: list[str | int], error_type: str = "value_error") -> None:
        error = {"location": field, "field": ".".join(map(str, field)), "message": detail, "type": error_type}
        super().__init__(detail, extra={"errors": [error]})


class Unauthorized(AppError):
    status = 401
    title = "Unauthorized"


class Forbidden(AppError):
    status = 403
    title = "Forbidden"


class PayloadTooLarge(AppError):
    status = 413
    title = "Content Too Large"


class BadGateway(AppError):
    status = 502
    title = "Bad Gateway"


class ServiceUnavailable(AppError):
    status = 503
    title = "Service Unavailable"


class GatewayTimeout(AppError):
    status = 504
    title = "Gateway Timeout"


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    type: str = "about:blank",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": type, "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        location = [part for part in err.get("loc", ()) if isinstance(part, str | int)]
        out.append(
            {
                "location": location,
                "field": ".".join(str(part) for part in location),
                "message": err.get("msg", "invalid"),
                "type": err.get("type", "value_error"),
            }
        )
    return out


async def _app_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(
        exc.status,
        exc.title,
        exc.detail,
        instance=request.url.path,
        type=exc.type,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    if exc.status_code == 404 and detail is None:
        detail = f"No resource at {request.url.path}."
    if exc.status_code == 405 and detail is None:
        detail = f"{request.method} is not allowed on {request.url.path}."
    return problem_response(
        exc.status_code, phrase, detail, instance=request.url.path, headers=getattr(exc, "headers", None)
    )


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    return problem_response(
        422,
        "Unprocessable Content",
        f"The request has {len(errors)} invalid field(s).",
        instance=request.url.path,
        errors=errors,
    )


def internal_error_response(instance: str) -> JSONResponse:
    """The 500 every unexpected error gets: no trace, just the id to quote."""
    return problem_response(
        500,
        "Internal Server Error",
        "An unexpected error occurred; quote the request_id when reporting it.",
        instance=instance,
    )


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return internal_error_response(request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": HTTPStatus(status).phrase}
    for status in (400, 404, 413, 422, 500)
}
"""Added to every route's OpenAPI so clients see the problem shape."""
