from servicekit.errors import NotFound


class ResourceNotFound(NotFound):
    type = "https://docs.retention.example/problems/resource-not-found"

    def __init__(self, key: str) -> None:
        super().__init__(f"No resource with key {key!r}.")
