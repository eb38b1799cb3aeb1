"""Calls between services: the request id travels along, and upstream failures become 502/503/504 problems."""

import socket
import time

import httpx
import pytest

from servicekit.errors import BadGateway, GatewayTimeout, ServiceUnavailable
from servicekit.http import ServiceClient
from servicekit.observability import set_request_id
from servicekit.testing import free_port


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
