"""Borrow the user's model for a computation and hand it back exactly as it was."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["borrowed_model", "model_device"]

# Every per-module dict a hook registration writes to. Handles share one id across the
# dicts of a family (e.g. a forward hook registered with kwargs sits in two of them).
_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)


@dataclass
class _Snapshot:
    """The user's state of one model, taken by its outermost borrow."""

    training: list[tuple[nn.Module, bool]]
    requires_grad: list[tuple[nn.Parameter, bool]]
    hook_keys: list[tuple[dict, frozenset]]
    no_hooks: list[dict]
    full_backward: list[tuple[nn.Module, bool | None]]

    @classmethod
    def take(cls, model: nn.Module) -> _Snapshot:
        modules = list(model.modules())  # one traversal: a borrow is taken per chunk of work
        hook_dicts = [getattr(m, name, None) for m in modules for name in _HOOK_DICTS]
        return cls(
            training=[(m, m.training) for m in modules],
            requires_grad=[
                (p, p.requires_grad)
                for m in modules
                for p in m._parameters.values()
                if p is not None
            ],
            hook_keys=[(d, frozenset(d)) for d in hook_dicts if d],
            no_hooks=[d for d in hook_dicts if isinstance(d, dict) and not d],
            full_backward=[(m, getattr(m, "_is_full_backward_hook", None)) for m in modules],
        )

    def restore(self) -> None:
        # Only touch what changed: a borrow is taken per chunk of work, so it must be cheap.
        for hooks in self.no_hooks:
            if hooks:
                hooks.clear()
        for hooks, keys in self.hook_keys:
            if len(hooks) != len(keys) or any(key not in keys for key in hooks):
                for key in [k for k in hooks if k not in keys]:
                    del hooks[key]
        for module, flag in self.full_backward:
            if getattr(module, "_is_full_backward_hook", None) is not flag:
                module._is_full_backward_hook = flag
        for module, training in self.training:
            if module.training != training:
                module.training = training
        for parameter, requires_grad in self.requires_grad:
            if parameter.requires_grad != requires_grad:
                parameter.requires_grad_(requires_grad)


@dataclass
class _Loan:
    """One model's lock, and the snapshot and depth of the borrows that hold it."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    snapshot: _Snapshot | None = None
    depth: int = 0


# One loan per model. Its re-entrant lock is held for the whole of a borrow, so borrows
# of one model from several threads (widgets compute in worker threads, and two widgets
# may show the same model) run one after the other: none restores the snapshot while
# another still has hooks or modes set, and none sees another's. Nested borrows in one
# thread share the outermost borrow's snapshot, restored when it ends.
_lock = threading.Lock()
_loans: weakref.WeakKeyDictionary[nn.Module, _Loan] = weakref.WeakKeyDictionary()


@contextmanager
def borrowed_model(model: nn.Module, *, eval: bool = True) -> Iterator[nn.Module]:
    """Use ``model`` for a computation, then give it back as the user left it.

    Inside the block the model is in eval mode (unless ``eval=False``). On exit,
    also after an exception, every submodule's train/eval flag and every parameter's
    ``requires_grad`` are restored, and every forward/backward hook registered inside
    the block is removed. Parameters and buffers are never written: run the model
    under :func:`torch.inference_mode` (eval mode keeps BatchNorm statistics still).

    A borrow holds the model's own re-entrant lock for the whole block: a borrow of the
    same model from another thread waits until this one ends (borrow per chunk of work,
    so that it waits for a chunk, and never hold a borrow across a ``yield``). Nested
    borrows in one thread share one snapshot, restored when the outermost one ends.

    Parameters
    ----------
    model : torch.nn.Module
        The user's model.
    eval : bool, default True
        Put the model in eval mode for the duration of the block.

    Yields
    ------
    torch.nn.Module
        ``model`` itself.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    with _lock:
        loan = _loans.get(model)
        if loan is None:
            loan = _loans[model] = _Loan()
    with loan.lock:
        if loan.depth == 0:
            loan.snapshot = _Snapshot.take(model)
        loan.depth += 1
        try:
            if eval and any(module.training for module, _ in loan.snapshot.training):
                model.eval()
            yield model
        finally:
            loan.depth -= 1
            if loan.depth == 0:
                snapshot, loan.snapshot = loan.snapshot, None
                snapshot.restore()


def model_device(model: nn.Module) -> torch.device | None:
    """Return the device of the model's first parameter or buffer (None if it has none).

    Parameters
    ----------
    model : torch.nn.Module
        The model.

    Returns
    -------
    torch.device or None
        Where the model's weights live.
    """
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return None
