"""Input every service refuses before any route sees it, so that no text a database or a client cannot hold
gets in and no typo in a query passes silently (docs/api.md, "Input rules").

- `InputRulesMiddleware` (pure ASGI, before FastAPI parses anything) finds percent-encoded bytes that are not
  UTF-8 and control characters in the path or a query parameter, and JSON bodies that are not UTF-8, nest
  deeper than `MAX_JSON_DEPTH`, or hold a NUL character, a lone surrogate, `NaN` or `Infinity`. Bulk imports
  (paths with the upload segment) are streamed and checked line by line by their own parsers, not here.
- `check_request_input`: a dependency of every FastAPI route (the app's) that refuses what the middleware
  found, and every query parameter the route does not declare, naming it and the ones the route takes.
- `printable_ascii_header`: the rule for the `Idempotency-Key` header (servicekit.idempotency).

Each refusal is a 422 problem with `errors[]` whose location names the field, like FastAPI's own.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from itertools import accumulate
from types import UnionType
from typing import Any, Union, get_args, get_origin
from urllib.parse import unquote_to_bytes

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.errors import problem_response

MAX_JSON_DEPTH = 32
"""The deepest JSON body taken (the top-level object or array is 1); the deepest body a route takes is ~5."""
MAX_INTEGER_DIGITS = 308
"""The longest integer taken in a JSON body: as large as a double holds, far beyond any field's bounds."""
MAX_REPORTED = 20
"""Field errors listed at most in one refusal (a body of 10,000 bad strings gets the first ones)."""

# Bytes that make a path or query string worth decoding: a percent escape, or a raw control or non-ASCII
# byte (an HTTP server passes none of these, an ASGI caller might).
_NEEDS_DECODING = re.compile(rb"[%\x00-\x1f\x7f-\xff]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# In UTF-8 JSON a NUL or a surrogate can only come as an escape (\u0000, \ud800 to \udfff); "M\u00fcller",
# as clients that write ASCII only send it, is not worth a second parse.
_NUL_OR_SURROGATE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
# A number a double cannot hold: a three-digit positive exponent (1e400) or a run of more than 308 digits.
_HUGE_NUMBER = re.compile(rb"\d[eE]\+?\d{3}|\d{309}")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET_DEPTH = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_PATH_PARAMETER = re.compile(r"{(\w+)(:path)?}")


class _NotFinite:
    """Stands in for a NaN or Infinity literal, or a number too large for a double (`1e400`, which Python reads
    as infinity and Postgres's JSON refuses), while a suspect body is parsed, so the walk can say where."""

    def __init__(self, literal: str, message: str = "is not a JSON number; send a finite number") -> None:
        self.literal = literal
        self.message = message


def _float_or_not_finite(literal: str) -> float | _NotFinite:
    number = float(literal)
    return number if math.isfinite(number) else _NotFinite(literal, "is too large for a number; send a finite one")


def _int_or_too_long(literal: str) -> int | _NotFinite:
    # Python refuses to read integers of over 4300 digits (a ValueError FastAPI would answer with a plain 400).
    if len(literal) <= MAX_INTEGER_DIGITS:
        return int(literal)
    return _NotFinite(literal[:20] + "...", f"has more than {MAX_INTEGER_DIGITS} digits")


Location = list[str | int]


def _error(location: Location, message: str, error_type: str) -> dict[str, Any]:
    return {"location": location, "field": ".".join(map(str, location)), "message": message, "type": error_type}


def shown(text: str) -> str:
    """Text safe to put into a JSON response and readable: NUL, other controls and lone surrogates escaped."""
    escaped = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", escaped)


def _character_problem(text: str) -> tuple[str, str] | None:
    """(message, type) for a character no text field takes, or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which text cannot hold", "nul_character"
    surrogate = _SURROGATE.search(text)
    if surrogate:
        return (
            f"contains a lone surrogate (\\u{ord(surrogate.group()):04x}), which is not a character; "
            "send characters beyond U+FFFF as a surrogate pair or as UTF-8",
            "lone_surrogate",
        )
    return None


# --- JSON bodies ---


def json_body_errors(body: bytes) -> list[dict[str, Any]]:
    """What is wrong with a JSON body beyond its syntax (FastAPI reports broken syntax itself), as field errors.

    Cheap for the usual body: ASCII or valid UTF-8, few brackets, no \\u escape, no NaN or Infinity: a few
    scans in C. Anything else is parsed once more here and walked.
    """
    if body.isascii():
        if b"\x00" in body:
            return [_error(["body"], "The body holds a NUL byte: JSON is sent as UTF-8 text.", "json_invalid")]
    else:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [
                _error(
                    ["body"],
                    f"The body is not UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start}); "
                    "JSON is sent as UTF-8.",
                    "json_invalid",
                )
            ]
        if b"\x00" in body:
            return [_error(["body"], "The body holds a NUL byte: JSON is sent as UTF-8 text.", "json_invalid")]
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _deeper_than(body, MAX_JSON_DEPTH):
        return [_error(["body"], f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels.", "json_invalid")]
    suspect_escape = b"\\" in body and _NUL_OR_SURROGATE_ESCAPE.search(body)
    if not suspect_escape and b"NaN" not in body and b"Infinity" not in body and not _HUGE_NUMBER.search(body):
        return []
    try:
        document = json.loads(
            body, parse_constant=_NotFinite, parse_float=_float_or_not_finite, parse_int=_int_or_too_long
        )
    except ValueError:
        return []  # not JSON: FastAPI answers json_invalid with the position
    return list(_walk(document))[:MAX_REPORTED]


def _deeper_than(body: bytes, limit: int) -> bool:
    """Whether the brackets outside strings nest deeper than `limit` (asked of bodies with many brackets)."""
    if b"\\" in body:  # escapes (an escaped quote) need the whole string syntax
        brackets = _JSON_STRING.sub(b"", body).translate(None, delete=_NOT_BRACKETS)
    else:  # cheaper: all but brackets and quotes go, then the strings, now quote pairs unless they hold brackets
        structure = body.translate(None, delete=_NOT_BRACKETS_OR_QUOTES)
        brackets = structure.replace(b'""', b"")
        if b'"' in brackets:  # a string held a bracket: the pairs above may be wrong, strip strings properly
            brackets = _QUOTED.sub(b"", structure)
    for _ in range(limit):  # each pass takes away the innermost level
        if not brackets:
            return False
        inner = _EMPTY_PAIR.sub(b"", brackets)
        if inner == brackets:  # unbalanced: counted instead, whatever the parser then says of it
            return max(accumulate(map(_BRACKET_DEPTH.__getitem__, brackets)), default=0) > limit
        brackets = inner
    return bool(brackets)


_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKET_DEPTH)
_NOT_BRACKETS_OR_QUOTES = _NOT_BRACKETS.replace(b'"', b"")
_QUOTED = re.compile(rb'"[^"]*"')
_EMPTY_PAIR = re.compile(rb"\[\]|\{\}")


def _walk(document: Any) -> Iterator[dict[str, Any]]:
    """Every NUL, lone surrogate and non-finite number in a parsed body, with its location."""
    stack: list[tuple[Location, Any]] = [(["body"], document)]
    while stack:
        location, value = stack.pop()
        if isinstance(value, str):
            problem = _character_problem(value)
            if problem:
                yield _error(location, problem[0][0].upper() + problem[0][1:] + ".", problem[1])
        elif isinstance(value, _NotFinite):
            yield _error(location, f"{value.literal} {value.message}.", "json_invalid")
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                problem = _character_problem(key)
                if problem:
                    yield _error([*location, shown(key)], f"The key {problem[0]}.", problem[1])
                else:
                    stack.append(([*location, key], item))
        elif isinstance(value, list):
            stack.extend(([*location, index], item) for index, item in reversed(list(enumerate(value))))


def _is_json(content_type: bytes | None) -> bool:
    """As FastAPI decides whether to parse a body as JSON: no content type, application/json or */*+json."""
    if content_type is None:
        return True
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


# --- paths and query strings ---


def _decoded(raw: bytes, what: str) -> tuple[str | None, tuple[str, str] | None]:
    """(the text, None) or (None, (message, type)) for one percent-encoded path segment or query part."""
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        shown_raw = raw.decode("latin-1")
        return None, (f"{what} '{shown(shown_raw)}' has percent-encoded bytes that are not UTF-8", "invalid_utf8")
    control = _CONTROL.search(text)
    if control:
        return None, (
            f"{what} '{shown(text)}' contains a control character (U+{ord(control.group()):04X})",
            "control_character",
        )
    return text, None


def query_errors(query_string: bytes) -> list[dict[str, Any]]:
    """Query parameters whose name or value is not UTF-8 or holds a control character."""
    if not _NEEDS_DECODING.search(query_string):
        return []
    errors = []
    for pair in query_string.split(b"&"):
        raw_name, _, raw_value = pair.partition(b"=")
        name, problem = _decoded(raw_name.replace(b"+", b" "), "The parameter name")
        if problem is None:
            _, problem = _decoded(raw_value.replace(b"+", b" "), "The value")
        if problem:
            errors.append(_error(["query", name or shown(raw_name.decode("latin-1"))], problem[0] + ".", problem[1]))
    return errors[:MAX_REPORTED]


def path_errors(scope: Scope) -> list[dict[str, Any]]:
    """Path segments that are not UTF-8 or hold a control character. Their location is ["path"] and the
    segment's index (`_SEGMENT`) until the route is known and names its parameter (`_name_path_parameters`)."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    if not _NEEDS_DECODING.search(raw_path):
        return []
    errors = []
    for index, segment in enumerate(raw_path.split(b"/")):
        _, problem = _decoded(segment, "The path segment")
        if problem:
            errors.append({**_error(["path"], problem[0] + ".", problem[1]), _SEGMENT: index})
    return errors[:MAX_REPORTED]


_SEGMENT = "segment"


def _name_path_parameters(errors: list[dict[str, Any]], route: APIRoute) -> list[dict[str, Any]]:
    """The errors with each path segment's location named by the route's parameter there, if it has one."""
    parameters = [_PATH_PARAMETER.search(part) for part in route.path.split("/")]
    named = []
    for error in errors:
        if _SEGMENT in error:
            segment = error.pop(_SEGMENT)
            for index, parameter in enumerate(parameters):
                if parameter and (index == segment or (parameter.group(2) and index < segment)):
                    error = _error(["path", parameter.group(1)], error["message"], error["type"])
                    break
        named.append(error)
    return named


# --- the middleware and its exception ---

INPUT_ERRORS = "servicekit.input_errors"
"""Where the middleware leaves what it found in the scope, for the route to refuse."""


class InvalidInput(StarletteHTTPException):
    """The 422 for input that breaks the rules. An HTTPException, because FastAPI re-raises those while it reads
    a body (and turns anything else into a 400)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(422, f"The request has {len(errors)} invalid field(s).")
        self.errors = errors


async def invalid_input_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidInput)
    return problem_response(422, "Unprocessable Content", str(exc.detail), instance=request.url.path, errors=exc.errors)


class InputRulesMiddleware:
    """Finds what breaks the input rules in a request's path, query string and JSON body, before FastAPI
    parses any of it; the FastAPI route the request reaches refuses it (`InvalidInput`, raised as it reads the
    body or by `check_request_input`), so that the problem names the route's parameter. A plain route
    passes the request on as it came (the gateway's proxy: the service behind it checks and refuses it).

    Cheap when nothing is wrong: a few scans in C; a JSON body is read whole (FastAPI reads it whole anyway).
    `upload_segment`: paths with it carry bulk imports, streamed to their own parsers; their bodies pass.
    """

    def __init__(self, app: ASGIApp, upload_segment: str) -> None:
        self.app = app
        self.upload_segment = upload_segment

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        errors = path_errors(scope) + query_errors(scope["query_string"])
        content_type = None
        has_body = False
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif (name == b"content-length" and value != b"0") or name == b"transfer-encoding":
                has_body = True
        if has_body and _is_json(content_type) and self.upload_segment not in scope["path"]:
            read: list[Message] = []
            while True:
                message = await receive()
                read.append(message)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break  # the whole body, or the client went away (the app sees that as it reads)
            if message["type"] == "http.request":
                body = b"".join(m.get("body", b"") for m in read)
                read = [{"type": "http.request", "body": body, "more_body": False}]
                errors += json_body_errors(body)
            receive = _replaying(read, receive)
        if errors:
            scope[INPUT_ERRORS] = errors
            receive = _refusing(scope, receive)
        await self.app(scope, receive, send)


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """A receive that hands out the messages already read first, then reads on (a disconnect, later)."""

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay


def _refusing(scope: Scope, receive: Receive) -> Receive:
    """A receive that refuses the request once a FastAPI route reads its body: before FastAPI parses it (a body
    nested too deep or not UTF-8 would be a 400 there). Other routes get the body as it came."""

    async def refuse() -> Message:
        route = scope.get("route")
        errors = scope.pop(INPUT_ERRORS, None) if isinstance(route, APIRoute) else None
        if errors:
            raise InvalidInput(_name_path_parameters(errors, route))
        return await receive()

    return refuse


# --- strict query parameters ---

_DECLARED = "_servicekit_query_parameters"


def declared_query_parameters(route: APIRoute) -> frozenset[str]:
    """The query parameters a route takes: its own and its dependencies', by the names clients send."""
    names: frozenset[str] | None = getattr(route, _DECLARED, None)
    if names is None:
        names = frozenset(_query_names(route.dependant))
        setattr(route, _DECLARED, names)  # found once per route (routes are unhashable, so kept on it)
    return names


def _query_names(dependant: Dependant) -> Iterator[str]:
    for field in dependant.query_params:
        model = _model_of(field.field_info.annotation)
        if model is None:
            yield from _names(field.alias, field.field_info)
        else:  # a query parameter model: its fields are the parameters
            for name, info in model.model_fields.items():
                yield from _names(name, info)
    for sub_dependant in dependant.dependencies:
        yield from _query_names(sub_dependant)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model of a query parameter declared as one (or as an optional one)."""
    candidates = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _names(name: str, info: FieldInfo) -> Iterator[str]:
    """The names a client may send a field by: its validation alias (or each of its choices), else alias, else
    its own name."""
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        yield from (choice for choice in alias.choices if isinstance(choice, str))
    elif isinstance(alias, str):
        yield alias
    else:
        yield info.alias or name


async def check_request_input(request: Request) -> None:
    """A dependency of every FastAPI route, run before its parameters are validated: refuses what the middleware
    found (for a route that reads no body), and every query parameter the route does not take (a typo would
    otherwise widen a filter to everyone)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    errors = request.scope.pop(INPUT_ERRORS, None)
    if errors:
        raise InvalidInput(_name_path_parameters(errors, route))
    if not request.scope["query_string"]:
        return
    allowed = declared_query_parameters(route)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in allowed]
    if unknown:
        takes = f"this route takes {', '.join(sorted(allowed))}" if allowed else "this route takes none"
        raise InvalidInput(
            [_error(["query", name], f"Unknown query parameter; {takes}.", "extra_forbidden") for name in unknown]
        )


# --- headers ---


def printable_ascii_header(value: str | None) -> str | None:
    """A pydantic validator for a header that carries a token (Idempotency-Key): printable ASCII only."""
    if value is not None and not (value.isascii() and value.isprintable()):
        raise PydanticCustomError(
            "control_character" if _CONTROL.search(value) else "non_ascii",
            "Must be printable ASCII: no control characters and nothing outside ASCII.",
        )
    return value
