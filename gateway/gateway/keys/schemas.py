import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel


class Scope(StrEnum):
    """What a key may do. Each scope includes the ones before it: admin > write > read."""

    read = "read"
    write = "write"
    admin = "admin"

    @property
    def rank(self) -> int:
        return _SCOPE_RANKS[self]


_SCOPE_RANKS = {scope: rank for rank, scope in enumerate(Scope)}  # checked on every request: not a list per call


class ApiKey(BaseModel):
    """A key as listed: never the key itself, only its first characters."""

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[Scope]
    created_at: datetime
    revoked_at: datetime | None

    def grants(self, required: Scope) -> bool:
        return any(scope.rank >= required.rank for scope in self.scopes)


class CreatedApiKey(ApiKey):
    key: str
