"""SQL text composed from pieces written in this code base and values rendered as literals, never spliced.

Set-based statements are built as text: the planner must see some values as constants (a date a partial
aggregate filters on, a threshold a parallel plan divides work by), and some pieces are chosen at run time (a
run's scratch table, a column of an import). `SQL` holds text we wrote, a literal string in the source;
`format` fills its `{placeholders}` with other `SQL` pieces as they are, and with anything else as a literal
(`literal`), quoted as Postgres reads it. `ident` quotes a name. Values that need not be constants are bound
parameters (`:name`), as everywhere else.

    SQL("SELECT count(*) FROM {table} WHERE day >= {since}").format(table=ident("segmentation", "orders"),
                                                                     since=date(2026, 1, 1))

Literal braces in the SQL text are doubled (`{{`), as in `str.format`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import string
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import LiteralString

from sqlalchemy import TextClause, text

_FORMATTER = string.Formatter()
# What SQLAlchemy's text() may take for a bound parameter (`:name`), or for an escaped colon it unescapes (`\:`).
_BIND = re.compile(r":\w|\\:")


class SQL:
    """A piece of SQL text that came from this code base (or was composed from such pieces and literals)."""

    __slots__ = ("_text",)

    def __init__(self, text: LiteralString) -> None:
        if not isinstance(text, str):
            raise TypeError(f"SQL text must be a str, not {type(text).__name__}")
        self._text: str = text

    @classmethod
    def _composed(cls, text: str) -> SQL:
        piece = cls.__new__(cls)
        piece._text = text
        return piece

    def format(self, *args: object, **kwargs: object) -> SQL:
        """The text with each `{}` / `{name}` filled: an `SQL` piece as it is, any other value as a literal."""
        parts: list[str] = []
        automatic = 0
        for prefix, field, spec, conversion in _FORMATTER.parse(self._text):
            parts.append(prefix)
            if field is None:
                continue
            if spec or conversion:
                raise ValueError(f"no format spec or conversion in SQL placeholders: {{{field}}}")
            if field == "":
                value = args[automatic]
                automatic += 1
            elif field.isdigit():
                value = args[int(field)]
            else:
                value = kwargs[field]
            parts.append(_piece(value))
        return SQL._composed("".join(parts))

    def join(self, pieces: Iterable[object]) -> SQL:
        """The pieces (SQL or literals) with this text between them, e.g. `SQL(", ").join(columns)`."""
        return SQL._composed(self._text.join(_piece(p) for p in pieces))

    def __add__(self, other: SQL) -> SQL:
        if not isinstance(other, SQL):
            return NotImplemented
        return SQL._composed(self._text + other._text)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"SQL({self._text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SQL) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)

    @property
    def clause(self) -> TextClause:
        """For SQLAlchemy: `session.execute(statement.clause, params)`; `:name` are its bound parameters."""
        return text(self._text)


def _piece(value: object) -> str:
    return value._text if isinstance(value, SQL) else literal(value)._text


def literal(value: object) -> SQL:
    """`value` as a Postgres constant of its type: NULL, a boolean, an integer, a numeric, a date, a timestamptz
    (aware datetimes only), a uuid or a text. Refused: NaN and infinities, naive datetimes, NUL in a text, and
    a ':' before a word character or after a backslash (SQLAlchemy would read the one as a bound parameter and
    unescape the other: bind such text instead)."""
    if value is None:
        return SQL("NULL")
    if isinstance(value, bool):
        return SQL("true") if value else SQL("false")
    if isinstance(value, int):  # a negative one in parentheses: `x -{v}` must not become a comment, `x --1`
        return SQL._composed(str(value) if value >= 0 else f"({value})")
    if isinstance(value, Decimal | float):
        if not (math.isfinite(value) if isinstance(value, float) else value.is_finite()):
            raise ValueError(f"not a finite number: {value!r}")
        if isinstance(value, float):
            return SQL._composed(f"CAST({value!r} AS float8)")
        return SQL._composed(f"{value:f}::numeric" if value >= 0 else f"({value:f}::numeric)")
    if isinstance(value, dt.datetime):
        if value.utcoffset() is None:
            raise ValueError(f"a time without a time zone is ambiguous: {value!r}")
        return SQL._composed(f"TIMESTAMPTZ '{value.isoformat()}'")
    if isinstance(value, dt.date):
        return SQL._composed(f"DATE '{value.isoformat()}'")
    if isinstance(value, uuid.UUID):
        return SQL._composed(f"CAST('{value}' AS uuid)")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a text with NUL cannot be a Postgres constant")
        if _BIND.search(value):
            raise ValueError(f"bind {value!r} as a parameter: SQLAlchemy would read ':' before a name as one")
        # standard_conforming_strings is on (Postgres's default since 9.1): a backslash is an ordinary character.
        return SQL._composed("'" + value.replace("'", "''") + "'")
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def ident(*names: str) -> SQL:
    """A name (a schema-qualified one from several parts), quoted: `ident("segmentation", "orders")`."""
    if not names:
        raise ValueError("ident needs at least one name")
    for name in names:
        if not name or "\x00" in name or _BIND.search(name):
            raise ValueError(f"not a name for SQL: {name!r}")
    return SQL._composed(".".join('"' + name.replace('"', '""') + '"' for name in names))
