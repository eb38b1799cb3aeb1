"""A request the HTTP server itself cannot parse gets a problem+json 400 too, not uvicorn's plain text."""

import json
import socket
from collections.abc import Iterator

import pytest

from servicekit.testing import ServerProcess


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    server = ServerProcess("tests.servicekit.erring_app:create_quiet_app", {}, name="quiet").start()
    yield server
    server.stop()


def exchange(server: ServerProcess, request: bytes) -> tuple[bytes, dict[str, str], bytes]:
    """(status line, headers, body) of the answer to raw request bytes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *fields = head.split(b"\r\n")
    headers = {k.decode().lower(): v.decode().strip() for k, _, v in (f.partition(b":") for f in fields)}
    return status, headers, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n",
        b"GET /health z HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_an_unparseable_request_is_a_400_problem(server: ServerProcess, request_bytes: bytes) -> None:
    status, headers, body = exchange(server, request_bytes)
    assert status == b"HTTP/1.1 400 Bad Request"
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert (problem["status"], problem["title"]) == (400, "Bad Request")
    assert "could not be parsed" in problem["detail"]


@pytest.mark.parametrize("control", [b"\x00", b"\x01", b"\x1b", b"\x7f"])
def test_a_control_character_in_a_header_is_named(server: ServerProcess, control: bytes) -> None:
    request = b"POST /healthz HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a" + control + b"b\r\nContent-Length: 0\r\n\r\n"
    status, headers, body = exchange(server, request)
    assert (status, headers["content-type"]) == (b"HTTP/1.1 400 Bad Request", "application/problem+json")
    problem = json.loads(body)
    assert problem["detail"] == "The header idempotency-key holds a control character."
    assert [(e["location"], e["type"]) for e in problem["errors"]] == [
        (["header", "idempotency-key"], "control_character")
    ]
    assert f"U+{control[0]:04X}" in problem["errors"][0]["message"]


def test_a_good_request_is_served_as_before(server: ServerProcess) -> None:
    status, _, body = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == b"HTTP/1.1 200 OK"
    assert json.loads(body) == {"status": "ok"}
