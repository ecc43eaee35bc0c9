"""A fingerprint of everything of a model that a borrower must leave as it found it."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["assert_same_fingerprint", "model_fingerprint"]


def _hook_dicts(module: nn.Module) -> dict[str, dict]:
    """Return every hook registry of ``module``, found by name.

    The fingerprint does not take the list :func:`~nnwidgets.compute.borrowed_model` restores
    on trust (tests/compute/test_guard.py checks that this one covers it).
    """
    return {
        name: value
        for name, value in vars(module).items()
        if name.endswith("hooks") or "_hooks_" in name
        if isinstance(value, dict)
    }


def model_fingerprint(model: nn.Module) -> dict[str, Any]:
    """Parameters and buffers (copies), train flags, ``requires_grad``, hook keys of ``model``."""
    return {
        "parameters": {k: v.detach().clone() for k, v in model.named_parameters()},
        "buffers": {k: v.detach().clone() for k, v in model.named_buffers()},
        "training": {k: m.training for k, m in model.named_modules()},
        "requires_grad": {k: v.requires_grad for k, v in model.named_parameters()},
        "hooks": {
            (k, name): list(hooks)
            for k, m in model.named_modules()
            for name, hooks in _hook_dicts(m).items()
        },
        "full_backward": {
            k: getattr(m, "_is_full_backward_hook", None) for k, m in model.named_modules()
        },
    }


def assert_same_fingerprint(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Assert bit-identical tensors, the same flags and the same hook keys."""
    for kind in ("parameters", "buffers"):
        assert before[kind].keys() == after[kind].keys()
        for name, tensor in before[kind].items():
            assert torch.equal(tensor, after[kind][name]), f"{kind[:-1]} {name} changed"
    for kind in ("training", "requires_grad", "hooks", "full_backward"):
        assert before[kind] == after[kind], f"{kind} changed"
