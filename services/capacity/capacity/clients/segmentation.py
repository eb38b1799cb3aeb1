"""The segmentation service, over HTTP only: booked orders per week, and (when its model is usable) the
predicted purchases of the existing customers per week."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

import httpx
from fastapi import Depends, Request
from pydantic import BaseModel

from servicekit.errors import BadGateway
from servicekit.http import ServiceClient
from servicekit.signing import Signer

logger = logging.getLogger("capacity.clients.segmentation")

AbcClass = Literal["A", "B", "C"]


class WeekOfOrders(BaseModel):
    week_start: date
    orders: int


class WeeklyOrders(BaseModel):
    """Segmentation's `WeeklyOrders`, the fields capacity reads: every ISO week of the range, in order."""

    from_date: date
    to_date: date
    customers: int
    weeks: list[WeekOfOrders]


class PredictedWeek(BaseModel):
    week_start: date
    expected_orders: Decimal


class WeeklyPurchases(BaseModel):
    """The sum over the existing customers of their BG/NBD expected purchases in each week."""

    fit_id: str
    fitted_at: datetime
    customers: int
    weeks: list[PredictedWeek]


class SegmentationClient(ServiceClient):
    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        signer: Signer | None = None,
    ) -> None:
        super().__init__("segmentation", base_url, timeout_seconds=timeout_seconds, transport=transport, signer=signer)

    async def weekly_orders(self, from_date: date, to_date: date, abc: AbcClass | None = None) -> WeeklyOrders:
        """Booked orders per week from `from_date` to before `to_date`, of every customer or one ABC class.
        Unreachable, failing or answering garbage: a 502/503/504 problem (servicekit.http)."""
        params = {"from_date": from_date.isoformat(), "to_date": to_date.isoformat()}
        if abc:
            params["abc"] = abc
        response = await self.request("GET", "/v1/segmentation/reports/weekly-orders", params=params)
        if response.status_code != 200:
            raise BadGateway(f"The segmentation service refused weekly orders ({response.status_code}).")
        try:
            found = WeeklyOrders.model_validate(response.json())
        except ValueError as exc:  # broken JSON or a shape we do not know
            raise BadGateway("The segmentation service answered weekly orders in an unknown shape.") from exc
        expected = [from_date + timedelta(days=7 * i) for i in range(len(found.weeks))]
        if [w.week_start for w in found.weeks] != expected or expected[-1:] != [to_date - timedelta(days=7)]:
            raise BadGateway("The segmentation service left weeks out of its weekly orders.")
        return found

    async def weekly_purchases(self, from_date: date, weeks: int) -> WeeklyPurchases | None:
        """The predictive model's expected purchases for `weeks` weeks from `from_date` (a Monday); None when
        there is no usable model (409), the endpoint is missing, or the answer does not cover every week."""
        response = await self.request(
            "GET",
            "/v1/segmentation/predictive/weekly-purchases",
            params={"from_date": from_date.isoformat(), "weeks": weeks},
        )
        if response.status_code != 200:
            logger.info("no predicted purchases (segmentation answered %s); using the history", response.status_code)
            return None
        try:
            found = WeeklyPurchases.model_validate(response.json())
        except ValueError:  # broken JSON or a shape we do not know
            logger.warning("predicted purchases in an unknown shape; using the history")
            return None
        wanted = [from_date + timedelta(days=7 * i) for i in range(weeks)]
        if [w.week_start for w in found.weeks] != wanted or any(w.expected_orders < 0 for w in found.weeks):
            logger.warning("predicted purchases do not cover weeks %s to %s; using the history", wanted[0], wanted[-1])
            return None
        return found


def _segmentation(request: Request) -> SegmentationClient:
    return request.app.state.segmentation


SegmentationClientDep = Annotated[SegmentationClient, Depends(_segmentation)]
