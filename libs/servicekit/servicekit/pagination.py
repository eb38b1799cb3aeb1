"""Cursor pagination: `?limit=&cursor=` in, `{items, next_cursor}` out. Cursors are opaque to clients."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from servicekit.errors import BadRequest

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )


LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Items per page (1-1000).")]
CursorQuery = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page.")]


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, required_keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The position a cursor names; a 400 problem for anything we did not issue."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("The cursor is malformed; use the next_cursor of a previous page.") from exc
    if not isinstance(position, dict) or any(key not in position for key in required_keys):
        raise BadRequest("The cursor is malformed; use the next_cursor of a previous page.")
    return position
