from servicekit.errors import AppError, Conflict, NotFound


class ImportNotFound(NotFound):
    def __init__(self, import_id: object) -> None:
        super().__init__(f"No import with id {import_id}.")


class ImportInProgress(Conflict):
    def __init__(self, key: str) -> None:
        super().__init__(f"An import with Idempotency-Key {key!r} is still running; poll it instead of resending.")


class UnsupportedMediaType(AppError):
    status = 415
    title = "Unsupported Media Type"


class UnreadableFile(AppError):
    """The file as a whole cannot be read (bad header, broken CSV quoting, not UTF-8): nothing is imported."""

    status = 422
    title = "Unprocessable Content"


class ImportGivenUp(Conflict):
    """The job was ended while its import still ran (it outlived SEGMENTATION_IMPORT_STALE_AFTER_SECONDS)."""

    def __init__(self) -> None:
        super().__init__(
            "The import ran longer than the service waits for one and was given up meanwhile; nothing was "
            "imported. Send the file again."
        )
