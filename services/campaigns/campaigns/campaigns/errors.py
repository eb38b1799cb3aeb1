from servicekit.errors import Conflict, NotFound, Unprocessable


class CampaignNotFound(NotFound):
    type = "https://docs.retention.example/problems/campaign-not-found"

    def __init__(self, campaign_id: int) -> None:
        super().__init__(f"No campaign with id {campaign_id}.")


class CampaignStateConflict(Conflict):
    """The campaign is in a state from which the action is not possible."""

    type = "https://docs.retention.example/problems/campaign-state"

    def __init__(self, campaign_id: int, state: str, action: str, allowed: tuple[str, ...]) -> None:
        super().__init__(
            f"Campaign {campaign_id} is {state}; it can be {action} only when {' or '.join(allowed)}.",
            extra={"state": state, "allowed_states": list(allowed)},
        )


class CampaignNotPlannable(Conflict):
    """Something the plan needs is missing or no longer holds (a schedule, an incentive)."""

    type = "https://docs.retention.example/problems/campaign-not-plannable"


class UnknownIncentive(Unprocessable):
    type = "https://docs.retention.example/problems/unknown-incentive"

    def __init__(self, key: str, field: list[str | int]) -> None:
        super().__init__(f"No incentive with key {key!r}.", field=field)
