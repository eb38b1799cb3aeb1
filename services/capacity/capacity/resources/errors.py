from servicekit.errors import NotFound, Unprocessable


class ResourceNotFound(NotFound):
    type = "https://docs.retention.example/problems/resource-not-found"

    def __init__(self, key: str) -> None:
        super().__init__(f"No resource with key {key!r}.")


class UnknownResource(Unprocessable):
    """A resource named in a body or a filter that does not exist: the request refers to nothing."""

    type = "https://docs.retention.example/problems/resource-not-found"

    def __init__(self, key: str, field: list[str | int]) -> None:
        super().__init__(f"No resource with key {key!r}; create it with PUT /v1/capacity/resources/{key}.", field=field)


class CapacityExceptionNotFound(NotFound):
    def __init__(self, exception_id: int) -> None:
        super().__init__(f"No capacity exception with id {exception_id}.")
