"""A small thread-safe least-recently-used map: per-bot state that cannot grow without bound.

The sidecar keeps some state per bot id (context engines, locks, parsed-evidence caches, memo
entries). Keyed by ids that arrive with requests, a plain dict grows with every distinct id ever
seen; this map keeps the ``capacity`` most recently used and drops the rest (they are rebuilt
from Redis on their next use).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("an LRU map needs a capacity of at least 1")
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def get_or_create(self, key: K, create: Callable[[], V]) -> V:
        """The value of ``key``, made by ``create()`` (under the map's lock) when absent."""
        with self._lock:
            value = self._items.get(key)
            if value is None:
                value = create()
                self._store(key, value)
            else:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._store(key, value)

    def _store(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items
