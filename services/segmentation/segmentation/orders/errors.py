from servicekit.errors import NotFound


class OrderNotFound(NotFound):
    def __init__(self, external_id: str) -> None:
        super().__init__(f"No order with external_id {external_id!r}.")
