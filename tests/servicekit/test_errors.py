"""Every error a client sees is problem+json; a 500 leaks nothing and carries the id to quote to support."""

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import APIRouter

from segmentation.db import metadata
from segmentation.main import COMPONENT_DIR
from servicekit.app import create_service_app
from servicekit.errors import AppError
from servicekit.observability import JsonFormatter
from servicekit.settings import ServiceSettings
from servicekit.testing import app_client

PROBLEM = "application/problem+json"
BODY_LIMIT = 1024


class ExportQuotaExceeded(AppError):
    status = 429
    title = "Too Many Requests"


router = APIRouter()


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret detail")


@router.get("/quota")
async def quota() -> None:
    raise ExportQuotaExceeded("Only 5 exports per hour.", headers={"Retry-After": "60"})


@router.post("/echo")
async def echo(body: dict[str, str]) -> dict[str, str]:
    return body


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(database_url=db_url, request_body_limit_bytes=BODY_LIMIT, log_level="INFO")
    app = create_service_app(
        name="errors-test", settings=settings, metadata=metadata, component_dir=COMPONENT_DIR, routers=[router]
    )
    async with app_client(app) as client:
        yield client


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """What the servicekit loggers write, formatted as the services format it in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("servicekit")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def log_entries(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_unhandled_error_is_a_500_problem_without_internals(
    client: httpx.AsyncClient, json_logs: io.StringIO
) -> None:
    response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["title"] == "Internal Server Error"
    assert body["status"] == 500
    assert body["request_id"] == response.headers["x-request-id"]
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text

    errors = [e for e in log_entries(json_logs) if e["level"] == "ERROR"]
    assert errors, "the failure is logged for on-call"
    assert all(e["request_id"] == body["request_id"] for e in errors)
    assert any("secret detail" in e.get("exception", "") for e in errors), "the log keeps the traceback"


async def test_app_error_renders_its_status_title_and_detail(client: httpx.AsyncClient) -> None:
    response = await client.get("/quota", headers={"X-Request-ID": "erp-export-7"})
    assert response.status_code == 429
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == "60"
    assert response.json() == {
        "type": "about:blank",
        "title": "Too Many Requests",
        "status": 429,
        "detail": "Only 5 exports per hour.",
        "instance": "/quota",
        "request_id": "erp-export-7",
    }


async def test_access_log_is_json_lines_with_the_request_id(client: httpx.AsyncClient, json_logs: io.StringIO) -> None:
    response = await client.get("/quota")
    access = [e for e in log_entries(json_logs) if e["logger"] == "servicekit.access"]
    assert len(access) == 1
    assert access[0]["request_id"] == response.headers["x-request-id"]
    assert access[0]["message"] == "GET /quota 429"
    assert access[0]["route"] == "/quota"
    assert access[0]["status"] == 429


async def test_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/quota")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == "DELETE is not allowed on /quota."
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_unknown_path_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == "No resource at /no/such/thing."


async def test_body_over_the_limit_is_a_413_problem(client: httpx.AsyncClient) -> None:
    small = await client.post("/echo", json={"note": "x" * 100})
    assert small.status_code == 200

    response = await client.post("/echo", json={"note": "x" * BODY_LIMIT})
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == f"The request body exceeds the limit of {BODY_LIMIT} bytes."


async def test_streamed_body_over_the_limit_is_a_413_problem(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"note": "'
        for _ in range(4):
            yield b"x" * 512
        yield b'"}'

    # No Content-Length: the limit must hold while the body streams in.
    response = await client.post("/echo", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
