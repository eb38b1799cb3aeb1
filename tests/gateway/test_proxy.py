"""What the gateway forwards, and how it answers for an upstream that is slow."""

import json
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.keys import service as keys
from gateway.keys.schemas import Scope
from gateway.main import create_app
from gateway.settings import GatewaySettings
from servicekit.testing import app_client


async def _key(app, settings: GatewaySettings) -> str:
    async with app.state.sessionmaker() as session, session.begin():
        created = await keys.create_key(session, settings.api_key_secret.get_secret_value(), "proxy", [Scope.write])
    return created.key


@pytest.fixture
def silent_upstream() -> AsyncIterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_forwards_body_query_and_request_id_but_not_credentials(db_url: str) -> None:
    seen: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = json.dumps({"echo": request.content.decode()}).encode()
        headers = [("content-type", "application/json"), ("set-cookie", "a=1"), ("set-cookie", "b=2")]
        # A stream, as a real upstream sends it (a plain body would count as already consumed).
        return httpx.Response(202, headers=[*headers, ("x-upstream", "yes")], stream=httpx.ByteStream(body))

    settings = GatewaySettings(database_url=db_url, log_json=False)
    app = create_app(settings, {"segmentation": httpx.MockTransport(upstream)})
    async with app_client(app) as client:
        key = await _key(app, settings)
        response = await client.post(
            "/v1/segmentation/things?x=1&y=%C3%A4",
            content=b'{"a": 1}',
            headers={"Authorization": f"Bearer {key}", "X-Request-ID": "trace-me", "Content-Type": "application/json"},
        )
    assert response.status_code == 202
    assert response.json() == {"echo": '{"a": 1}'}
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert response.headers["x-upstream"] == "yes"
    forwarded = seen[0]
    assert forwarded.url.path == "/v1/segmentation/things"
    assert forwarded.url.query == b"x=1&y=%C3%A4"
    assert forwarded.headers["x-request-id"] == "trace-me"
    assert "authorization" not in forwarded.headers, "the key stays at the gateway"
    assert forwarded.headers["x-api-key-id"]


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
