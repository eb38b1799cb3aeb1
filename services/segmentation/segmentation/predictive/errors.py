from servicekit.errors import Conflict, NotFound


class FitNotFound(NotFound):
    def __init__(self, fit_id: object) -> None:
        super().__init__(f"No predictive fit with id {fit_id}.")


class NoModelYet(NotFound):
    def __init__(self) -> None:
        super().__init__(
            "No predictive model has been fitted yet: POST /v1/segmentation/predictive/fits. A fit needs at least "
            "200 customers who bought more than once and 90 days of order history."
        )


class NoScoredRun(Conflict):
    type = "https://docs.retention.example/problems/no-predictive-model"

    def __init__(self) -> None:
        super().__init__(
            "No segmentation run has scored the customers with a predictive model yet: fit one "
            "(POST /v1/segmentation/predictive/fits), then run (POST /v1/segmentation/runs)."
        )
