"""Cursor pagination: `?limit=&cursor=` in, `{items, next_cursor}` out. Cursors are opaque to clients."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
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


_MAX_BIGINT = 2**63 - 1
_Row = TypeVar("_Row")


def decode_id_cursor(cursor: str | None) -> int | None:
    """The last id of the previous page, for keyset pagination by a bigint id."""
    position = decode_cursor(cursor, ("id",))
    if position is None:
        return None
    last_id = position["id"]
    if not isinstance(last_id, int) or isinstance(last_id, bool) or not 0 <= last_id <= _MAX_BIGINT:
        raise BadRequest("The cursor is malformed; use the next_cursor of a previous page.")
    return last_id


def id_page(rows: Sequence[_Row], limit: int, convert: Callable[[_Row], T]) -> Page[T]:
    """A page from up to limit + 1 rows in id order (the extra row only says that more follow)."""
    next_cursor = encode_cursor({"id": rows[limit - 1].id}) if len(rows) > limit else None  # type: ignore[attr-defined]
    return Page[T](items=[convert(row) for row in rows[:limit]], next_cursor=next_cursor)
