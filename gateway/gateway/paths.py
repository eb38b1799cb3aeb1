"""Callers see only the gateway's paths: it refuses paths no service route can have, and never hands out a
service's own address (in `Location`, `Content-Location` or `Link`), which would lead around the key check and
the rate limits."""

from __future__ import annotations

import re

from yarl import URL

from servicekit.errors import NotFound

# Response fields whose value is a URI reference, and `Link`, whose value holds several in angle brackets.
URL_FIELDS = frozenset({"location", "content-location"})
LINK_FIELD = "link"
_LINK_VALUES = re.compile(r",\s*(?=<)")  # a comma before `<` starts the next link-value (RFC 8288)
_LINK_VALUE = re.compile(r"\s*<([^>]*)>(.*)", re.DOTALL)


def check_path(raw_path: str, service: str) -> None:
    """A 404 problem for a path with a trailing slash or an empty segment: no route has one, and the gateway
    answers for it itself rather than pass on a service's answer. `raw_path` is still percent-encoded, so an id
    ending in `%2F` is not refused."""
    root = f"/v1/{service}"
    if raw_path.endswith("/"):
        stripped = raw_path.rstrip("/")
        hint = f"; did you mean {stripped}?" if stripped != root else f"; /openapi.json lists the paths of {service}."
        raise NotFound(f"No resource at {raw_path}: paths never end with a slash{hint}")
    if "//" in raw_path:
        raise NotFound(f"No resource at {raw_path}: a path has no empty segments (//).")


def _origin(url: URL) -> tuple[str, int | None]:
    return (url.host or "").lower(), url.port


class UpstreamUrls:
    """Turns URLs that point at a service's own address into the gateway's path for the same resource."""

    def __init__(self, base_urls: dict[str, str]) -> None:
        # (host, port) -> the path the service's base URL starts with, and the prefix of its API's paths.
        self._services: dict[tuple[str, int | None], tuple[str, str]] = {}
        for name, base_url in base_urls.items():
            url = URL(base_url)
            base_path = url.raw_path.rstrip("/")
            self._services[_origin(url)] = (base_path, f"/v1/{name}/")

    def rewrite(self, value: str) -> str | None:
        """`value` with a service's address replaced by the gateway's path; None when it points at a service
        outside the API (its probes, its metrics): such a field is dropped. Other values are returned as they
        are: relative references (the services answer with those) and URLs of other hosts."""
        try:
            url = URL(value.strip(), encoded=True)
        except ValueError:
            return value
        if url.host is None:
            return value
        service = self._services.get(_origin(url))
        if service is None:
            return value
        base_path, api_prefix = service
        path = url.raw_path_qs
        if not path.startswith(base_path):
            return None
        path = path[len(base_path) :]
        if not path.startswith(api_prefix):
            return None
        return path + (f"#{url.raw_fragment}" if url.raw_fragment else "")

    def rewrite_link(self, value: str) -> str | None:
        """A `Link` field with each service URL rewritten, and each link to a service outside the API left out;
        None when no link is left."""
        links = []
        for link in _LINK_VALUES.split(value):
            match = _LINK_VALUE.match(link)
            if match is None:
                links.append(link)
                continue
            target = self.rewrite(match.group(1))
            if target is not None:
                links.append(f"<{target}>{match.group(2)}")
        return ", ".join(links) if links else None

    def returned(self, name: str, value: str) -> str | None:
        """What the caller gets for a service's response field `name` (lower case): the value, rewritten, or None
        to drop the field."""
        if name in URL_FIELDS:
            return self.rewrite(value)
        if name == LINK_FIELD:
            return self.rewrite_link(value)
        return value
