"""The progress-and-stop protocol of long computations, typed in one place.

A long computation takes ``progress`` and ``should_stop`` keyword arguments:
``progress(done, total)`` is called after each chunk of work (``done`` grows to
``total``), and ``should_stop()`` is called before each chunk; when it returns True the
computation ends early and returns what it has so far (each function says what that is).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress", "ShouldStop"]

#: Called as ``progress(done, total)`` after each chunk; its return value is ignored.
Progress = Callable[[int, int], object]
#: Called before each chunk; True ends the computation early.
ShouldStop = Callable[[], bool]
