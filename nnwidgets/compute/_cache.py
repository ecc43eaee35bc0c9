"""A least-recently-used cache bounded by the bytes of the tensors its values hold.

Every cache of compiled or worked-out state in ``nnwidgets.compute`` (occlusion grids,
incremental plans and their index tables) is one of these, so that what a session keeps is
bounded in memory, not in a count of entries whose sizes differ by orders of magnitude.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import torch
from torch import fx, nn

__all__ = ["ByteCache", "tensor_bytes"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: Objects not walked into: a model's weights are the user's, not the cache's, and graph
#: nodes reach the whole traced model.
_OPAQUE = (nn.Module, fx.Node, fx.Graph, type)


def tensor_bytes(value: Any) -> int:
    """Return the bytes of the tensor storages a value holds, each storage counted once.

    Walks containers (dicts, lists, tuples, sets), :class:`ByteCache` entries and the
    attributes of plain objects (``__dict__``, cached properties included); modules and
    torch.fx graphs are not walked into.
    """
    seen: set[int] = set()
    storages: dict[tuple[torch.device, int], int] = {}
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            storages[item.device, storage.data_ptr()] = storage.nbytes()
            continue
        if id(item) in seen or isinstance(item, _OPAQUE):
            continue
        seen.add(id(item))
        if isinstance(item, ByteCache):
            stack.extend(item.values())
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif hasattr(item, "__dict__"):
            stack.extend(vars(item).values())
    return sum(storages.values())


class ByteCache(Generic[K, V]):
    """A thread-safe LRU mapping holding at most ``budget`` bytes of tensors.

    Values may grow after they are stored (cached properties, index tables made on first
    use), so every store measures all entries again before it evicts the least recently
    used ones until the total fits. A value larger than the whole budget is not kept.

    Parameters
    ----------
    budget : int
        Bytes the entries may hold together.
    size : callable, optional
        Bytes of one value; :func:`tensor_bytes` by default.
    """

    def __init__(self, budget: int, size: Callable[[V], int] = tensor_bytes) -> None:
        self.budget = budget
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._sizes: dict[K, int] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """Return the value stored under ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Store ``value`` under ``key``, then evict the oldest entries beyond the budget."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            for name, held in self._entries.items():
                self._sizes[name] = self._size(held)
            if self._sizes[key] > self.budget:
                self._pop(key)
            while sum(self._sizes.values()) > self.budget:
                self._pop(next(iter(self._entries)))

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """Return the value under ``key``, made with ``make()`` and stored if missing."""
        value = self.get(key)
        if value is None:
            value = make()  # outside the lock: making may take long
            self.put(key, value)
        return value

    @property
    def nbytes(self) -> int:
        """Bytes the entries held when last measured."""
        with self._lock:
            return sum(self._sizes.values())

    def values(self) -> list[V]:
        """Return the stored values, least recently used first."""
        with self._lock:
            return list(self._entries.values())

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _pop(self, key: K) -> None:
        del self._entries[key], self._sizes[key]
