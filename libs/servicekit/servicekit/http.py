"""HTTP clients for calling other services: pooled, with timeouts, request-id forwarding, signed
(servicekit.signing), and upstream failures turned into 502/503/504 problems instead of hangs or 500s."""

from __future__ import annotations

from typing import Any

import httpx

from servicekit.errors import AppError, BadGateway, GatewayTimeout, ServiceUnavailable
from servicekit.observability import current_request_id
from servicekit.signing import Signer, SigningAuth

# uvicorn closes a connection that has been idle for 5 s (its default --timeout-keep-alive): a client that
# reuses one just then gets a reset instead of an answer (seen in the soak: a 502 for a POST, which cannot be
# sent again). Clients let go of idle connections well before that, so that a reuse never meets the close.
UPSTREAM_KEEPALIVE_SECONDS = 2.0


def upstream_error(service: str, exc: httpx.HTTPError) -> AppError:
    """The problem to answer with when a call to `service` failed in transport."""
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError | httpx.PoolTimeout):
        return ServiceUnavailable(f"The {service} service is unavailable; retry shortly.", headers={"Retry-After": "2"})
    if isinstance(exc, httpx.TimeoutException):
        return GatewayTimeout(f"The {service} service did not answer in time.")
    return BadGateway(f"The {service} service failed to answer ({type(exc).__name__}).")


async def _forward_request_id(request: httpx.Request) -> None:
    request_id = current_request_id()
    if request_id and "x-request-id" not in request.headers:
        request.headers["x-request-id"] = request_id


def create_http_client(
    base_url: str,
    *,
    timeout_seconds: float = 10.0,
    connect_timeout_seconds: float = 2.0,
    max_connections: int = 100,
    transport: httpx.AsyncBaseTransport | None = None,
    signer: Signer | None = None,
) -> httpx.AsyncClient:
    """`signer`: sign every call (the services refuse unsigned ones); None for calls outside the platform."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout_seconds, connect=connect_timeout_seconds, pool=connect_timeout_seconds),
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=UPSTREAM_KEEPALIVE_SECONDS,
        ),
        transport=transport,
        auth=SigningAuth(signer) if signer else None,
        event_hooks={"request": [_forward_request_id]},
    )


class ServiceClient:
    """A client for one upstream service. Subclass it with typed methods per endpoint.

    `signer`: how the calling service signs (Signer(settings.signing_secrets(), "<its name>")); each call carries
    the API key id of the request being handled, when there is one."""

    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        timeout_seconds: float = 10.0,
        connect_timeout_seconds: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
        signer: Signer | None = None,
    ) -> None:
        self.service = service
        self.http = create_http_client(
            base_url,
            timeout_seconds=timeout_seconds,
            connect_timeout_seconds=connect_timeout_seconds,
            transport=transport,
            signer=signer,
        )

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send; transport failures and upstream 5xx become problems. 4xx are returned to the caller."""
        try:
            response = await self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise upstream_error(self.service, exc) from exc
        if response.status_code == 503:
            raise ServiceUnavailable(f"The {self.service} service is unavailable; retry shortly.")
        if response.status_code == 504:
            raise GatewayTimeout(f"The {self.service} service timed out.")
        if response.status_code >= 500:
            raise BadGateway(f"The {self.service} service failed ({response.status_code}).")
        return response

    async def get_json(self, url: str, **kwargs: Any) -> Any:
        response = await self.request("GET", url, **kwargs)
        if response.status_code >= 400:
            raise BadGateway(f"The {self.service} service refused {url} ({response.status_code}).")
        return response.json()

    async def aclose(self) -> None:
        await self.http.aclose()
