"""Fixtures shared by every test ring: the model-untouched fingerprint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

#: Every per-module dict a hook registration writes to (borrowed_model restores each of them;
#: tests/compute/test_guard.py checks that this list covers its own).
HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)


def model_fingerprint(model: nn.Module) -> dict[str, Any]:
    """Everything of a model that a borrower must leave as it found it."""
    return {
        "parameters": {k: v.detach().clone() for k, v in model.named_parameters()},
        "buffers": {k: v.detach().clone() for k, v in model.named_buffers()},
        "training": {k: m.training for k, m in model.named_modules()},
        "requires_grad": {k: v.requires_grad for k, v in model.named_parameters()},
        "hooks": {
            (k, name): list(getattr(m, name))
            for k, m in model.named_modules()
            for name in HOOK_DICTS
        },
        "full_backward": {
            k: getattr(m, "_is_full_backward_hook", None) for k, m in model.named_modules()
        },
    }


def assert_same_fingerprint(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Bit-identical tensors, same flags, same hook keys."""
    for kind in ("parameters", "buffers"):
        assert before[kind].keys() == after[kind].keys()
        for name, tensor in before[kind].items():
            assert torch.equal(tensor, after[kind][name]), f"{kind[:-1]} {name} changed"
    for kind in ("training", "requires_grad", "hooks", "full_backward"):
        assert before[kind] == after[kind], f"{kind} changed"


@pytest.fixture
def fingerprint() -> Callable[[nn.Module], dict[str, Any]]:
    return model_fingerprint


@pytest.fixture
def same_fingerprint() -> Callable[[dict[str, Any], dict[str, Any]], None]:
    return assert_same_fingerprint
