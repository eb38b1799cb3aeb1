from servicekit.errors import NotFound


class FitNotFound(NotFound):
    def __init__(self, fit_id: object) -> None:
        super().__init__(f"No predictive fit with id {fit_id}.")


class NoModelYet(NotFound):
    def __init__(self) -> None:
        super().__init__(
            "No predictive model has been fitted yet: POST /v1/segmentation/predictive/fits. A fit needs at least "
            "200 customers who bought more than once and 90 days of order history."
        )
