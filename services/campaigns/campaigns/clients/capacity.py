"""The capacity service, over HTTP only: its resources (the load of one order), what-if for a plan, and
reservations held, confirmed, released and consumed for campaigns."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from pydantic import BaseModel

from servicekit.errors import AppError, BadGateway
from servicekit.http import ServiceClient
from servicekit.signing import Signer


class ResourceLoad(BaseModel):
    key: str
    load_per_order: Decimal


class WhatIfResource(BaseModel):
    resource: str
    needed: Decimal
    available: Decimal


class WhatIfWeek(BaseModel):
    week_start: date
    orders: Decimal
    fitting_orders: Decimal
    fits: bool
    binding_resource: str | None = None
    resources: list[WhatIfResource] = []


class WhatIf(BaseModel):
    fits: bool
    orders: Decimal
    fitting_orders: Decimal
    weeks: list[WhatIfWeek]


class ReservationLine(BaseModel):
    resource: str
    week_start: date
    requested: Decimal
    granted: Decimal


class Reservation(BaseModel):
    id: int
    campaign: str
    state: str
    partial: bool
    lines: list[ReservationLine]


class CapacityAnswered(AppError):
    """Capacity answered a 4xx on purpose (a conflict, a week it does not plan, a missing baseline): the
    caller decides what that means for the campaign. `problem` is capacity's problem document."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(str(problem.get("detail") or problem.get("title") or status), status=status)
        self.problem = problem


class CapacityClient(ServiceClient):
    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        signer: Signer | None = None,
    ) -> None:
        super().__init__("capacity", base_url, timeout_seconds=timeout_seconds, transport=transport, signer=signer)

    async def _call(self, method: str, url: str, model: type[BaseModel], **kwargs: Any) -> Any:
        """Send; transport failures and 5xx are 502/503/504 problems (servicekit), a 4xx is CapacityAnswered,
        an answer in a shape we do not know a 502."""
        response = await self.request(method, url, **kwargs)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise CapacityAnswered(response.status_code, problem if isinstance(problem, dict) else {})
        try:
            return model.model_validate(response.json())
        except ValueError as exc:
            raise BadGateway(f"The capacity service answered {url} in an unknown shape.") from exc

    async def resource_loads(self) -> list[ResourceLoad]:
        """Every resource with the load of one order, all pages."""
        loads, cursor = [], None
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = await self._call("GET", "/v1/capacity/resources", _ResourcePage, params=params)
            loads += page.items
            cursor = page.next_cursor
            if not cursor:
                return loads

    async def what_if(self, weeks: list[tuple[date, Decimal]]) -> WhatIf:
        body = {"weeks": [{"week_start": w.isoformat(), "orders": str(orders)} for w, orders in weeks]}
        return await self._call("POST", "/v1/capacity/what-if", WhatIf, json=body)

    async def reserve(self, campaign: str, lines: list[tuple[str, date, Decimal]], idempotency_key: str) -> Reservation:
        body = {
            "campaign": campaign,
            "allow_partial": False,
            "lines": [{"resource": r, "week_start": w.isoformat(), "amount": str(a)} for r, w, a in lines],
        }
        headers = {"Idempotency-Key": idempotency_key}
        return await self._call("POST", "/v1/capacity/reservations", Reservation, json=body, headers=headers)

    async def reservations_of(self, campaign: str) -> list[Reservation]:
        page = await self._call(
            "GET", "/v1/capacity/reservations", _ReservationPage, params={"campaign": campaign, "limit": 1000}
        )
        return page.items

    async def move(self, reservation_id: int, action: str) -> Reservation:
        """confirm, release or consume a reservation (each changes nothing the second time)."""
        return await self._call("POST", f"/v1/capacity/reservations/{reservation_id}/{action}", Reservation)


class _ResourcePage(BaseModel):
    items: list[ResourceLoad]
    next_cursor: str | None = None


class _ReservationPage(BaseModel):
    items: list[Reservation]
    next_cursor: str | None = None


def _capacity(request: Request) -> CapacityClient:
    return request.app.state.capacity


CapacityClientDep = Annotated[CapacityClient, Depends(_capacity)]
