"""The segmentation service, over HTTP only: the audience stream (every classification and prediction of the
matching customers), booked orders for attribution, and interactions (who had contact lately)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from pydantic import BaseModel

from servicekit.errors import AppError, BadGateway, ServiceUnavailable
from servicekit.http import ServiceClient, upstream_error
from servicekit.signing import Signer

logger = logging.getLogger("campaigns.clients.segmentation")

PAGE = 1000
AudienceParams = Mapping[str, Any]


class OrderFact(BaseModel):
    """Segmentation's `Order`, the fields attribution reads."""

    external_id: str
    customer_external_id: str
    ordered_at: datetime
    net_amount: Decimal
    currency: str
    contribution_margin: Decimal | None = None
    status: str


class InteractionFact(BaseModel):
    external_id: str
    customer_external_id: str
    kind: str
    occurred_at: datetime


class AudienceRefused(AppError):
    """Segmentation refused the audience filters (a 4xx): the campaign's rules are at fault, not the service."""

    status = 422
    title = "Unprocessable Content"
    type = "https://docs.retention.example/problems/audience-refused"


class SegmentationClient(ServiceClient):
    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        signer: Signer | None = None,
    ) -> None:
        super().__init__("segmentation", base_url, timeout_seconds=timeout_seconds, transport=transport, signer=signer)

    async def audience(self, params: AudienceParams) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Each matching customer as (the raw NDJSON line, its parsed object), streamed. Unreachable or failing:
        a 502/503/504 problem, also when the stream breaks off or carries garbage midway."""
        try:
            async with self.http.stream("GET", "/v1/segmentation/audiences", params=params) as response:
                if response.status_code >= 500 or response.status_code in (404, 405):
                    await response.aread()
                    raise _failed(self.service, response)
                if response.status_code >= 400:
                    body = (await response.aread()).decode(errors="replace")
                    raise AudienceRefused(f"The segmentation service refused the audience rules: {_detail(body)}")
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    try:
                        member = json.loads(line)
                    except ValueError as exc:
                        raise BadGateway("The segmentation service sent an audience line that is not JSON.") from exc
                    if not isinstance(member, dict) or not isinstance(member.get("external_id"), str):
                        raise BadGateway("The segmentation service sent an audience member without an external_id.")
                    yield line, member
        except httpx.HTTPError as exc:
            raise upstream_error(self.service, exc) from exc

    async def _pages(self, path: str, params: dict[str, Any]) -> AsyncIterator[list[dict[str, Any]]]:
        cursor = None
        while True:
            query = {**params, "limit": PAGE, **({"cursor": cursor} if cursor else {})}
            page = await self.get_json(path, params=query)
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise BadGateway(f"The segmentation service answered {path} in an unknown shape.")
            yield page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def booked_orders(self, ordered_from: datetime, ordered_before: datetime) -> AsyncIterator[list[OrderFact]]:
        """Booked orders of every customer in [ordered_from, ordered_before), a page at a time."""
        params = {
            "status": "booked",
            "ordered_from": ordered_from.isoformat(),
            "ordered_before": ordered_before.isoformat(),
        }
        async for items in self._pages("/v1/segmentation/orders", params):
            try:
                yield [OrderFact.model_validate(item) for item in items]
            except ValueError as exc:
                raise BadGateway("The segmentation service answered orders in an unknown shape.") from exc

    async def contacted_customers(self, occurred_from: datetime) -> set[str]:
        """External ids of the customers with any interaction since `occurred_from`."""
        found: set[str] = set()
        async for items in self._pages("/v1/segmentation/interactions", {"occurred_from": occurred_from.isoformat()}):
            try:
                found.update(InteractionFact.model_validate(item).customer_external_id for item in items)
            except ValueError as exc:
                raise BadGateway("The segmentation service answered interactions in an unknown shape.") from exc
        return found


def _failed(service: str, response: httpx.Response) -> AppError:
    if response.status_code == 503:
        return ServiceUnavailable(f"The {service} service is unavailable; retry shortly.", headers={"Retry-After": "2"})
    return BadGateway(f"The {service} service failed to stream the audience ({response.status_code}).")


def _detail(body: str) -> str:
    try:
        problem = json.loads(body)
    except ValueError:
        return body[:200]
    errors = problem.get("errors") if isinstance(problem, dict) else None
    if errors:
        return "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict))
    return str(problem.get("detail") or problem.get("title") or body[:200]) if isinstance(problem, dict) else body


def _segmentation(request: Request) -> SegmentationClient:
    return request.app.state.segmentation


SegmentationClientDep = Annotated[SegmentationClient, Depends(_segmentation)]
