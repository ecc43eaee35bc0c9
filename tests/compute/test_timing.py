"""best_of (compute/_timing.py): the quickest call, and an early stop for slow work."""

from __future__ import annotations

from nnwidgets.compute._timing import best_of


def test_best_of_counts_calls_and_stops_once_enough():
    calls = []
    assert best_of(lambda: calls.append(1), 4) >= 0
    assert len(calls) == 4
    calls.clear()
    best_of(lambda: calls.append(1), 4, enough=-1.0)  # every call takes longer than that
    assert len(calls) == 1
