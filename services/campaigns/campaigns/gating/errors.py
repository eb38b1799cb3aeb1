from typing import Any

from servicekit.errors import Conflict


class CapacityRefused(Conflict):
    """Approval refused: capacity cannot take the campaign's expected orders (or none of them). Nothing changed."""

    type = "https://docs.retention.example/problems/capacity-refused"

    def __init__(self, detail: str, figures: dict[str, Any]) -> None:
        super().__init__(detail, extra=figures)


class CapacityPlanRefused(Conflict):
    """Capacity refused to consider the plan at all (no baseline yet, weeks beyond its horizon)."""

    type = "https://docs.retention.example/problems/capacity-unavailable-for-plan"
