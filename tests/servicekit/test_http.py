"""Calls between services: the request id travels along, and upstream failures become 502/503/504 problems."""

import asyncio
import socket
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from servicekit.errors import BadGateway, GatewayTimeout, ServiceUnavailable
from servicekit.http import UPSTREAM_KEEPALIVE_SECONDS, ServiceClient
from servicekit.observability import set_request_id
from servicekit.testing import free_port, serve_in_loop


async def test_forwards_the_request_id_and_returns_client_errors_to_the_caller() -> None:
    seen: list[httpx.Request] = []

    def segmentation(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"title": "Not Found"})

    client = ServiceClient("segmentation", "http://segmentation", transport=httpx.MockTransport(segmentation))
    set_request_id("req-123")
    try:
        response = await client.request("GET", "/v1/segmentation/customers/x")
    finally:
        set_request_id(None)
        await client.aclose()
    assert response.status_code == 404, "a 4xx is the caller's to interpret"
    assert seen[0].headers["x-request-id"] == "req-123"


@pytest.mark.parametrize(
    ("upstream_status", "problem"),
    [(500, BadGateway), (502, BadGateway), (503, ServiceUnavailable), (504, GatewayTimeout)],
)
async def test_upstream_server_errors_become_gateway_problems(upstream_status: int, problem: type) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(upstream_status))
    client = ServiceClient("capacity", "http://capacity", transport=transport)
    with pytest.raises(problem) as raised:
        await client.request("POST", "/v1/capacity/reservations")
    await client.aclose()
    assert "capacity" in raised.value.detail


async def test_a_service_that_is_down_is_a_503() -> None:
    client = ServiceClient("segmentation", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with pytest.raises(ServiceUnavailable) as raised:
        await client.get_json("/v1/segmentation/customers")
    await client.aclose()
    assert raised.value.status == 503
    assert raised.value.headers["Retry-After"] == "2"


async def test_a_silent_service_is_a_504_within_the_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        client = ServiceClient("capacity", f"http://127.0.0.1:{port}", timeout_seconds=0.3)
        started = time.monotonic()
        with pytest.raises(GatewayTimeout):
            await client.get_json("/v1/capacity/resources")
        await client.aclose()
    assert time.monotonic() - started < 1.5


async def test_idle_connections_are_let_go_before_the_server_closes_them() -> None:
    """uvicorn closes a connection idle for 5 s; reusing one just then would be a reset, and a 502."""

    async def client_port(request: Request) -> JSONResponse:
        return JSONResponse({"port": request.client.port if request.client else None})

    async with serve_in_loop(Starlette(routes=[Route("/port", client_port)])) as url:
        client = ServiceClient("upstream", url)
        try:
            first, at_once = (await client.get_json("/port"))["port"], (await client.get_json("/port"))["port"]
            await asyncio.sleep(UPSTREAM_KEEPALIVE_SECONDS + 0.5)
            later = (await client.get_json("/port"))["port"]
        finally:
            await client.aclose()
    assert first == at_once, "a connection in use is kept for the next request"
    assert later != first, "an idle one is dropped before the server's own keep-alive runs out"
