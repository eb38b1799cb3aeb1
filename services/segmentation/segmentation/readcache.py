"""What a read may keep in its process: rows that never change once they can be seen.

A run that succeeded, a classification basis (its id derives from its content) and the prediction terms of
a model (keyed by the model's own id) are written once and never updated, so a copy needs no invalidation and
every worker keeps its own. A profile read then costs one query instead of four (docs/benchmarks.md, Load).
"""

from __future__ import annotations

from itertools import islice
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class WriteOnceCache(Generic[K, V]):
    """A bounded map of values that never change for their key; past the bound the older half is dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        if len(self._items) >= self.limit:
            for old in list(islice(self._items, self.limit // 2)):  # dicts keep insertion order: oldest first
                del self._items[old]
        self._items[key] = value

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
