"""A circuit breaker per service: stop calling a service that keeps failing, and try it again now and then.

Closed: calls go through; `failures` failed calls in a row open it. Open: every request is answered with a
503 at once, without calling the service, for `cooldown_seconds`. Then half-open: the next request is let
through as a probe while the others still get the 503; if the probe succeeds the breaker closes, if it
fails it opens again for another cool-down.

A failure is a call that could not connect, broke off or timed out, or that the service answered with 502,
503 or 504: the service is down, overloaded or stuck. A 500 is not: it is a bug on one route, and the
service's other routes still work. What to count is decided by the caller (`record`).

Each gateway process has its own breakers. All of this runs on one event loop with no await between a
check and its update, so no lock is needed.
"""

from __future__ import annotations

import math
import time
from enum import IntEnum

from gateway.metrics import CIRCUIT_BREAKER_REJECTED, CIRCUIT_BREAKER_STATE
from servicekit.errors import ServiceUnavailable


class State(IntEnum):
    """The values of the gateway_circuit_breaker_state gauge."""

    closed = 0
    half_open = 1
    open = 2


class CircuitBreaker:
    def __init__(self, name: str, failures: int, cooldown_seconds: float) -> None:
        self.name = name
        self.threshold = failures  # 0: never opens
        self.cooldown_seconds = cooldown_seconds
        self.state = State.closed
        self.failures = 0  # in a row, while closed
        self.opened_at = 0.0
        self.probing = False  # a half-open probe is under way
        CIRCUIT_BREAKER_STATE.labels(name).set(State.closed)

    def admit(self) -> bool:
        """Whether the call is the half-open probe; a 503 problem when the service must not be called now."""
        if self.state is State.closed:
            return False
        if self.state is State.open:
            waited = time.monotonic() - self.opened_at
            if waited < self.cooldown_seconds:
                self._reject(self.cooldown_seconds - waited)
            self._set(State.half_open)
        if self.probing:
            self._reject(1.0)
        self.probing = True
        return True

    def record(self, probe: bool, success: bool | None) -> None:
        """The outcome of an admitted call; None when it says nothing about the service (the caller went away)."""
        if probe:
            self.probing = False
            if success is None:
                return  # still half-open: the next request probes
            if success:
                self.failures = 0
                self._set(State.closed)
            else:
                self._open()
            return
        if self.state is not State.closed or success is None:
            return  # a call begun before the breaker opened says nothing the probe will not
        if success:
            self.failures = 0
        else:
            self.failures += 1
            if self.threshold and self.failures >= self.threshold:
                self._open()

    def _open(self) -> None:
        self.opened_at = time.monotonic()
        self.failures = 0
        self._set(State.open)

    def _set(self, state: State) -> None:
        self.state = state
        CIRCUIT_BREAKER_STATE.labels(self.name).set(state)

    def _reject(self, retry_after: float) -> None:
        CIRCUIT_BREAKER_REJECTED.labels(self.name).inc()
        raise ServiceUnavailable(
            f"The {self.name} service is failing; the gateway stops calling it for a moment. Retry shortly.",
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        )
