"""Metrics are labelled by route template, so dashboards group requests and cardinality stays bounded."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from campaigns.main import create_app as create_campaigns
from campaigns.settings import CampaignsSettings
from capacity.main import create_app as create_capacity
from capacity.settings import CapacitySettings
from gateway.main import create_app as create_gateway
from gateway.settings import GatewaySettings
from segmentation.main import create_app as create_segmentation
from segmentation.settings import SegmentationSettings
from servicekit.testing import app_client


@dataclass
class Case:
    create: Callable[[str], FastAPI]
    paths: Callable[[str], tuple[str, str]]  # two concrete paths of one route, made distinct by a token
    route: str
    status: int


CASES = {
    "segmentation": Case(
        lambda url: create_segmentation(SegmentationSettings(database_url=url, log_json=False)),
        lambda t: (f"/v1/segmentation/customers/A-{t}", f"/v1/segmentation/customers/B-{t}"),
        "/v1/segmentation/customers/{external_id}",
        404,
    ),
    "campaigns": Case(
        lambda url: create_campaigns(CampaignsSettings(database_url=url, log_json=False)),
        lambda t: (f"/v1/campaigns/campaigns/{int(t, 16)}", f"/v1/campaigns/campaigns/{int(t, 16) + 1}"),
        "/v1/campaigns/campaigns/{campaign_id}",
        404,
    ),
    "capacity": Case(
        lambda url: create_capacity(CapacitySettings(database_url=url, log_json=False)),
        lambda t: (f"/v1/capacity/resources/a-{t}", f"/v1/capacity/resources/b-{t}"),
        "/v1/capacity/resources/{key}",
        404,
    ),
    "gateway": Case(
        lambda url: create_gateway(GatewaySettings(database_url=url, log_json=False)),
        lambda t: (f"/v1/segmentation/customers/A-{t}", f"/v1/segmentation/customers/B-{t}"),
        "/v1/segmentation/*",
        401,  # no API key: answered by the gateway without calling segmentation
    ),
}


def requests_total(metrics: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "http_requests_total" and labels.items() <= sample.labels.items()
    )


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text


@pytest.mark.parametrize("name", CASES)
async def test_requests_are_counted_by_route_template_not_raw_path(name: str, db_url: str) -> None:
    case = CASES[name]
    first, second = case.paths(uuid.uuid4().hex[:12])
    labels = {"route": case.route, "method": "GET", "status": str(case.status)}
    async with app_client(case.create(db_url)) as client:
        before = requests_total(await scrape(client), **labels)
        for path in (first, second):
            assert (await client.get(path)).status_code == case.status
        metrics = await scrape(client)

    assert requests_total(metrics, **labels) == before + 2
    raw_values = {path.rsplit("/", 1)[1] for path in (first, second)}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            for value in sample.labels.values():
                assert value not in (first, second), f"raw path {value} is a label of {sample.name}"
    for raw in (first, second, *raw_values):
        assert raw not in metrics, f"{raw!r} leaked into the metrics"


@pytest.mark.parametrize("name", CASES)
async def test_unknown_paths_are_counted_as_unmatched(name: str, db_url: str) -> None:
    labels = {"route": "<unmatched>", "method": "GET", "status": "404"}
    async with app_client(CASES[name].create(db_url)) as client:
        before = requests_total(await scrape(client), **labels)
        assert (await client.get("/no/such/thing")).status_code == 404
        metrics = await scrape(client)
    assert requests_total(metrics, **labels) == before + 1
    assert "/no/such/thing" not in metrics
