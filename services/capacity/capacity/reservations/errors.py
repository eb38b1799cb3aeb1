from typing import Any

from servicekit.errors import Conflict, NotFound


class ReservationNotFound(NotFound):
    type = "https://docs.retention.example/problems/reservation-not-found"

    def __init__(self, reservation_id: int) -> None:
        super().__init__(f"No reservation with id {reservation_id}.")


class ReservationStateConflict(Conflict):
    type = "https://docs.retention.example/problems/reservation-state"

    def __init__(self, reservation_id: int, state: str, action: str) -> None:
        super().__init__(f"Reservation {reservation_id} is {state}; it cannot be {action}.", extra={"state": state})


class InsufficientCapacity(Conflict):
    """Refused: a line does not fit (and allow_partial was not set), or nothing fits at all. Nothing is held."""

    type = "https://docs.retention.example/problems/insufficient-capacity"

    def __init__(self, detail: str, shortfalls: list[dict[str, Any]], would_fit: list[dict[str, Any]]) -> None:
        super().__init__(detail, extra={"shortfalls": shortfalls, "would_fit": would_fit})
