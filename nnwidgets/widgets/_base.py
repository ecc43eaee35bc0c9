"""Shared base of every nnwidgets widget: background work, progress, errors, message checks."""

from __future__ import annotations

import math
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import anywidget
import ipywidgets
import torch
from traitlets import Bool, Float, TraitError, Unicode, validate

from nnwidgets import colormaps
from nnwidgets._traits import Tensor
from nnwidgets.widgets._worker import Job, Worker

STATIC = Path(__file__).resolve().parent.parent / "static"

#: Seconds between two partial results pushed to the browser by long work.
PUSH_INTERVAL = 0.15


def bundle(name: str) -> Path:
    """Path of a built front-end file in ``nnwidgets/static``, with a clear error if missing."""
    path = STATIC / name
    if not path.exists():
        raise FileNotFoundError(
            f"the front-end bundle {path} is missing: this looks like a source checkout that was "
            "never built. Run `npm install && npm run build` in the repository "
            "(or `pip install -e .`)."
        )
    return path


def message(name: str, **fields: type) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Declare a handler for front-end messages ``{"type": name, **fields}`` with field types."""

    def decorate(handler: Callable[..., None]) -> Callable[..., None]:
        handler._nnw_message = (name, fields)  # type: ignore[attr-defined]
        return handler

    return decorate


def in_range(
    *names: str, low: float, high: float, low_open: bool = False, high_open: bool = False
) -> Any:
    """Build a trait validator that rejects values of ``names`` outside [low, high]."""

    def check(_widget: Any, proposal: dict) -> Any:
        value = proposal["value"]
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        if not (above and below):  # NaN fails both
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            name = proposal["trait"].name
            raise TraitError(f"{name} must be in {left}{low}, {high}{right}, got {value}")
        return value

    return validate(*names)(check)


def listed(name: str, choices: str, what: str) -> Any:
    """Build a trait validator that accepts only values of ``name`` listed in trait ``choices``.

    ``what`` names the value in the error, e.g. "unknown layer 'x'; choose one of [...]".
    """

    def check(widget: Any, proposal: dict) -> Any:
        options = getattr(widget, choices)
        if proposal["value"] not in options:
            raise TraitError(f"unknown {what} {proposal['value']!r}; choose one of {options}")
        return proposal["value"]

    return validate(name)(check)


def _check_field(key: str, value: Any, kind: type) -> None:
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise ValueError(f"field {key!r} must be {kind.__name__}, got {type(value).__name__}")
    if kind is float and not math.isfinite(value):
        raise ValueError(f"field {key!r} must be a finite number, got {value}")


def _as_trait_error(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Wrap a trait validator so that whatever it raises is a TraitError.

    traitlets rolls back a batch of writes (``hold_trait_notifications``, ``set_state``) only
    on a TraitError; any other exception would leave the rejected values in place.
    """

    def checked(owner: Any, proposal: Any) -> Any:
        try:
            return handler(owner, proposal)
        except TraitError:
            raise
        except Exception as error:
            raise TraitError(str(error)) from error

    return checked


class NNWidget(anywidget.AnyWidget):
    """Base widget: a worker thread with supersession, synced progress/busy/error, validation.

    Everything the front-end sends arrives either as a trait write, checked by the trait's
    validators, or as a message declared with :func:`message`, whose fields are type-checked.
    A rejected write or message sets :attr:`error` (shown in the widget) and the kernel goes on:
    whatever a handler or validator raises, nothing escapes into the kernel, and a rejected
    write is rolled back (all of a batch of writes, which are validated together: every
    validator sees the other values of the batch, not the old ones).
    """

    busy = Bool(False, help="Whether background work is running.").tag(sync=True)
    progress = Float(None, allow_none=True, help="Fraction done of the running work.").tag(
        sync=True
    )
    progress_label = Unicode("", help="What the running work is doing.").tag(sync=True)
    error = Unicode("", help="Last error, shown in the widget; empty when none.").tag(sync=True)
    colormap = Tensor(dtype=torch.uint8, ndim=2, help="(256, 3) RGB lookup table of the heat maps.")
    colormap_sequential = Tensor(
        dtype=torch.uint8, ndim=2, help="(256, 3) RGB lookup table of one-sided maps."
    )

    _handlers: ClassVar[dict[str, tuple[str, dict[str, type]]]] = {}
    #: True once the widget's constructor has finished. Observers and validators that need
    #: state a constructor sets after ``super().__init__`` do nothing until then (traits set
    #: by the constructor notify them before that state exists).
    _ready = False
    _worker: Worker | None = None  # None until the constructor made it
    _box: ipywidgets.Box | None = None  # the widget and its companions, when it has some
    _companions: tuple[ipywidgets.Widget, ...] = ()
    #: Traits the front-end may write (its controls); the others it only shows. "error" is
    #: cleared by the front-end's dismiss button.
    _settings: ClassVar[tuple[str, ...]] = ("error",)
    _kernel_owned: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers = dict(cls._handlers)
        for klass in (NNWidget, cls):  # the shared messages, then the widget's own
            for attribute, value in vars(klass).items():
                if hasattr(value, "_nnw_message"):
                    name, fields = value._nnw_message
                    handlers[name] = (attribute, fields)
        cls._handlers = handlers
        ours = set(cls.class_trait_names(sync=True)) - set(
            anywidget.AnyWidget.class_trait_names(sync=True)
        )
        cls._kernel_owned = frozenset(ours - set(NNWidget._settings) - set(cls._settings))

    def __init__(self, **traits: Any) -> None:
        self._worker = Worker(self._report_error, name=type(self).__name__)
        self._active: dict[str, int] = {}
        self._active_lock = threading.Lock()
        self._last_error: BaseException | None = None
        self._last_push = 0.0
        super().__init__(
            colormap=colormaps.lut(colormaps.DIVERGING),
            colormap_sequential=colormaps.lut(colormaps.SEQUENTIAL),
            **traits,
        )
        self.on_msg(self._handle_message)

    # -- messages and trait writes from the front-end -------------------------------------
    def _register_validator(self, handler: Callable[..., Any], names: tuple) -> None:
        super()._register_validator(_as_trait_error(handler), names)

    def _handle_message(self, _widget: Any, content: Any, buffers: Any) -> None:
        try:
            if not isinstance(content, dict) or not isinstance(content.get("type"), str):
                raise ValueError("a message must be an object with a string 'type'")
            kind = content["type"]
            if kind not in self._handlers:
                raise ValueError(f"unknown message type {kind!r}")
            attribute, fields = self._handlers[kind]
            payload = {k: v for k, v in content.items() if k != "type"}
            if set(payload) != set(fields):
                raise ValueError(
                    f"message {kind!r} needs fields {sorted(fields)}, got {sorted(payload)}"
                )
            for key, kind_type in fields.items():
                _check_field(key, payload[key], kind_type)
            getattr(self, attribute)(**payload)
        except (ValueError, TypeError, TraitError) as error:
            self.error = f"Rejected a message from the front-end: {error}"
        except Exception as error:  # a message never raises into the kernel's message loop
            self.error = f"The message failed: {type(error).__name__}: {error}"

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Apply a state update from the front-end; an invalid one is shown and rolled back.

        The update is applied as one batch (see ``hold_trait_notifications``): its values are
        validated together, after all of them are set, and if any is rejected, or anything
        fails on the way, every value of the batch goes back to what it was.
        """
        names = [key for key in sync_data if key in self.keys]
        before = {name: getattr(self, name) for name in names}
        try:
            shown = sorted(self._kernel_owned.intersection(names))
            if shown:
                raise TraitError(
                    f"{', '.join(map(repr, shown))} {'is' if len(shown) == 1 else 'are'} computed "
                    "by the kernel and cannot be set from the front-end"
                )
            for name in names:  # decode everything first: a malformed value changes nothing
                from_json = self.trait_metadata(name, "from_json", self._trait_from_json)
                from_json(sync_data[name], self)
            super().set_state(sync_data)
        except Exception as error:
            failures = self._roll_back(before)
            self.error = f"Rejected a value from the front-end: {error}{failures}"
            self.send_state(names)

    def _roll_back(self, values: dict[str, Any]) -> str:
        """Set traits back to ``values`` (those that still differ), observers included.

        Returns what failed on the way back, as text to add to the error ("" if nothing).
        """
        failures = ""
        for name, value in values.items():
            if getattr(self, name) is value:
                continue
            try:
                self.set_trait(name, value)
            except Exception as error:  # an observer of the old value failed: say so
                failures += f"; restoring {name!r} failed: {error}"
        return failures

    # -- background work -------------------------------------------------------------------
    def _run(self, channel: str, fn: Callable[[Job], None], *, priority: int = 0) -> None:
        """Run ``fn(job)`` on the worker, superseding earlier work on ``channel``."""

        def wrapped(job: Job) -> None:
            try:
                fn(job)
            finally:
                self._finish(channel, job.generation)

        with self._active_lock:
            self._active[channel] = self._worker.submit(channel, wrapped, priority=priority)
        self.error = ""
        self.busy = True

    def _cancel(self, channel: str) -> None:
        """Stop work on ``channel``; its partial results stay as they are."""
        with self._active_lock:
            self._worker.cancel(channel)
            self._active.pop(channel, None)
        self._settle()

    def _finish(self, channel: str, generation: int) -> None:
        with self._active_lock:
            if self._active.get(channel) == generation:
                del self._active[channel]
        self._settle()

    def _settle(self) -> None:
        if not self._active:
            with self.hold_sync():
                self.busy = False
                self.progress = None
                self.progress_label = ""

    def _report_progress(
        self, job: Job, done: int, total: int, label: str, *, force: bool = False
    ) -> bool:
        """Publish progress at most every PUSH_INTERVAL; return whether to push results now."""
        now = time.monotonic()
        if job.stale or (not force and now - self._last_push < PUSH_INTERVAL):
            return False
        self._last_push = now
        with self.hold_sync():
            self.progress = done / max(total, 1)
            self.progress_label = label
        return True

    def _report_error(self, channel: str, error: BaseException) -> None:
        self._last_error = error
        with self._active_lock:
            self._active.pop(channel, None)
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        self.error = detail
        self._settle()

    def stop(self) -> None:
        """Stop the background work; what it computed so far stays."""
        for channel in list(self._active):
            self._cancel(channel)

    @message("stop")
    def _on_stop(self) -> None:
        self.stop()

    def wait(self, timeout: float | None = None) -> None:
        """Block until background work ends; raise the error it ended with, if any."""
        if not self._worker.wait(timeout):
            raise TimeoutError(f"background work still running after {timeout} s")
        error, self._last_error = self._last_error, None
        if error is not None:
            raise error

    # -- companions: widgets shown below this one (e.g. bqplot charts) ----------------------
    def _show_with(
        self, *shown: ipywidgets.Widget, owned: tuple[ipywidgets.Widget, ...] = ()
    ) -> None:
        """Show ``shown`` below the widget, in one box; close them and ``owned`` with it."""
        self._companions = (*shown, *owned)
        self._box = ipywidgets.VBox([self, *shown])

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        if self._box is None:
            return super()._repr_mimebundle_(**kwargs)
        return self._box._repr_mimebundle_(**kwargs)

    def close(self) -> None:
        """Stop background work and close the widget (and its companions)."""
        if self._worker is not None:  # None when the constructor failed early
            self._worker.close()
        super().close()
        for part in (*self._companions, *([self._box] if self._box is not None else [])):
            part.close()
