"""The gateway's own Prometheus metrics, next to servicekit's http_requests_total and friends."""

from prometheus_client import Counter

RATE_LIMITED = Counter(
    "gateway_rate_limited_total",
    "Requests refused with a 429 because their key's bucket was empty, by the scope the request needed.",
    ["scope"],
)
RATE_LIMIT_FAIL_OPEN = Counter(
    "gateway_rate_limit_fail_open_total",
    "Requests let through without a rate-limit check because Redis could not be asked.",
)
