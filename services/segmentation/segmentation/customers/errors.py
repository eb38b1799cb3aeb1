from servicekit.errors import NotFound


class CustomerNotFound(NotFound):
    type = "https://docs.retention.example/problems/customer-not-found"

    def __init__(self, external_id: str) -> None:
        super().__init__(f"No customer with external_id {external_id!r}.")
