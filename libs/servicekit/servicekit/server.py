"""The HTTP server's own refusals as problem+json: uvicorn answers a request it cannot parse (a control
character in a header value, a broken request line) with a plain-text 400 before any app sees it.

Every component starts with `--http servicekit.server:ProblemHttpProtocol` (deploy/local/Procfile, the
Dockerfiles, servicekit.testing.ServerProcess). The subclasses replace uvicorn's one method that writes that
400 (`send_400_response`, the same in both of its protocols) and keep the bytes last received, so that the
problem can name a header whose value holds a control character; parsing and everything else stay uvicorn's.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from servicekit.errors import PROBLEM_MEDIA_TYPE

_DETAIL = (
    "The HTTP request could not be parsed (a control character or a character outside ASCII in a header, or a "
    "malformed request line or header); nothing was done."
)
# A header line (after the request line) whose value holds a control character other than a tab.
_BAD_HEADER = re.compile(
    rb"\r?\n([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*?[\x00-\x08\x0b\x0c\x0e-\x1f\x7f][^\r\n]*)"
)


def _header_errors(received: bytes) -> list[dict[str, Any]]:
    """The headers of a request head whose values hold a control character, as field errors."""
    head = received.split(b"\r\n\r\n", 1)[0]
    errors = []
    for match in _BAD_HEADER.finditer(head):
        name = match[1].decode("ascii").lower()
        control = re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", match[2])
        assert control is not None
        message = f"The header's value contains a control character (U+{control[0][0]:04X}); send printable ASCII."
        errors.append(
            {"location": ["header", name], "field": f"header.{name}", "message": message, "type": "control_character"}
        )
    return errors


def bad_request(received: bytes = b"") -> bytes:
    """The whole 400 response, closing the connection (the parser's state is lost)."""
    problem: dict[str, Any] = {"type": "about:blank", "title": "Bad Request", "status": 400, "detail": _DETAIL}
    if errors := _header_errors(received):
        problem["detail"] = f"The header {', '.join(e['location'][1] for e in errors)} holds a control character."
        problem["errors"] = errors
    body = json.dumps(problem).encode()
    head = (
        "HTTP/1.1 400 Bad Request\r\n"
        f"content-type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ProblemH11Protocol(H11Protocol):
    _received = b""

    def data_received(self, data: bytes) -> None:
        self._received = data  # only for naming a bad header in the 400 below
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        self.transport.write(bad_request(self._received))
        self.transport.close()


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional for uvicorn: then h11 it is, as uvicorn's "auto" chooses
    ProblemHttpProtocol: type[asyncio.Protocol] = ProblemH11Protocol
else:

    class ProblemHttpToolsProtocol(HttpToolsProtocol):
        _received = b""

        def data_received(self, data: bytes) -> None:
            self._received = data
            super().data_received(data)

        def send_400_response(self, msg: str) -> None:
            self.transport.write(bad_request(self._received))
            self.transport.close()

    ProblemHttpProtocol = ProblemHttpToolsProtocol
