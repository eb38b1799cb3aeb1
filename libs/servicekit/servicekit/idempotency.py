"""`Idempotency-Key` on the POSTs that create: the key is stored with what it created, together with a
fingerprint of the request, so that a retry gets the first result and a reused key for another request is
refused. The row that holds the key is inserted first (ON CONFLICT DO NOTHING): a concurrent retry waits for
the first request's transaction and then finds its row.

Keys are scoped (`IdempotencyScopeDep`): a key sent with one API key never replays what another API key created,
and a service's own keys (service-to-service calls) are apart from both."""

import hashlib
from typing import Annotated

from fastapi import Depends, Header, Request, Response, status
from pydantic import AfterValidator, BaseModel

from servicekit.errors import AppError
from servicekit.input_rules import printable_ascii_header
from servicekit.signing import Caller

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        description="Makes a retry safe: a second request with the same key returns what the first created. "
        "Printable ASCII.",
    ),
    AfterValidator(printable_ascii_header),
]


def _scope(request: Request) -> str:
    caller: Caller | None = request.scope.get("internal_caller")  # verified by servicekit.signing
    return caller.idempotency_scope if caller else ""


IdempotencyScopeDep = Annotated[str, Depends(_scope)]
"""Whose Idempotency-Key values the request uses (servicekit.signing.Caller.idempotency_scope): stored next to
the key, which is unique within its scope."""


def fingerprint(body: BaseModel) -> str:
    """The request as it was understood (validated, defaults filled in), hashed."""
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


class IdempotencyKeyReused(AppError):
    status = 422
    title = "Unprocessable Content"
    type = "https://docs.retention.example/problems/idempotency-key-reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was used before for a different request; use a new key for a new request."
        )


def mark_replayed(response: Response, location: str) -> None:
    response.status_code = status.HTTP_200_OK
    response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = location
