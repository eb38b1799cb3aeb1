"""What the gateway forwards and returns, and how it answers for an upstream that is slow or gone."""

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.keys import service as keys
from gateway.keys.schemas import Scope
from gateway.main import create_app
from gateway.settings import GatewaySettings
from servicekit.http import UPSTREAM_KEEPALIVE_SECONDS
from servicekit.testing import app_client, serve_in_loop
from tests.gateway.conftest import FakeService, gateway_for


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    response = JSONResponse(
        {
            "path": request.scope["raw_path"].decode(),
            "query": request.scope["query_string"].decode(),
            "headers": {k.decode(): v.decode() for k, v in request.headers.raw},
            "forwarded_for": [v.decode() for k, v in request.headers.raw if k == b"x-forwarded-for"],
            "body": body.decode(),
            "client_port": request.client.port if request.client else None,
        },
        status_code=202,
    )
    response.raw_headers += [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"x-upstream", b"yes")]
    return response


async def stream(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(100):
            yield f"line {i}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


LARGE_BODY = bytes(range(256)) * 4096  # 1 MiB, past the size the gateway reads whole before answering


async def large(request: Request) -> Response:
    return Response(LARGE_BODY, media_type="application/octet-stream")


ECHO = Starlette(
    routes=[
        Route("/v1/segmentation/{rest:path}", echo, methods=["GET", "POST", "PUT"]),
        Route("/v1/campaigns/stream", stream),
        Route("/v1/campaigns/large", large),
    ]
)


async def _key(app, settings: GatewaySettings) -> str:
    async with app.state.sessionmaker() as session, session.begin():
        created = await keys.create_key(session, settings.api_key_secret.get_secret_value(), "proxy", [Scope.write])
    return created.key


@pytest.fixture
def silent_upstream() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_forwards_body_path_query_and_request_id_but_not_credentials(db_url: str) -> None:
    async with serve_in_loop(ECHO) as echo_url:
        settings = GatewaySettings(database_url=db_url, log_json=False, segmentation_url=echo_url)
        app = create_app(settings)
        async with app_client(app) as client:
            key = await _key(app, settings)
            response = await client.post(
                "/v1/segmentation/things/a%2Fb?x=1&y=%C3%A4",
                content=b'{"a": 1}',
                headers={
                    "Authorization": f"Bearer {key}",
                    "X-Request-ID": "trace-me",
                    "Content-Type": "application/json",
                    "X-Forwarded-For": "203.0.113.9",
                },
            )
    assert response.status_code == 202
    seen = response.json()
    assert seen["forwarded_for"] == ["127.0.0.1"], "the caller's address as the gateway saw it, never the caller's say"
    assert seen["path"] == "/v1/segmentation/things/a%2Fb", "the path is forwarded as sent, still encoded"
    assert seen["query"] == "x=1&y=%C3%A4"
    assert seen["body"] == '{"a": 1}'
    assert seen["headers"]["x-request-id"] == "trace-me"
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["headers"]["x-api-key-id"]
    assert "authorization" not in seen["headers"], "the key stays at the gateway"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert response.headers["x-upstream"] == "yes"
    assert "date" not in response.headers, "the service's Date is dropped (the gateway's own server sets one)"
    assert response.headers["x-request-id"] == "trace-me"


async def test_idle_connections_to_a_service_are_let_go_before_its_server_closes_them(db_url: str) -> None:
    """uvicorn closes a connection idle for 5 s; reusing one just then would be a reset, and a 502."""
    async with (
        serve_in_loop(ECHO, proxy_headers=False) as echo_url,  # the gateway's own port, not X-Forwarded-For
        gateway_for(db_url, segmentation_url=echo_url) as gateway,
    ):
        headers = {"Authorization": f"Bearer {await gateway.new_key(Scope.read)}"}

        async def port() -> int:
            return (await gateway.client.get("/v1/segmentation/port", headers=headers)).json()["client_port"]

        first, at_once = await port(), await port()
        await asyncio.sleep(UPSTREAM_KEEPALIVE_SECONDS + 0.5)
        later = await port()
    assert first == at_once, "a connection in use is kept for the next request"
    assert later != first, "an idle one is dropped before the service's own keep-alive runs out"


async def test_streams_the_response_through(db_url: str) -> None:
    async with serve_in_loop(ECHO) as echo_url:
        settings = GatewaySettings(database_url=db_url, log_json=False, campaigns_url=echo_url)
        app = create_app(settings)
        async with app_client(app) as client:
            key = await _key(app, settings)
            response = await client.get("/v1/campaigns/stream", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert response.text.splitlines() == [f"line {i}" for i in range(100)]


async def test_a_large_answer_of_known_length_arrives_whole(db_url: str) -> None:
    async with serve_in_loop(ECHO) as echo_url, gateway_for(db_url, campaigns_url=echo_url) as gateway:
        key = await gateway.new_key(Scope.read)
        response = await gateway.client.get("/v1/campaigns/large", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(LARGE_BODY))
    assert response.content == LARGE_BODY


async def test_a_silent_upstream_is_a_504_within_its_timeout(db_url: str, silent_upstream: str) -> None:
    settings = GatewaySettings(
        database_url=db_url, log_json=False, segmentation_url=silent_upstream, upstream_timeout_seconds=0.5
    )
    app = create_app(settings)
    async with app_client(app) as client:
        key = await _key(app, settings)
        started = time.monotonic()
        response = await client.get("/v1/segmentation/customers", headers={"Authorization": f"Bearer {key}"})
    assert time.monotonic() - started < 1.5
    assert response.status_code == 504
    assert response.headers["content-type"] == "application/problem+json"
    assert "did not answer in time" in response.json()["detail"]


async def test_bulk_imports_have_a_body_limit_of_their_own(db_url: str, fake_service: tuple[FakeService, str]) -> None:
    service, url = fake_service
    settings = {"segmentation_url": url, "request_body_limit_bytes": 1000, "upload_body_limit_bytes": 100_000}
    async with gateway_for(db_url, **settings) as gw:
        auth = gw.auth(await gw.new_key(Scope.write))

        async def chunks(size: int) -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
            for _ in range(size // 1000):
                yield b"x" * 1000

        imported = await gw.client.post("/v1/segmentation/imports/orders", content=chunks(50_000), headers=auth)
        assert imported.status_code == 200
        assert imported.json()["received"] == 50_000, "an import may be far larger than other bodies"

        too_large = await gw.client.post("/v1/segmentation/imports/orders", content=b"x" * 100_001, headers=auth)
        assert too_large.status_code == 413
        assert "100000 bytes" in too_large.json()["detail"]
        streamed = await gw.client.post("/v1/segmentation/imports/orders", content=chunks(101_000), headers=auth)
        assert streamed.status_code == 413

        other = await gw.client.post("/v1/segmentation/runs", content=chunks(2000), headers=auth)
        assert other.status_code == 413
        assert "1000 bytes" in other.json()["detail"]
    assert [call.path for call in service.calls if call.path.endswith("/runs")] == [], "refused before it was sent"
    assert len(service.calls[0].body) == 50_000


async def test_trace_context_is_passed_on_or_started(db_url: str, fake_service: tuple[FakeService, str]) -> None:
    service, url = fake_service
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with gateway_for(db_url, segmentation_url=url) as gw:
        auth = gw.auth(await gw.new_key(Scope.read))
        await gw.client.get(
            "/v1/segmentation/customers", headers={**auth, "traceparent": traceparent, "tracestate": "erp=a1"}
        )
        started = await gw.client.get("/v1/segmentation/customers", headers=auth)
        await gw.client.get(
            "/v1/segmentation/customers",
            headers={
                **auth,
                "traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "tracestate": "x=1",
            },
        )
    passed_on, new, replaced = (call.headers for call in service.calls)
    assert passed_on["traceparent"] == traceparent, "a valid trace context passes unchanged"
    assert passed_on["tracestate"] == "erp=a1"

    version, trace_id, parent_id, flags = new["traceparent"].split("-")
    assert (version, flags) == ("00", "01")
    assert trace_id == started.headers["x-request-id"], "the trace has the request's id, as the logs do"
    assert re.fullmatch(r"[0-9a-f]{16}", parent_id)

    assert replaced["traceparent"] != "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "an invalid id"
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", replaced["traceparent"])
    assert "tracestate" not in replaced, "a tracestate without its trace is dropped"
