"""One OpenAPI document for the whole API: every service's paths, with the gateway's security."""

from __future__ import annotations

import copy
import json
import logging
import re
import time
from typing import Any

import aiohttp

from gateway.proxy import Upstream
from servicekit.errors import NotFound, ServiceUnavailable
from servicekit.signing import SIGNATURE_HEADER

logger = logging.getLogger("gateway.openapi")

SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <API key>"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                name = value.rsplit("/", 1)[-1]
                value = f"#/components/schemas/{renames.get(name, name)}" if name in renames else value
            out[key] = _rename_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    return node


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
_PARAMETER = re.compile(r"\{[^}/]*\}")
Routes = list[tuple[re.Pattern[str], frozenset[str]]]


def route_table(document: dict[str, Any]) -> Routes:
    """Each path template of a service's document as a pattern, with the methods it has."""
    routes = []
    for template, operations in document.get("paths", {}).items():
        pattern = re.compile("[^/]+".join(re.escape(part) for part in _PARAMETER.split(template)))
        routes.append((pattern, frozenset(m for m in _METHODS if m.lower() in operations)))
    return routes


def merge_documents(documents: dict[str, dict[str, Any]], *, title: str, version: str) -> dict[str, Any]:
    """Merge service documents; a schema name two services use for different shapes gets a service prefix."""
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Every endpoint of the platform, served through the gateway. Authenticate with an API "
            "key; GET needs scope read, other methods write (admin includes write, write includes read). Errors "
            "are RFC 9457 problem+json.",
        },
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": SECURITY_SCHEMES},
        "security": [{"bearerAuth": []}, {"apiKeyHeader": []}],
        "tags": [],
    }
    schemas: dict[str, Any] = merged["components"]["schemas"]
    for service, document in documents.items():
        own = document.get("components", {}).get("schemas", {})
        renames = {
            name: f"{service.capitalize()}{name}"
            for name, schema in own.items()
            if name in schemas and json.dumps(schemas[name], sort_keys=True) != json.dumps(schema, sort_keys=True)
        }
        document = _rename_refs(copy.deepcopy(document), renames) if renames else document
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            schemas[renames.get(name, name)] = schema
        for path, operations in document.get("paths", {}).items():
            merged["paths"][path] = operations
        for tag in document.get("tags", []):
            merged["tags"].append(tag)
    if not merged["tags"]:
        del merged["tags"]
    return merged


class MergedOpenApi:
    """Fetches each service's document, merges them, and keeps the result for a while."""

    def __init__(self, cache_seconds: float, title: str = "Retention platform API", version: str = "0.1.0") -> None:
        self.cache_seconds = cache_seconds
        self.title = title
        self.version = version
        self._document: dict[str, Any] | None = None
        self._missing: list[str] = []
        self._routes: dict[str, Routes] = {}
        self._fetched_at = 0.0

    async def document(self, upstreams: dict[str, Upstream]) -> tuple[dict[str, Any], list[str]]:
        """The merged document and the services that could not be asked (their paths are missing)."""
        fresh = time.monotonic() - self._fetched_at < self.cache_seconds
        if self._document is not None and fresh and not self._missing:
            return self._document, []
        documents, missing = {}, []
        for name, upstream in upstreams.items():
            try:
                signed = {SIGNATURE_HEADER: upstream.signer.header("GET", "/openapi.json", None)}
                async with upstream.session.get(upstream.url("/openapi.json"), headers=signed) as response:
                    response.raise_for_status()
                    documents[name] = await response.json()
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                logger.warning("openapi of %s unavailable: %s", name, type(exc).__name__)
                missing.append(name)
        self._document = merge_documents(documents, title=self.title, version=self.version)
        self._routes = {name: route_table(document) for name, document in documents.items()}
        self._missing = missing
        self._fetched_at = time.monotonic()
        return self._document, missing

    async def allowed_methods(self, upstreams: dict[str, Upstream], service: str, path: str) -> list[str]:
        """The methods the API has for `path` (decoded, as routes match it) of `service`, as the `Allow` field of an
        OPTIONS answer lists them: HEAD wherever GET is (the gateway answers it), and OPTIONS. A 404 problem when
        no route has the path, a 503 when the service's document cannot be had."""
        # Another service being down does not make every OPTIONS fetch the documents again.
        if service not in self._routes or time.monotonic() - self._fetched_at >= self.cache_seconds:
            await self.document(upstreams)
        if service not in self._routes:
            raise ServiceUnavailable(
                f"The {service} service is unavailable; retry shortly.", headers={"Retry-After": "2"}
            )
        methods = {"OPTIONS"}
        for pattern, route_methods in self._routes.get(service, []):
            if pattern.fullmatch(path):
                methods |= route_methods
        if methods == {"OPTIONS"}:
            raise NotFound(f"No resource at {path}.")
        if "GET" in methods:
            methods.add("HEAD")
        return [method for method in _METHODS if method in methods]
