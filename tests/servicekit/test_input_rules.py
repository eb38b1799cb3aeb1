"""Input no service takes: refused with a 422 naming the field and what is wrong, before a route runs.

Text with NUL characters, lone surrogates, NaN, bodies that are not UTF-8 or nest without end, ids whose
percent-encoding is not UTF-8, control characters, unknown query parameters (docs/api.md, "Input rules").
"""

import json
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from segmentation.db import metadata
from segmentation.main import COMPONENT_DIR
from servicekit.app import create_service_app
from servicekit.idempotency import IdempotencyKeyHeader
from servicekit.input_rules import MAX_JSON_DEPTH, json_body_errors
from servicekit.settings import ServiceSettings
from servicekit.testing import app_client

router = APIRouter()
calls: list[str] = []  # the routes that ran: a refused request runs none


def paging(limit: Annotated[int, Query()] = 10, cursor: Annotated[str | None, Query()] = None) -> int:
    return limit


class Filters(BaseModel):
    colour: str | None = None
    size: int | None = None


@router.put("/things/{external_id}")
async def put_thing(external_id: str, body: dict, idempotency_key: IdempotencyKeyHeader = None) -> dict:
    calls.append("put_thing")
    return {"external_id": external_id, **body}


@router.get("/things/{external_id}/parts/{part}")
async def get_part(external_id: str, part: str) -> dict:
    calls.append("get_part")
    return {"external_id": external_id, "part": part}


@router.get("/things")
async def list_things(
    limit: Annotated[int, Depends(paging)], kind: Annotated[str | None, Query(alias="type")] = None
) -> dict:
    calls.append("list_things")
    return {"limit": limit, "kind": kind}


@router.get("/shapes")
async def list_shapes(filters: Annotated[Filters, Query()]) -> dict:
    return filters.model_dump()


@router.post("/imports/things")
async def import_things(request: Request) -> dict:
    return {"bytes": len(await request.body())}


async def passed_on(request: Request) -> Response:
    """A plain route, as the gateway's proxy is: it passes the request on as it came."""
    return Response(await request.body(), media_type="application/json")


router.add_route("/proxy/{path:path}", passed_on, methods=["GET", "POST"])


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_service_app(
        name="input-rules-test",
        settings=ServiceSettings(database_url=db_url),
        metadata=metadata,
        component_dir=COMPONENT_DIR,
        routers=[router],
    )
    calls.clear()
    async with app_client(app) as client:
        yield client


async def put_raw(client: httpx.AsyncClient, body: bytes, path: str = "/things/T-1") -> httpx.Response:
    return await client.put(path, content=body, headers={"Content-Type": "application/json"})


def refused(response: httpx.Response) -> list[dict]:
    """The field errors of a 422 problem, after checking that it is one and that no route ran."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert calls == [], "a refused request runs no route"
    body = response.json()
    assert body["detail"] == f"The request has {len(body['errors'])} invalid field(s)."
    return body["errors"]


# --- JSON bodies ---


async def test_a_nul_character_in_a_value_is_refused_naming_the_field(client: httpx.AsyncClient) -> None:
    errors = refused(await client.put("/things/T-1", json={"name": "Acme\u0000", "tags": ["ok", "b\u0000d"]}))
    assert [(e["location"], e["type"]) for e in errors] == [
        (["body", "name"], "nul_character"),
        (["body", "tags", 1], "nul_character"),
    ]
    assert "NUL character" in errors[0]["message"]


async def test_a_nul_character_in_a_key_is_refused_naming_the_key(client: httpx.AsyncClient) -> None:
    errors = refused(await client.put("/things/T-1", json={"attributes": {"in\u0000dustry": "x"}}))
    assert errors[0]["location"] == ["body", "attributes", "in\\u0000dustry"]
    assert errors[0]["field"] == "body.attributes.in\\u0000dustry"
    assert errors[0]["message"].startswith("The key contains a NUL character")


async def test_a_lone_surrogate_is_refused_and_a_pair_is_taken(client: httpx.AsyncClient) -> None:
    errors = refused(await put_raw(client, b'{"name": "A\\ud800B", "ok": "\\ud83d\\ude00"}'))
    assert [(e["location"], e["type"]) for e in errors] == [(["body", "name"], "lone_surrogate")]
    assert "\\ud800" in errors[0]["message"]

    taken = await put_raw(client, b'{"name": "\\ud83d\\ude00 \\u00e9 Nancy", "n": 1.5}')
    assert taken.status_code == 200
    assert taken.json()["name"] == "\U0001f600 \u00e9 Nancy"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_are_not_json_numbers(client: httpx.AsyncClient, literal: str) -> None:
    errors = refused(await put_raw(client, f'{{"lines": [{{"amount": {literal}}}]}}'.encode()))
    assert errors == [
        {
            "location": ["body", "lines", 0, "amount"],
            "field": "body.lines.0.amount",
            "message": f"{literal} is not a JSON number; send a finite number.",
            "type": "json_invalid",
        }
    ]


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ("1e400", "1e400 is too large for a number; send a finite one."),
        ("-2.5E+308", "-2.5E+308 is too large for a number; send a finite one."),
        ("9" * 400, "99999999999999999999... has more than 308 digits."),
    ],
)
async def test_numbers_no_double_holds_are_refused(client: httpx.AsyncClient, literal: str, message: str) -> None:
    # Python reads 1e400 as infinity, which Postgres's JSON refuses, and integers of 4,300 digits not at all.
    errors = refused(await put_raw(client, f'{{"attributes": {{"fuzz": {literal}}}}}'.encode()))
    assert errors == [
        {
            "location": ["body", "attributes", "fuzz"],
            "field": "body.attributes.fuzz",
            "message": message,
            "type": "json_invalid",
        }
    ]
    assert (
        await put_raw(client, b'{"attributes": {"small": 1e-400, "large": 1e300, "text": "1e400"}}')
    ).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"name": "M\xfcller"}', "The body is not UTF-8 (byte 0xfc at offset 11); JSON is sent as UTF-8."),
        ('{"name": "x"}'.encode("utf-16"), "The body is not UTF-8 (byte 0xff at offset 0); JSON is sent as UTF-8."),
        ('{"name": "x"}'.encode("utf-16-le"), "The body holds a NUL byte: JSON is sent as UTF-8 text."),
    ],
)
async def test_a_body_that_is_not_utf8_is_json_invalid(client: httpx.AsyncClient, body: bytes, message: str) -> None:
    errors = refused(await put_raw(client, body))
    assert errors == [{"location": ["body"], "field": "body", "message": message, "type": "json_invalid"}]


async def test_nesting_is_bounded(client: httpx.AsyncClient) -> None:
    deepest = b'{"a": ' * (MAX_JSON_DEPTH - 1) + b'["]]]]"]' + b"}" * (MAX_JSON_DEPTH - 1)
    assert (await put_raw(client, deepest)).status_code == 200, "brackets inside strings do not count"
    calls.clear()

    too_deep = b'{"a": ' * MAX_JSON_DEPTH + b"[]" + b"}" * MAX_JSON_DEPTH
    errors = refused(await put_raw(client, too_deep))
    assert errors[0]["message"] == f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels."
    calls.clear()
    errors = refused(await put_raw(client, b"[" * 50_000 + b"]" * 50_000))
    assert errors[0]["type"] == "json_invalid"


@pytest.mark.parametrize(
    ("body", "too_deep"),
    [
        (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, False),
        (b"[{" * (MAX_JSON_DEPTH // 2) + b'"x"' + b"}]" * (MAX_JSON_DEPTH // 2), False),
        (b"[{" * (MAX_JSON_DEPTH // 2) + b"[]" + b"}]" * (MAX_JSON_DEPTH // 2), True),
        (b'{"a": "\\"[[[[", "b": [' + b'"]", ' * 40 + b"1]}", False),
        (b"[" + b'"]]", ' * 40 + b"[" * 40 + b"1" + b"]" * 41, True),
        (b"[" * 50_000, True),
    ],
)
def test_depth_counts_brackets_outside_strings(body: bytes, too_deep: bool) -> None:
    assert bool(json_body_errors(body)) is too_deep


async def test_broken_json_is_still_reported_by_position(client: httpx.AsyncClient) -> None:
    errors = refused(await put_raw(client, b'{"name": "\\u0000", '))
    assert [e["type"] for e in errors] == ["json_invalid"]


async def test_bulk_imports_and_plain_routes_get_the_body_as_it_came(client: httpx.AsyncClient) -> None:
    body = b'{"name": "\\u0000"}'
    imported = await client.post("/imports/things", content=body, headers={"Content-Type": "application/json"})
    assert imported.json() == {"bytes": len(body)}
    passed = await client.post("/proxy/things", content=body, headers={"Content-Type": "application/json"})
    assert passed.content == body


# --- paths and query strings ---


async def test_an_id_that_is_not_utf8_is_refused_naming_the_path_parameter(client: httpx.AsyncClient) -> None:
    errors = refused(await put_raw(client, b"{}", path="/things/A%ffB"))
    assert errors == [
        {
            "location": ["path", "external_id"],
            "field": "path.external_id",
            "message": "The path segment 'A%ffB' has percent-encoded bytes that are not UTF-8.",
            "type": "invalid_utf8",
        }
    ]
    assert (await put_raw(client, b"{}", path="/things/M%C3%BCller")).json() == {"external_id": "Müller"}


@pytest.mark.parametrize("character", ["%00", "%0a", "%0D", "%1b", "%7f", "%C2%85"])
async def test_control_characters_in_an_id_are_refused(client: httpx.AsyncClient, character: str) -> None:
    errors = refused(await client.get(f"/things/T-1/parts/a{character}b"))
    assert [(e["location"], e["type"]) for e in errors] == [(["path", "part"], "control_character")]


async def test_a_refused_path_that_matches_no_route_is_a_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/no/such%ff")).status_code == 404


async def test_query_values_that_are_not_utf8_or_hold_controls_are_refused(client: httpx.AsyncClient) -> None:
    errors = refused(await client.get("/things?type=a%ffb&limit=5&cursor=x%00y"))
    assert [(e["location"], e["type"]) for e in errors] == [
        (["query", "type"], "invalid_utf8"),
        (["query", "cursor"], "control_character"),
    ]


async def test_an_unknown_query_parameter_is_refused_listing_the_allowed_ones(client: httpx.AsyncClient) -> None:
    errors = refused(await client.get("/things", params={"limit": 5, "tpye": "a", "kind": "b"}))
    assert errors == [
        {
            "location": ["query", name],
            "field": f"query.{name}",
            "message": "Unknown query parameter; this route takes cursor, limit, type.",
            "type": "extra_forbidden",
        }
        for name in ("tpye", "kind")
    ]
    taken = await client.get("/things", params={"limit": 5, "cursor": "c", "type": "a"})
    assert taken.json() == {"limit": 5, "kind": "a"}, "a dependency's parameters and aliases are declared ones"


async def test_a_query_parameter_model_declares_its_fields(client: httpx.AsyncClient) -> None:
    assert (await client.get("/shapes", params={"colour": "red", "size": 3})).status_code == 200
    errors = refused(await client.get("/shapes", params={"color": "red"}))
    assert errors[0]["message"] == "Unknown query parameter; this route takes colour, size."


async def test_a_route_without_query_parameters_takes_none(client: httpx.AsyncClient) -> None:
    errors = refused(await client.get("/things/T-1/parts/p", params={"as_of": "2026-01-01"}))
    assert errors[0]["location"] == ["query", "as_of"]
    assert errors[0]["message"] == "Unknown query parameter; this route takes none."


# --- headers ---


@pytest.mark.parametrize("key", ["a\tb", "caf\u00e9".encode().decode("latin-1"), "k\x7f"])
async def test_an_idempotency_key_must_be_printable_ascii(client: httpx.AsyncClient, key: str) -> None:
    response = await client.put("/things/T-1", json={}, headers=[("Idempotency-Key", key.encode("latin-1"))])
    errors = refused(response)
    assert [e["location"] for e in errors] == [["header", "idempotency-key"]]
    assert errors[0]["message"] == "Must be printable ASCII: no control characters and nothing outside ASCII."
    assert json.loads(response.text)  # and the refusal itself is valid JSON
