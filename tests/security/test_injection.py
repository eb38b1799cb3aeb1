"""Injection strings in every query parameter and path id of every read of every service: a 4xx or no
rows, never a 500 and never another customer's rows. Generated from the services' OpenAPI documents."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from campaigns.main import create_app as create_campaigns
from campaigns.settings import CampaignsSettings
from capacity.main import create_app as create_capacity
from capacity.settings import CapacitySettings
from segmentation.main import create_app as create_segmentation
from segmentation.settings import SegmentationSettings
from servicekit.testing import app_client

INJECTIONS = [
    "' OR '1'='1",
    "1; DROP TABLE segmentation.customers; --",
    "K-1' --",
    "%' OR external_id LIKE '%",
    "\\x00",
    "../../etc/passwd",
    "$(id)",
    '{"$gt": ""}',
    "1 UNION SELECT external_id FROM segmentation.customers",
]
# Upstreams nobody listens on: reads that need another service answer 502-504, which is allowed here.
NOWHERE = "http://127.0.0.1:9"

FACTORIES: dict[str, Callable[[str], FastAPI]] = {
    "segmentation": lambda url: create_segmentation(SegmentationSettings(database_url=url, log_json=False)),
    "campaigns": lambda url: create_campaigns(
        CampaignsSettings(database_url=url, log_json=False, segmentation_url=NOWHERE, capacity_url=NOWHERE)
    ),
    "capacity": lambda url: create_capacity(
        CapacitySettings(database_url=url, log_json=False, segmentation_url=NOWHERE, maintenance_interval_seconds=0)
    ),
}


def reads(app: FastAPI) -> list[tuple[str, list[dict[str, Any]]]]:
    """(path, parameters) of every GET operation under /v1."""
    paths = app.openapi()["paths"]
    return [
        (path, ops["get"].get("parameters", []))
        for path, ops in paths.items()
        if path.startswith("/v1/") and "get" in ops
    ]


@pytest.fixture
async def seeded(db_url: str) -> str:
    """One customer with an order, for the injected filters to leak if they could."""
    async with app_client(FACTORIES["segmentation"](db_url)) as client:
        customer = {"name": "Secret GmbH", "kind": "b2b"}
        assert (await client.put("/v1/segmentation/customers/K-1", json=customer)).status_code == 201
        order = {
            "customer_external_id": "K-1",
            "ordered_at": "2026-03-01T10:00:00Z",
            "net_amount": "10.00",
            "currency": "EUR",
        }
        assert (await client.put("/v1/segmentation/orders/O-1", json=order)).status_code == 201
    return db_url


@pytest.mark.parametrize("service", sorted(FACTORIES))
async def test_injections_in_every_filter_and_id_are_refused_or_match_nothing(seeded: str, service: str) -> None:
    app = FACTORIES[service](seeded)
    problems = []
    async with app_client(app) as client:
        for path, parameters in reads(app):
            for injected in INJECTIONS:
                filled = re.sub(r"\{[^}]+\}", injected.replace("/", "%2F").replace("\\", "\\\\"), path)
                queries = [{}] + [{p["name"]: injected} for p in parameters if p["in"] == "query"]
                for query in queries:
                    response = await client.get(filled, params=query)
                    if response.status_code >= 500 and response.status_code not in (502, 503, 504):
                        problems.append((path, query, response.status_code))
                        continue
                    answered = response.status_code == 200 and "application/json" in response.headers["content-type"]
                    if answered and query and ("Secret GmbH" in response.text or '"K-1"' in response.text):
                        problems.append((path, query, "a customer's data"))
    assert problems == []
