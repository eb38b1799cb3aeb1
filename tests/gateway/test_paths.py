"""Callers stay inside the gateway: no path of its own leads to a service's address, HEAD and OPTIONS work as the
read scope says, and a refused CORS preflight is a problem like every other error."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.keys.schemas import Scope
from segmentation.main import create_app as create_segmentation
from segmentation.settings import SegmentationSettings
from servicekit.testing import app_client, serve_in_loop
from tests.gateway.conftest import ORIGIN, Gateway, gateway_for

PROBLEM = "application/problem+json"
CUSTOMER = {"name": "Bäckerei Schmidt", "kind": "b2c"}
CAMPAIGNS_URL = "http://127.0.0.1:9"  # nothing listens; only its address matters here


async def test_a_trailing_slash_is_a_404_problem_that_names_the_path_and_never_a_redirect(gateway: Gateway) -> None:
    auth = gateway.auth(await gateway.new_key(Scope.read))
    for path in ("/v1/segmentation/customers/", "/v1/segmentation/customers/?limit=2"):
        response = await gateway.client.get(path, headers=auth)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == PROBLEM
        assert "location" not in response.headers
        assert response.json()["detail"] == (
            "No resource at /v1/segmentation/customers/: paths never end with a slash; "
            "did you mean /v1/segmentation/customers?"
        )
    empty_segment = await gateway.client.get("/v1/segmentation//customers", headers=auth)
    assert empty_segment.status_code == 404
    assert "empty segments" in empty_segment.json()["detail"]
    root = await gateway.client.get("/v1/segmentation/", headers=auth)
    assert root.status_code == 404
    assert "location" not in root.headers
    anonymous = await gateway.client.get("/v1/segmentation/customers/")
    assert anonymous.status_code == 404, "refused before the key check: the service is never asked"
    assert "location" not in anonymous.headers


async def test_an_id_with_a_line_break_or_bytes_not_utf8_reaches_the_service_and_is_refused_by_name(
    gateway: Gateway,
) -> None:
    # `a%0ab` must not become another id, nor a 404 from the gateway's own route that shows it as `ab`.
    auth = gateway.auth(await gateway.new_key(Scope.write))
    for encoded in ("a%0ab", "a%0d%0ab", "A%ffB"):
        response = await gateway.client.put(f"/v1/segmentation/customers/{encoded}", json=CUSTOMER, headers=auth)
        assert response.status_code == 422, encoded
        assert response.headers["content-type"] == PROBLEM
        assert [e["location"] for e in response.json()["errors"]] == [["path", "external_id"]]
    listed = await gateway.client.get("/v1/segmentation/customers", headers=auth)
    assert listed.json()["items"] == []


async def test_the_services_answer_a_trailing_slash_with_a_404_not_a_redirect_to_themselves(db_url: str) -> None:
    segmentation = create_segmentation(SegmentationSettings(database_url=db_url, log_json=False))
    async with app_client(segmentation) as client:
        response = await client.get("/v1/segmentation/customers/")
        health = await client.get("/healthz/")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert "location" not in response.headers
    assert health.status_code == 404


async def _redirects(request: Request) -> JSONResponse:
    """Answers with URL fields pointing at itself, as a service does when it builds them from its request."""
    own = str(request.base_url).rstrip("/")
    which = request.path_params["which"]
    fields = {
        "api": {"Location": f"{own}/v1/segmentation/runs/7?x=1#top", "Content-Location": f"{own}/v1/segmentation/a"},
        "probe": {"Location": f"{own}/healthz"},
        "relative": {"Location": "/v1/segmentation/runs/8"},
        "elsewhere": {"Location": "https://erp.example.com/orders/1"},
        "other-service": {"Location": f"{CAMPAIGNS_URL}/v1/campaigns/campaigns/5"},
        "links": {
            "Link": f'<{own}/v1/segmentation/customers?cursor=abc>; rel="next", <{own}/metrics>; rel="monitor", '
            '</v1/segmentation/customers>; rel="first"'
        },
        "only-probes": {"Link": f'<{own}/metrics>; rel="monitor"'},
    }[which]
    return JSONResponse({}, status_code=307 if "Location" in fields else 200, headers=fields)


REDIRECTS = Starlette(routes=[Route("/v1/segmentation/answers/{which}", _redirects)])


async def test_urls_of_a_service_are_made_the_gateways_own_or_dropped(db_url: str) -> None:
    async with (
        serve_in_loop(REDIRECTS) as url,
        gateway_for(db_url, segmentation_url=url, campaigns_url=CAMPAIGNS_URL) as gw,
    ):
        auth = gw.auth(await gw.new_key(Scope.read))

        async def answer(which: str):
            return await gw.client.get(f"/v1/segmentation/answers/{which}", headers=auth)

        api = await answer("api")
        assert api.status_code == 307
        assert api.headers["location"] == "/v1/segmentation/runs/7?x=1#top", "the gateway's path, not the service's"
        assert api.headers["content-location"] == "/v1/segmentation/a"
        assert "location" not in (await answer("probe")).headers, "a service's probe is not part of the API"
        assert (await answer("relative")).headers["location"] == "/v1/segmentation/runs/8"
        assert (await answer("elsewhere")).headers["location"] == "https://erp.example.com/orders/1"
        assert (await answer("other-service")).headers["location"] == "/v1/campaigns/campaigns/5"
        assert (await answer("links")).headers["link"] == (
            '</v1/segmentation/customers?cursor=abc>; rel="next", </v1/segmentation/customers>; rel="first"'
        )
        assert "link" not in (await answer("only-probes")).headers
    assert url not in str(api.headers)


async def test_head_is_a_get_without_its_body_for_a_read_key(gateway: Gateway) -> None:
    write = gateway.auth(await gateway.new_key(Scope.write))
    read = gateway.auth(await gateway.new_key(Scope.read))
    await gateway.client.put("/v1/segmentation/customers/S-1", json=CUSTOMER, headers=write)

    got = await gateway.client.get("/v1/segmentation/customers/S-1", headers=read)
    head = await gateway.client.head("/v1/segmentation/customers/S-1", headers=read)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == got.headers["content-length"], "the length the GET's body has"
    assert head.headers["ratelimit-limit"] == "100", "counted as a read"

    listed = await gateway.client.head("/v1/segmentation/customers", headers=read)
    assert listed.status_code == 200
    missing = await gateway.client.head("/v1/segmentation/customers/S-404", headers=read)
    assert missing.status_code == 404
    assert missing.content == b""
    anonymous = await gateway.client.head("/v1/segmentation/customers/S-1")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")


async def test_options_lists_the_methods_of_a_path_for_a_read_key(gateway: Gateway) -> None:
    read = gateway.auth(await gateway.new_key(Scope.read))
    one = await gateway.client.options("/v1/segmentation/customers/S-1", headers={**read, "Origin": ORIGIN})
    assert one.status_code == 204
    assert one.headers["allow"] == "GET, HEAD, PUT, OPTIONS"
    assert one.content == b""
    assert not [name for name in one.headers if name.startswith("access-control-allow-m")], "no preflight answer"
    assert "access-control-allow-headers" not in one.headers

    runs = await gateway.client.options("/v1/segmentation/runs", headers=read)
    assert runs.status_code == 204
    assert "POST" in runs.headers["allow"].split(", "), "a read key may ask what a write key could do"
    nowhere = await gateway.client.options("/v1/segmentation/nothing-here", headers=read)
    assert nowhere.status_code == 404
    assert nowhere.headers["content-type"] == PROBLEM
    down = await gateway.client.options("/v1/campaigns/campaigns", headers=read)
    assert down.status_code == 503, "campaigns is not running: its paths are not known"
    assert down.headers["content-type"] == PROBLEM
    anonymous = await gateway.client.options("/v1/segmentation/customers/S-1")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == PROBLEM


async def test_a_refused_cors_preflight_is_a_problem_saying_what_was_refused(gateway: Gateway) -> None:
    other_origin = await gateway.client.options(
        "/v1/segmentation/customers",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert other_origin.status_code == 400
    assert other_origin.headers["content-type"] == PROBLEM
    problem = other_origin.json()
    assert problem["title"] == "Bad Request"
    assert problem["instance"] == "/v1/segmentation/customers"
    assert "origin https://evil.example is not allowed" in problem["detail"]
    assert "access-control-allow-origin" not in other_origin.headers

    other_header = await gateway.client.options(
        "/v1/segmentation/customers",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "x-foo"},
    )
    assert other_header.status_code == 400
    assert other_header.headers["content-type"] == PROBLEM
    assert "request headers x-foo are not all allowed" in other_header.json()["detail"]
    assert other_header.headers["access-control-allow-origin"] == ORIGIN, "the page may read why"
