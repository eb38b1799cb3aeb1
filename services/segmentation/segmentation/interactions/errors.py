from servicekit.errors import NotFound


class InteractionNotFound(NotFound):
    def __init__(self, external_id: str) -> None:
        super().__init__(f"No interaction with external_id {external_id!r}.")
