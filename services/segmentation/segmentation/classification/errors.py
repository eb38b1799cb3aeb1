from servicekit.errors import NotFound


class RunNotFound(NotFound):
    def __init__(self, run_id: object) -> None:
        super().__init__(f"No segmentation run with id {run_id}.")
