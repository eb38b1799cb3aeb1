from typing import Any

from servicekit.errors import Conflict, NotFound


class IncentiveNotFound(NotFound):
    type = "https://docs.retention.example/problems/incentive-not-found"

    def __init__(self, key: str) -> None:
        super().__init__(f"No incentive with key {key!r}.")


class LoyaltyRuleViolated(Conflict):
    """An offer to existing customers may never be worse than the same offer to new customers (seed 002)."""

    type = "https://docs.retention.example/problems/loyalty-rule"

    def __init__(self, detail: str, offer: str, new: dict[str, Any], existing: dict[str, Any] | None) -> None:
        super().__init__(detail, extra={"offer": offer, "new_customers": new, "existing_customers": existing})
