"""The gateway's own Prometheus metrics, next to servicekit's http_requests_total and friends."""

from prometheus_client import Counter, Gauge, Histogram

RATE_LIMITED = Counter(
    "gateway_rate_limited_total",
    "Requests refused with a 429 because their key's bucket was empty, by the scope the request needed.",
    ["scope"],
)
RATE_LIMIT_FAIL_OPEN = Counter(
    "gateway_rate_limit_fail_open_total",
    "Requests let through without a rate-limit check because Redis could not be asked.",
)
UPSTREAM_DURATION = Histogram(
    "gateway_upstream_request_duration_seconds",
    "Time from sending a request to a service until its response headers arrived or the attempt failed, per attempt.",
    ["upstream"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
)
UPSTREAM_ERRORS = Counter(
    "gateway_upstream_errors_total",
    "Attempts to call a service that failed, by reason: connect_error, connect_timeout, read_timeout, "
    "disconnected, protocol_error, http_502, http_503, http_504.",
    ["upstream", "reason"],
)
UPSTREAM_RETRIES = Counter(
    "gateway_upstream_retries_total",
    "Requests sent to a service again after a failed attempt.",
    ["upstream"],
)
CIRCUIT_BREAKER_STATE = Gauge(
    "gateway_circuit_breaker_state",
    "State of a service's circuit breaker: 0 closed, 1 half-open, 2 open.",
    ["upstream"],
)
CIRCUIT_BREAKER_REJECTED = Counter(
    "gateway_circuit_breaker_rejected_total",
    "Requests answered with a 503 at once, without calling the service, because its breaker was open.",
    ["upstream"],
)
AUTH_FAILURES = Counter(
    "gateway_auth_failures_total",
    "Requests refused for their API key, by reason: missing (401), invalid (401: malformed, unknown or revoked), "
    "throttled (429: their address presented too many unknown keys).",
    ["reason"],
)
KEY_LOOKUPS = Counter(
    "gateway_api_key_lookups_total",
    "API keys looked up in the database (neither cached as known nor remembered as unknown), by result: found, "
    "unknown.",
    ["result"],
)
