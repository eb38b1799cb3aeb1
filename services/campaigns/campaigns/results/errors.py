from servicekit.errors import Unprocessable


class UnknownMembers(Unprocessable):
    """Contacts or responses for customers who are not (included) members: nothing is recorded."""

    type = "https://docs.retention.example/problems/unknown-members"

    def __init__(self, ids: list[str], what: str, field: str) -> None:
        shown = ", ".join(repr(i) for i in ids[:20]) + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")
        super().__init__(f"{len(ids)} of the {what} name no {field}: {shown}. Nothing was recorded.", field=["body"])
        self.extra["unknown"] = ids[:1000]
