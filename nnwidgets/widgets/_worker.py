"""One background thread per widget that runs long work off the kernel's message loop.

Work is submitted on named channels. Each submission bumps its channel's generation, so the
newest request wins: a running job sees that it went stale at its next :meth:`Job.checkpoint`
and stops, and a queued job that was superseded never starts. A long job's checkpoints also run
queued jobs of higher priority (a click during a sweep is answered between two sweep chunks).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


class Superseded(Exception):
    """Raised inside a job whose request was replaced by a newer one or cancelled."""


@dataclass
class _Request:
    channel: str
    generation: int
    fn: Callable[[Job], None]
    priority: int


@dataclass
class Job:
    """Handle a running job uses to check whether it is still wanted."""

    worker: Worker
    channel: str
    generation: int
    priority: int
    _stop: bool = field(default=False, repr=False)

    @property
    def stale(self) -> bool:
        """Whether a newer request on this channel (or a cancel) superseded this job."""
        return self.worker.generation(self.channel) != self.generation

    def checkpoint(self) -> None:
        """Raise :class:`Superseded` if stale; otherwise run queued jobs of higher priority."""
        if self.stale:
            raise Superseded(self.channel)
        self.worker._run_pending(above=self.priority)
        if self.stale:
            raise Superseded(self.channel)


class Worker:
    """Runs submitted jobs one at a time on a daemon thread, newest request per channel first."""

    def __init__(
        self, on_error: Callable[[str, BaseException], None], name: str = "nnwidgets"
    ) -> None:
        self._on_error = on_error
        self._name = name
        self._lock = threading.Condition()
        self._generations: dict[str, int] = {}
        self._pending: dict[str, _Request] = {}
        self._running = 0
        self._thread: threading.Thread | None = None
        self._closed = False

    def generation(self, channel: str) -> int:
        """Return the current generation of ``channel``."""
        with self._lock:
            return self._generations.get(channel, 0)

    def submit(self, channel: str, fn: Callable[[Job], None], *, priority: int = 0) -> int:
        """Queue ``fn(job)`` on ``channel``, superseding earlier work; return its generation."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this widget was closed")
            generation = self._generations.get(channel, 0) + 1
            self._generations[channel] = generation
            self._pending[channel] = _Request(channel, generation, fn, priority)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._lock.notify_all()
            return generation

    def cancel(self, channel: str) -> None:
        """Supersede whatever runs or waits on ``channel`` without starting anything new."""
        with self._lock:
            self._generations[channel] = self._generations.get(channel, 0) + 1
            self._pending.pop(channel, None)
            self._lock.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job runs or waits; return False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending and not self._running, timeout)

    def close(self) -> None:
        """Cancel everything and let the thread end."""
        with self._lock:
            self._closed = True
            for channel in list(self._generations):
                self._generations[channel] += 1
            self._pending.clear()
            self._lock.notify_all()

    def _take(self, above: int | None) -> _Request | None:
        candidates = [r for r in self._pending.values() if above is None or r.priority > above]
        if not candidates:
            return None
        request = max(candidates, key=lambda r: r.priority)
        del self._pending[request.channel]
        return request

    def _run_pending(self, above: int) -> None:
        while True:
            with self._lock:
                request = self._take(above)
                if request is None:
                    return
                self._running += 1
            self._execute(request)

    def _execute(self, request: _Request) -> None:
        job = Job(self, request.channel, request.generation, request.priority)
        try:
            if not job.stale:
                request.fn(job)
        except Superseded:
            pass
        except BaseException as error:  # shown in the widget, never swallowed
            if not job.stale:
                self._on_error(request.channel, error)
        finally:
            with self._lock:
                self._running -= 1
                self._lock.notify_all()

    def _loop(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._pending or self._closed)
                if self._closed:
                    return
                request = self._take(None)
                self._running += 1
            self._execute(request)
