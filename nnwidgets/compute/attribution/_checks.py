"""Checks of the arguments every attribution method takes, in one place.

Tensors and counts go through the shared input checks of ``nnwidgets/compute/_inputs.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nnwidgets.compute._inputs import check_int, check_tensor
from nnwidgets.compute.layers import find_layer
from nnwidgets.compute.occlusion import Target
from nnwidgets.compute.occlusion import _check_target as check_target


def check_float(x: object, name: str) -> torch.Tensor:
    """Return ``x`` if it is a non-empty, finite, floating-point tensor."""
    return check_tensor(x, name)


def positive_int(value: object, name: str) -> int:
    """Return ``value`` if it is an int of at least 1 (bools refused)."""
    return check_int(value, name, low=1)


__all__ = [
    "Target",
    "check_batch",
    "check_float",
    "check_layer",
    "check_target",
    "positive_int",
    "resolve_targets",
]


def check_batch(x: object, name: str = "x", *, min_ndim: int = 2) -> torch.Tensor:
    """Return ``x`` if it is a float batch, batch dimension first, of at least ``min_ndim`` dims."""
    x = check_float(x, name)
    if x.ndim < min_ndim:
        example = "(N, C, H, W)" if min_ndim >= 4 else "(N, ...)"
        raise ValueError(
            f"{name} has shape {tuple(x.shape)}; it needs a batch dim first, e.g. {example}; "
            f"for one input pass {name}[None]"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)})")
    return x


def resolve_targets(targets: Sequence[int] | None, scores: torch.Tensor) -> torch.Tensor:
    """One target index per row of ``scores`` (None: each row's predicted class), checked."""
    k = scores.shape[1]
    if targets is None:
        return scores.detach().argmax(1)
    for t in targets:
        if not 0 <= t < k:
            raise ValueError(
                f"target {t} is out of range: the model gives K={k} scores per input, "
                f"so targets must lie in 0..{k - 1}"
            )
    return torch.tensor(list(targets), dtype=torch.long, device=scores.device)


def check_layer(model: nn.Module, layer: str | nn.Module | None, method: str) -> nn.Module:
    """Return the submodule ``layer`` names (a name or one of the model's own modules)."""
    if layer is None:
        raise ValueError(f"method {method!r} needs a layer: pass layer='name' (e.g. a conv layer)")
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ValueError(f"layer {type(layer).__name__} is not a submodule of the model")
        return layer
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a layer name or a submodule, got {type(layer).__name__}")
    if layer in ("", "output"):
        raise ValueError(f"method {method!r} needs an inner layer, not the model's output")
    return find_layer(model, layer)
