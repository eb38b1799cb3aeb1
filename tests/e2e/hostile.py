"""Hostile inputs for every operation of the gateway's OpenAPI document: what an attacker or a broken ERP sends.

Schemathesis draws a valid request for each operation (its positive generation mode, seeded); then every
slot of that request (each path and query parameter, header, body field and JSON object's keys) is given each
hostile value of its kind in turn, one slot at a time so that one refusal never hides another slot's fault:
NUL bytes and lone surrogates in text, bytes that are not UTF-8 and control characters in paths and queries,
2^63, -1, 1e400, NaN and Infinity in numbers, dates at the ends of the calendar with the furthest UTC offsets,
and an unknown query parameter, a body that is not UTF-8 and one nested 50,000 deep for every operation.
Enumerating rather than sampling makes "every slot met every value" a fact of each run, with no luck involved.

Schemathesis's own checks judge every answer (`not_a_server_error`, `response_schema_conformance`); a value
no domain can hold (`must_refuse`) must also be refused with a problem+json 4xx that names the slot.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

CHECKS = [not_a_server_error, response_schema_conformance]
UNKNOWN_QUERY_PARAMETER = "fuzz_unknown"


class Raw(str):
    """JSON text spliced into a body as it is (NaN, Infinity, 1e400: no Python value serialises to them)."""


@dataclass(frozen=True)
class Hostile:
    label: str
    value: Any
    # Nothing the domain holds is such a value: it must be refused (a 4xx), not only survived.
    must_refuse: bool = True


TEXT = (Hostile("NUL", "a\x00b"), Hostile("lone surrogate", "\ud800"))
DATES = (Hostile("year 1", "0001-01-01", must_refuse=False), Hostile("year 9999", "9999-12-31", must_refuse=False))
DATETIMES = (
    Hostile("year 1 at +14:00", "0001-01-01T00:00:00+14:00", must_refuse=False),
    Hostile("year 9999 at -14:00", "9999-12-31T23:59:59-14:00", must_refuse=False),
)
HUGE = Hostile("2^63", 2**63)
NEGATIVE = Hostile("-1", -1, must_refuse=False)
OVERFLOW = Hostile("1e400", Raw("1e400"))
NAN = Hostile("NaN", Raw("NaN"))
INFINITY = Hostile("Infinity", Raw("Infinity"))
INTEGERS = (HUGE, NEGATIVE, OVERFLOW, NAN)
NUMBERS = (HUGE, NEGATIVE, OVERFLOW, NAN, INFINITY)
# Decimals are read from a number or a string ("12.50"): both spellings of what no decimal column holds.
DECIMALS = (
    *NUMBERS,
    Hostile('"1e400"', "1e400"),
    Hostile('"NaN"', "NaN"),
    Hostile('"Infinity"', "Infinity"),
)
# A free value (an attribute) may be any text or number JSON holds: only what JSON cannot hold must be refused.
SCALARS = (*TEXT, Hostile("2^63", 2**63, must_refuse=False), OVERFLOW, NAN, INFINITY)
# In a URL a value is bytes: NUL, a line feed, a byte that is not UTF-8, a surrogate encoded as UTF-8 would.
URL_TEXT = (Hostile("%00", "a%00b"), Hostile("%ff", "a%ffb"), Hostile("%ed%a0%80 (surrogate)", "a%ed%a0%80b"))
PATH_TEXT = (*URL_TEXT, Hostile("%0a", "a%0ab"))
URL_INTEGERS = (Hostile("2^63", "9223372036854775808"), Hostile("-1", "-1", must_refuse=False))
URL_NUMBERS = (
    Hostile("1e400", "1e400"),
    Hostile("NaN", "NaN"),
    Hostile("Infinity", "Infinity"),
    Hostile("-1", "-1", must_refuse=False),
)
URL_DATES = tuple(Hostile(h.label, h.value, must_refuse=False) for h in DATES)
URL_DATETIMES = tuple(Hostile(h.label, quote(h.value, safe=""), must_refuse=False) for h in DATETIMES)
HEADER_TEXT = (Hostile("control character", b"a\x01b"), Hostile("byte 0xff", b"a\xffb", must_refuse=False))
KEYS = (Hostile("NUL in a key", "a\x00b"), Hostile("lone surrogate in a key", "\ud800"))
BODIES = (
    Hostile("body not UTF-8", b'{"name": "\xff\xfe"}'),
    Hostile("body nested 50,000 deep", b"[" * 50_000 + b"]" * 50_000),
)


@dataclass(frozen=True)
class Slot:
    """One place in a request a value goes: `location` is path, query, header, body, key or request."""

    location: str
    name: str
    kind: str
    pointer: tuple[str | int, ...] = ()

    def __str__(self) -> str:
        if self.location in ("body", "key"):
            return f"{self.location} {'/'.join(map(str, self.pointer)) or '(top)'}"
        return f"{self.location} {self.name}"


@dataclass
class Request:
    """A request as bytes go on the wire: path and query values are already percent-encoded."""

    method: str
    template: str
    path: dict[str, str]
    query: list[tuple[str, str]]
    headers: dict[str, str | bytes]
    body: Any = None
    has_body: bool = False
    raw_body: bytes | None = None

    def url(self) -> str:
        path = self.template
        for name, value in self.path.items():
            path = path.replace("{" + name + "}", value)
        query = "&".join(f"{quote(name, safe='')}={value}" for name, value in self.query)
        return f"{path}?{query}" if query else path

    def content(self) -> bytes | None:
        if self.raw_body is not None:
            return self.raw_body
        if not self.has_body:
            return None
        raws: dict[str, str] = {}

        def swap(value: Any) -> Any:
            if isinstance(value, Raw):
                marker = f"@@raw{len(raws)}@@"
                raws[f'"{marker}"'] = str(value)
                return marker
            if isinstance(value, dict):
                return {key: swap(item) for key, item in value.items()}
            if isinstance(value, list):
                return [swap(item) for item in value]
            return value

        text = json.dumps(swap(self.body))
        for marker, raw in raws.items():
            text = text.replace(marker, raw)
        return text.encode()

    def send(self, client: httpx.Client) -> httpx.Response:
        headers = dict(self.headers)
        if self.has_body or self.raw_body is not None:
            headers["content-type"] = "application/json"
        return client.request(self.method, self.url(), headers=headers, content=self.content())

    def describe(self) -> str:
        body = self.content()
        if body is None:
            return f"{self.method} {self.url()}"
        shown = body[:300].decode(errors="backslashreplace") + ("..." if len(body) > 300 else "")
        return f"{self.method} {self.url()} {shown}"


@dataclass(frozen=True)
class Mutation:
    slot: Slot
    hostile: Hostile


@dataclass
class Finding:
    operation: str
    what: str
    request: str
    status: int
    response: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.what}\n    {self.request}\n    -> {self.status} {self.response[:300]}"


# --- the schema's slots -------------------------------------------------------------------------------------


class Resolver:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def __call__(self, schema: Any) -> dict[str, Any]:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 50:
            node: Any = self.document
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema, seen = node, seen + 1
        return schema if isinstance(schema, dict) else {}

    def kind(self, schema: Any) -> str | None:
        """text, date, datetime, day_or_time, uuid, integer, number, decimal, object, array; None for what a
        validator alone judges (enums, booleans, constants)."""
        schema = self(schema)
        branches = [self(b) for b in schema.get("anyOf", schema.get("oneOf", [])) if self(b).get("type") != "null"]
        if branches:
            kinds = {self.kind(b) for b in branches} - {None}
            if kinds == {"date", "datetime"}:  # a time or a day alone (a fact's ordered_at): both kinds' values
                return "day_or_time"
            if {"number", "text"} <= kinds or {"integer", "text"} <= kinds:
                # A number or its string spelling is a decimal; with booleans too, a free value (attributes).
                return "scalar" if any(b.get("type") == "boolean" for b in branches) else "decimal"
            return sorted(kinds)[0] if kinds else None
        if len(schema.get("allOf", [])) == 1:
            return self.kind(schema["allOf"][0])
        if "enum" in schema or "const" in schema:
            return None
        kind = schema.get("type")
        if kind == "string":
            return {"date": "date", "date-time": "datetime", "uuid": "uuid"}.get(schema.get("format", ""), "text")
        if kind in ("integer", "number", "object", "array"):
            return kind
        if kind is None and ("properties" in schema or "additionalProperties" in schema):
            return "object"
        return None

    def branch(self, schema: Any, kind: str) -> dict[str, Any]:
        """The branch of an anyOf that is of `kind` (for objects and arrays)."""
        schema = self(schema)
        for candidate in [schema, *schema.get("anyOf", []), *schema.get("oneOf", []), *schema.get("allOf", [])]:
            candidate = self(candidate)
            if candidate is not schema and self.kind(candidate) == kind:
                return self.branch(candidate, kind)
            if candidate.get("type") == kind or (kind == "object" and "properties" in candidate):
                return candidate
        return schema


def body_slots(resolve: Resolver, schema: Any, pointer: tuple[str | int, ...] = (), depth: int = 0) -> Iterator[Slot]:
    kind = resolve.kind(schema)
    if kind is None or depth > 6:
        return
    name = next((str(p) for p in reversed(pointer) if isinstance(p, str)), "body")
    if kind == "object":
        node = resolve.branch(schema, "object")
        yield Slot("key", name, "key", pointer)
        for prop, sub in node.get("properties", {}).items():
            yield from body_slots(resolve, sub, (*pointer, prop), depth + 1)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and not node.get("properties"):
            # A free mapping (attributes): its values are text someone else reads back.
            yield from body_slots(resolve, extra or {"type": "string"}, (*pointer, "fuzz"), depth + 1)
    elif kind == "array":
        yield from body_slots(resolve, resolve.branch(schema, "array").get("items", {}), (*pointer, 0), depth + 1)
    else:
        yield Slot("body", name, kind, pointer)


def operation_slots(resolve: Resolver, operation: dict[str, Any]) -> list[Slot]:
    slots = []
    for parameter in operation.get("parameters", []):
        parameter = resolve(parameter)
        kind = resolve.kind(parameter.get("schema", {}))
        if kind is not None and parameter["in"] in ("path", "query", "header"):
            slots.append(Slot(parameter["in"], parameter["name"], kind))
    slots.append(Slot("query", UNKNOWN_QUERY_PARAMETER, "unknown"))
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        slots.append(Slot("request", "body", "body"))
        slots.extend(body_slots(resolve, content["application/json"].get("schema", {})))
    return slots


def hostile_values(slot: Slot) -> tuple[Hostile, ...]:
    if slot.location == "request":
        return BODIES
    if slot.location == "key":
        return KEYS
    if slot.kind == "unknown":
        return (Hostile("unknown query parameter", "1"),)
    if slot.location == "header":
        return HEADER_TEXT if slot.kind == "text" else ()
    if slot.location in ("path", "query"):
        table = {
            "text": PATH_TEXT if slot.location == "path" else URL_TEXT,
            "uuid": URL_TEXT[1:2],
            "integer": URL_INTEGERS,
            "number": URL_NUMBERS,
            "decimal": URL_NUMBERS,
            "date": URL_DATES,
            "datetime": URL_DATETIMES,
            "day_or_time": (*URL_DATES, *URL_DATETIMES),
        }
        return table.get(slot.kind, ())
    table = {
        "text": TEXT,
        "uuid": TEXT,
        "date": DATES,
        "datetime": DATETIMES,
        "day_or_time": (*DATES, *DATETIMES),
        "integer": INTEGERS,
        "number": NUMBERS,
        "decimal": DECIMALS,
        "scalar": SCALARS,
    }
    return table.get(slot.kind, ())


def mutations(slots: list[Slot]) -> list[Mutation]:
    return [Mutation(slot, hostile) for slot in slots for hostile in hostile_values(slot)]


# --- applying a mutation ------------------------------------------------------------------------------------


def _place(body: Any, pointer: tuple[str | int, ...], value: Any, as_key: bool) -> Any:
    """The body with `value` at `pointer` (parents made as needed); with `as_key`, a key added to the object
    there."""
    root: Any = {} if body is None else body
    if not pointer and as_key:
        if isinstance(root, dict):
            root[value] = "x"
        return root
    node = root
    for index, part in enumerate(pointer):
        last = index == len(pointer) - 1
        child_default: Any = {} if (last and as_key) or (not last and isinstance(pointer[index + 1], str)) else []
        if isinstance(part, int):
            if not isinstance(node, list):
                return root
            if not node:
                node.append(child_default)
            if last and not as_key:
                node[0] = value
            node = node[0]
        else:
            if not isinstance(node, dict):
                return root
            if last and not as_key:
                node[part] = value
            elif not isinstance(node.get(part), (dict, list)):
                node[part] = child_default
            node = node[part]
    if as_key and isinstance(node, dict):
        node[value] = "x"
    return root


def mutate(base: Request, mutation: Mutation) -> Request:
    slot, value = mutation.slot, mutation.hostile.value
    request = replace(base, path=dict(base.path), query=list(base.query), headers=dict(base.headers))
    if slot.location == "path":
        request.path[slot.name] = value
    elif slot.location == "query":
        request.query = [(n, v) for n, v in request.query if n != slot.name] + [(slot.name, value)]
    elif slot.location == "header":
        request.headers = {n: v for n, v in request.headers.items() if n.lower() != slot.name.lower()}
        request.headers[slot.name] = value
    elif slot.location == "request":
        request.raw_body = value
    else:
        request.body = _place(copy.deepcopy(base.body), slot.pointer, value, as_key=slot.location == "key")
        request.has_body = True
    return request


# --- judging an answer --------------------------------------------------------------------------------------


def judge(
    operation: APIOperation,
    request: Request,
    response: httpx.Response,
    mutation: Mutation | None,
    base_accepted: bool = True,
) -> list[str]:
    """What is wrong with the answer: schemathesis's checks, and for a value no domain holds, its refusal (naming
    the slot, unless the valid request was refused too: then the refusal may be for that other reason)."""
    problems = []
    try:
        operation.Case(path_parameters=request.path).validate_response(response, checks=CHECKS)
    except FailureGroup as group:
        problems.extend(f"{failure.title}" for failure in group.exceptions)
    if mutation is None or not mutation.hostile.must_refuse or response.status_code >= 500:
        return problems
    slot = mutation.slot
    if not 400 <= response.status_code < 500:
        problems.append(f"accepted {mutation.hostile.label} in {slot} ({response.status_code} instead of a 4xx)")
    elif not response.headers.get("content-type", "").startswith("application/problem+json"):
        problems.append(f"refused {mutation.hostile.label} in {slot} without a problem+json")
    elif slot.location == "request" and base_accepted:
        if response.status_code != 422 or "json_invalid" not in response.text:
            problems.append(f"refused {mutation.hostile.label} without the 422 json_invalid the docs promise")
    elif base_accepted and slot.location != "key" and slot.name not in response.text:
        problems.append(f"refused {mutation.hostile.label} in {slot} without naming {slot.name!r}")
    return problems


# --- the base requests --------------------------------------------------------------------------------------


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return quote(str(value), safe="")


def request_from_case(case: Case) -> Request:
    query: list[tuple[str, str]] = []
    for name, value in (case.query or {}).items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                query.append((name, _encode(item)))
    headers = {n: str(v) for n, v in (case.headers or {}).items() if n.lower() == "idempotency-key" and v is not None}
    has_body = case.body is not None and type(case.body).__name__ != "NotSet"
    return Request(
        method=case.method.upper(),
        template=case.operation.path,
        path={n: _encode(v) for n, v in (case.path_parameters or {}).items()},
        query=query,
        headers=headers,
        body=case.body if has_body else None,
        has_body=has_body,
    )


@dataclass
class Pool:
    """Ids the run has seen accepted, by the collection they belong to, so requests reach existing things."""

    ids: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    # Body fields that name a thing of another collection: without them a base request stops at a 404.
    references: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Values for fields wherever a drawn request has them, for rules the schema cannot say (a week starts on a
    # Monday; a campaign is planned between two dates).
    defaults: dict[str, Any] = field(default_factory=dict)

    def add(self, collection: str, parameter: str, value: Any) -> None:
        values = self.ids.setdefault((collection, parameter), [])
        if value not in values:
            values.append(value)

    def first(self, collection: str, parameter: str) -> Any:
        values = self.ids.get((collection, parameter))
        return values[0] if values else None


def for_generation(document: dict[str, Any]) -> dict[str, Any]:
    """The document as requests are drawn from it: a decimal (a number or a string, "12.50") is its example or
    default, since the generator would write any string or float there and almost no request would be valid."""

    def prune(node: Any) -> Any:
        if isinstance(node, list):
            return [prune(item) for item in node]
        if not isinstance(node, dict):
            return node
        branches = node.get("anyOf")
        if isinstance(branches, list):
            types = [b.get("type") for b in branches if isinstance(b, dict)]
            if "string" in types and ("number" in types or "integer" in types):
                samples = [node.get("default"), *node.get("examples", [])]
                samples += [e for b in branches if isinstance(b, dict) for e in b.get("examples", [])]
                sample = next((v for v in samples if isinstance(v, str)), "1.50")
                return {"type": "string", "enum": [sample]}
        return {key: prune(value) for key, value in node.items()}

    pruned = copy.deepcopy(document)
    for methods in pruned.get("paths", {}).values():
        for operation in methods.values():
            if isinstance(operation, dict):
                for key in ("parameters", "requestBody"):
                    if key in operation:
                        operation[key] = prune(operation[key])
    if "components" in pruned:
        pruned["components"] = prune(pruned["components"])
    return pruned


def collection_of(template: str, parameter: str) -> str:
    return template.split("/{" + parameter + "}")[0]


def harvest(pool: Pool, template: str, request: Request, response: httpx.Response, parameters: dict[str, set[str]]):
    """Remember what an accepted request made: the ids in its path, and the id its answer names."""
    if not 200 <= response.status_code < 300:
        return
    for name, value in request.path.items():
        if "%" not in value:
            pool.add(collection_of(template, name), name, value)
    try:
        answer = response.json()
    except ValueError:
        return
    items = answer.get("items") if isinstance(answer, dict) and isinstance(answer.get("items"), list) else [answer]
    for parameter in parameters.get(template, set()):
        for item in items[:1]:
            if isinstance(item, dict):
                value = next((item[k] for k in (parameter, "id", "key", "external_id") if k in item), None)
                if isinstance(value, (str, int)) and not isinstance(value, bool):
                    pool.add(template, parameter, _encode(value))


def with_references(body: Any, pool: Pool) -> Any:
    if isinstance(body, dict):
        out = {}
        for key, value in body.items():
            target = pool.references.get(key)
            known = pool.first(*target) if target else None
            if known is not None and isinstance(value, str):
                out[key] = known
            elif known is not None and isinstance(value, list) and all(isinstance(item, str) for item in value):
                out[key] = [known] if value else value
            else:
                out[key] = with_references(value, pool)
        return out
    if isinstance(body, list):
        return [with_references(item, pool) for item in body]
    return body


def with_defaults(body: Any, defaults: dict[str, Any]) -> Any:
    if isinstance(body, dict):
        return {k: defaults[k] if k in defaults else with_defaults(v, defaults) for k, v in body.items()}
    if isinstance(body, list):
        return [with_defaults(item, defaults) for item in body]
    return body


def base_request(
    operation: APIOperation,
    pool: Pool,
    send: Callable[[Request], httpx.Response],
    seed_value: int,
    tries: int,
) -> tuple[Case, Request, httpx.Response, bool]:
    """The first valid request the API accepts, with known ids in its path and body: from the document's examples
    first (schemathesis's examples), then up to `tries` drawn by its positive mode (seeded); else the first one
    tried. Returns it with its answer and whether it was accepted."""
    fixed = {}
    for parameter in operation.path_parameters:
        known = pool.first(collection_of(operation.path, parameter.name), parameter.name)
        if known is not None:
            fixed[parameter.name] = known
    tried: list[tuple[Case, Request, httpx.Response]] = []

    def accepted(case: Case) -> bool:
        request = request_from_case(case)
        request.path.update(fixed)
        if request.has_body:
            request.body = with_references(request.body, pool)
            request.body = with_defaults(request.body, pool.defaults)
        request.query = [(n, _encode(pool.defaults[n]) if n in pool.defaults else v) for n, v in request.query]
        response = send(request)
        tried.append((case, request, response))
        return 200 <= response.status_code < 300

    strategies = [(strategy, 1) for strategy in operation.get_strategies_from_examples()]
    strategies.append((operation.as_strategy(GenerationMode.POSITIVE), tries))
    found: list[bool] = []
    for strategy, examples in strategies:
        # Not hypothesis.find: it replays what it found, and a second POST is not the first one.
        @settings(
            max_examples=examples,
            phases=[Phase.generate],
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @seed(seed_value)
        @given(strategy)
        def probe(case: Case) -> None:
            if not found and accepted(case):
                found.append(True)

        probe()
        if found:
            return (*tried[-1], True)
    return (*tried[0], False)


# --- the run ------------------------------------------------------------------------------------------------


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    requests: int = 0
    mutations: int = 0  # hostile requests: every slot with every value of its kind (follow-ups not counted)
    # Operations none of whose drawn requests the API accepted: their hostile values met only its validation.
    unaccepted: list[str] = field(default_factory=list)


def creation_order(operation: APIOperation) -> int:
    """Things are made before they are used: upserts by key, then creating POSTs, then the rest, then what ends
    a thing (the sort is stable: the document's order within each)."""
    method, path = operation.method.upper(), operation.path
    if method == "PUT" and path.endswith("}"):
        return 0
    if method == "POST" and "{" not in path:
        return 1
    # What ends a thing goes last, so that it stays usable for everything else.
    if method == "DELETE" or path.endswith(("/cancel", "/release")):
        return 3
    return 2


def run(
    schema: Any,
    client: httpx.Client,
    *,
    references: dict[str, tuple[str, str]],
    defaults: dict[str, Any],
    skip: Callable[[APIOperation], bool] = lambda _: False,
    seed: int = 1,
    tries: int = 8,
) -> Report:
    """Every hostile value in every slot of every operation, in the document's order (a thing is made before it
    is read, planned, approved); after an accepted write, every operation on what it wrote is tried once more."""
    report = Report()
    resolve = Resolver(schema.raw_schema)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = sorted((op for op in operations if not skip(op)), key=creation_order)
    parameters: dict[str, set[str]] = {}
    for operation in operations:
        for parameter in operation.path_parameters:
            parameters.setdefault(collection_of(operation.path, parameter.name), set()).add(parameter.name)
    pool = Pool(references=references, defaults=defaults)
    generation = schemathesis.openapi.from_dict(for_generation(schema.raw_schema))
    drawn_from = {result.ok().label: result.ok() for result in generation.get_all_operations()}

    def send(request: Request) -> httpx.Response:
        report.requests += 1
        return request.send(client)

    def record(operation: APIOperation, what: str, request: Request, response: httpx.Response) -> None:
        report.findings.append(
            Finding(operation.label, what, request.describe(), response.status_code, response.text.strip())
        )

    def follow_up(origin: APIOperation, mutation: Mutation, request: Request, response: httpx.Response) -> None:
        """Whatever the API accepted it must be able to serve: try the operations on the thing just written."""
        targets: list[tuple[APIOperation, dict[str, Any]]] = []
        if not origin.path_parameters and origin.method.upper() == "POST":
            try:
                answer = response.json()
            except ValueError:
                return
            for parameter in parameters.get(origin.path, set()):
                value = answer.get(parameter, answer.get("id")) if isinstance(answer, dict) else None
                if value is not None:
                    # Not the PUTs and PATCHes: they would overwrite what is being tried.
                    prefix = f"{origin.path}/{{{parameter}}}"
                    targets += [
                        (op, {parameter: value})
                        for op in operations
                        if op.path.startswith(prefix) and op.method.upper() in ("GET", "POST")
                    ]
        elif origin.path_parameters:
            name = [parameter.name for parameter in origin.path_parameters][-1]
            prefix = origin.path.split("/{" + name + "}")[0] + "/{" + name + "}"
            targets += [
                (op, {name: request.path[name]})
                for op in operations
                if op.path.startswith(prefix) and op is not origin and op.method.upper() == "GET"
            ]
        else:
            # A singleton (the classification config): every read and run of its service.
            service = "/".join(origin.path.split("/")[:3])
            targets += [(op, {}) for op in operations if op.path.startswith(service + "/") and op is not origin]
        for target, fixed in targets:
            _, follow, answer, _ = base_request(drawn_from[target.label], _FixedPool(pool, fixed), send, seed, tries=1)
            problems = judge(target, follow, answer, None)
            if problems:
                record(
                    target,
                    f"after {origin.label} accepted {mutation.hostile.label} in {mutation.slot}: {'; '.join(problems)}",
                    follow,
                    answer,
                )

    for operation in operations:
        report.operations.append(operation.label)
        _, base, response, accepted = base_request(drawn_from[operation.label], pool, send, seed, tries)
        problems = judge(operation, base, response, None)
        if problems:
            record(operation, f"a valid request: {'; '.join(problems)}", base, response)
        if not accepted:
            report.unaccepted.append(f"{operation.label} ({response.status_code} {response.text[:200]})")
        harvest(pool, operation.path, base, response, parameters)
        slots = operation_slots(resolve, operation.definition.raw)
        for mutation in mutations(slots):
            request = mutate(base, mutation)
            report.mutations += 1
            answer = send(request)
            problems = judge(operation, request, answer, mutation, accepted)
            if problems:
                what = f"{mutation.hostile.label} in {mutation.slot}: {'; '.join(problems)}"
                record(operation, what, request, answer)
            if 200 <= answer.status_code < 300 and operation.method.upper() != "GET":
                follow_up(operation, mutation, request, answer)
                if operation.method.upper() in ("PUT", "PATCH"):
                    send(base)  # back to the valid state, so one accepted value does not spoil the next
    return report


class _FixedPool(Pool):
    """A pool that answers `fixed` for the given path parameters, the rest from `pool`."""

    def __init__(self, pool: Pool, fixed: dict[str, Any]) -> None:
        super().__init__(ids=pool.ids, references=pool.references, defaults=pool.defaults)
        self.fixed = {name: _encode(value) if not isinstance(value, str) else value for name, value in fixed.items()}

    def first(self, collection: str, parameter: str) -> Any:
        return self.fixed.get(parameter) or super().first(collection, parameter)
