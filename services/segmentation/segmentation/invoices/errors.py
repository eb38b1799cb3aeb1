from servicekit.errors import NotFound


class InvoiceNotFound(NotFound):
    def __init__(self, external_id: str) -> None:
        super().__init__(f"No invoice with external_id {external_id!r}.")
