"""How long work takes: the time left of iterative work and its wording, and best-of timing."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["StepTimer", "about", "best_of"]


class StepTimer:
    """Estimate the seconds left of ``steps`` equal steps from the pace of those done.

    The first step is left out of the pace (it pays for warm-up: allocation, autotuning), so
    there is an estimate from the end of the second step on.
    """

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self._first: float | None = None  # when the first step ended
        self._step = 0

    def tick(self, step: int) -> None:
        """Record that ``step`` (1-based) has ended."""
        if self._first is None:
            self._first = time.monotonic()
        self._step = step

    def seconds_per_step(self) -> float | None:
        """Mean seconds of a step after the first; None before the second step ends."""
        if self._first is None or self._step < 2:
            return None
        return (time.monotonic() - self._first) / (self._step - 1)

    def remaining(self) -> float | None:
        """Seconds left until the last step ends; None until there is a pace to go by."""
        pace = self.seconds_per_step()
        return None if pace is None else pace * (self.steps - self._step)


def about(seconds: float) -> str:
    """Word a duration roughly: "under a second", "about 40 s", "about 3 min", "about 1.5 h"."""
    if seconds < 1:
        return "under a second"
    if seconds < 10:
        return f"about {round(seconds)} s"
    if seconds < 90:
        return f"about {5 * round(seconds / 5)} s"
    if seconds < 5400:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


def best_of(fn: Callable[[], object], repeat: int = 3, *, enough: float | None = None) -> float:
    """Return the seconds of the quickest of ``repeat`` calls of ``fn``.

    The quickest is the least disturbed on a busy machine. With ``enough``, stop repeating
    once a call took longer than that.
    """
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
        if enough is not None and best > enough:
            break
    return best
