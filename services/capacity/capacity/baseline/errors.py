from servicekit.errors import Conflict, NotFound, ServiceUnavailable


class BaselineMissing(Conflict):
    type = "https://docs.retention.example/problems/baseline-missing"

    def __init__(self) -> None:
        super().__init__(
            "There is no baseline forecast yet, so the existing customers' demand is unknown: POST "
            "/v1/capacity/baseline/refresh computes one from the segmentation service (the service also tries "
            "on its own every CAPACITY_MAINTENANCE_INTERVAL_SECONDS)."
        )


class BaselineUnavailable(ServiceUnavailable):
    type = "https://docs.retention.example/problems/baseline-unavailable"

    def __init__(self, why: str) -> None:
        super().__init__(f"The baseline could not be computed: {why}", headers={"Retry-After": "10"})


class AdjustmentNotFound(NotFound):
    def __init__(self, adjustment_id: int) -> None:
        super().__init__(f"No baseline adjustment with id {adjustment_id}.")
