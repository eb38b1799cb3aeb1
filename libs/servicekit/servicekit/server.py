"""The HTTP server's own refusals as problem+json: uvicorn answers a request it cannot parse (a control
character in a header value, a broken request line) with a plain-text 400 before any app sees it.

Every component starts with `--http servicekit.server:ProblemHttpProtocol` (deploy/local/Procfile, the
Dockerfiles, servicekit.testing.ServerProcess). The subclasses replace uvicorn's one method that writes that
400 (`send_400_response`, the same in both of its protocols); parsing and everything else stay uvicorn's.
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.h11_impl import H11Protocol

from servicekit.errors import PROBLEM_MEDIA_TYPE

_PROBLEM = json.dumps(
    {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "The HTTP request could not be parsed (a control character or a character outside ASCII in a "
        "header, or a malformed request line or header); nothing was done.",
    }
).encode()


def bad_request() -> bytes:
    """The whole 400 response, closing the connection (the parser's state is lost)."""
    head = (
        "HTTP/1.1 400 Bad Request\r\n"
        f"content-type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"content-length: {len(_PROBLEM)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + _PROBLEM


class ProblemH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        self.transport.write(bad_request())
        self.transport.close()


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional for uvicorn: then h11 it is, as uvicorn's "auto" chooses
    ProblemHttpProtocol: type[asyncio.Protocol] = ProblemH11Protocol
else:

    class ProblemHttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            self.transport.write(bad_request())
            self.transport.close()

    ProblemHttpProtocol = ProblemHttpToolsProtocol
