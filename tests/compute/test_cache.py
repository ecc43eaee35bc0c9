from __future__ import annotations

import functools
import threading

import pytest
import torch
from torch import nn

from nnwidgets.compute._cache import ByteCache, tensor_bytes


def floats(n: int) -> torch.Tensor:
    return torch.zeros(n, dtype=torch.float32)  # 4 * n bytes


def test_tensor_bytes_counts_each_storage_once():
    a = floats(100)
    assert tensor_bytes(a) == 400
    assert tensor_bytes([a, a[10:], a.view(10, 10)]) == 400  # views share the storage
    assert tensor_bytes({"x": a, "y": (floats(25),)}) == 500


def test_tensor_bytes_walks_objects_and_cached_properties():
    class Holder:
        def __init__(self) -> None:
            self.table = floats(10)
            self.again = self  # cycles end

        @functools.cached_property
        def big(self) -> torch.Tensor:
            return floats(1000)

    holder = Holder()
    assert tensor_bytes(holder) == 40
    holder.big  # noqa: B018
    assert tensor_bytes(holder) == 4040


def test_tensor_bytes_skips_modules():
    model = nn.Linear(100, 100)
    assert tensor_bytes({"model": model, "x": floats(5)}) == 20


def test_evicts_least_recently_used_by_bytes():
    cache: ByteCache[str, torch.Tensor] = ByteCache(budget=1000)
    cache.put("a", floats(100))
    cache.put("b", floats(100))
    cache.put("c", floats(50))
    assert cache.nbytes == 1000 and len(cache) == 3
    assert cache.get("a") is not None  # a is now the most recent; b the oldest
    cache.put("d", floats(1))
    assert "b" not in cache and {"a", "c", "d"} <= {k for k in "abcd" if k in cache}
    assert cache.nbytes == 604


def test_many_small_entries_stay():
    cache: ByteCache[int, torch.Tensor] = ByteCache(budget=1000)
    for i in range(200):
        cache.put(i, floats(1))
    assert len(cache) == 200  # an entry count would have cut these; bytes do not


def test_entry_larger_than_budget_is_not_kept_and_evicts_nothing():
    cache: ByteCache[str, torch.Tensor] = ByteCache(budget=1000)
    cache.put("small", floats(10))
    cache.put("huge", floats(1000))
    assert "huge" not in cache and "small" in cache
    assert cache.get_or_make("huge", lambda: floats(1000)).numel() == 1000
    assert "huge" not in cache


def test_growth_after_store_is_measured_at_the_next_store():
    cache: ByteCache[str, dict] = ByteCache(budget=1000)
    tables: dict = {}
    cache.put("grows", tables)
    cache.put("other", {"x": floats(10)})
    tables["index"] = floats(250)  # filled after it was stored
    cache.put("new", {"x": floats(10)})
    assert "grows" not in cache and cache.nbytes == 80


def test_get_or_make_makes_once():
    cache: ByteCache[str, list] = ByteCache(budget=10)
    calls = []
    first = cache.get_or_make("k", lambda: calls.append(1) or [1])
    assert cache.get_or_make("k", lambda: calls.append(1) or [2]) is first
    assert calls == [1]


def test_threads_share_one_cache():
    cache: ByteCache[int, torch.Tensor] = ByteCache(budget=4000)

    def work(start: int) -> None:
        for i in range(start, start + 200):
            cache.put(i % 50, floats(10))
            cache.get((i * 7) % 50)

    threads = [threading.Thread(target=work, args=(k * 200,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.nbytes <= 4000 and len(cache) == cache.nbytes // 40


@pytest.mark.parametrize("budget", [0, 39])
def test_budget_below_one_entry_keeps_nothing(budget):
    cache: ByteCache[str, torch.Tensor] = ByteCache(budget=budget)
    cache.put("a", floats(10))
    assert len(cache) == 0 and cache.nbytes == 0
