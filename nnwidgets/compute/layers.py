"""Layers of a model: finding one by name, running the model up to it, and its units.

Shared by every computation that reads or optimizes a layer's activations: the objective
options (:data:`OBJECTIVES`) and how each reduces an activation to one value per unit.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._inputs import check_model, conv_channels, int_tuple
from nnwidgets.compute._outputs import select_output

__all__ = [
    "OBJECTIVES",
    "check_position",
    "declared_input_size",
    "find_layer",
    "input_channels",
    "layer_units",
    "objectives_for",
    "resolve_objective",
    "run_layer",
    "unit_values",
]

#: What a unit's value is: "channel" (mean over space), "neuron" (one position), "linear" (a
#: feature of a flat layer), "logit" (a class score of the output); "auto" picks by shape.
OBJECTIVES = ("auto", "channel", "neuron", "linear", "logit")


class _Reached(Exception):
    """Raised by the capture hook to end a forward pass at the target layer."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value


def find_layer(model: nn.Module, layer: str | None) -> nn.Module:
    """Return the submodule named ``layer`` (``None`` or ``"output"``: the model itself)."""
    model = check_model(model)
    if layer is not None and not isinstance(layer, str):
        raise TypeError(
            f"layer must be a layer name (a str, as model.named_modules() names it) or None, "
            f"got {layer!r}"
        )
    if layer is None or layer == "output":
        return model
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        names = [n for n in modules if n]
        close = difflib.get_close_matches(layer, names, n=5, cutoff=0.4)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"model has no layer {layer!r}{hint} Layers are named as model.named_modules() "
            f"names them: {', '.join(names[:20])}{' ...' if len(names) > 20 else ''}"
        )
    return modules[layer]


@contextmanager
def _capture(model: nn.Module, layer: str | None) -> Iterator[Callable[[torch.Tensor], Any]]:
    """Yield ``run(x)``: the layer's output for input ``x`` (the forward stops there)."""
    module = find_layer(model, layer)

    def run(x: torch.Tensor) -> Any:
        if module is model:
            return model(x)

        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            raise _Reached(output)

        handle = module.register_forward_hook(hook)
        try:
            model(x)
        except _Reached as reached:
            return reached.value
        finally:
            handle.remove()
        raise RuntimeError(f"layer {layer!r} was not called by the model's forward pass")

    yield run


def resolve_objective(objective: str, layer: str | None, shape: Sequence[int]) -> str:
    """Return the objective that applies to a layer of activation ``shape`` per input.

    "auto" becomes "logit" at the output, "channel" for (C, H, W) activations, else "linear";
    an objective that does not fit the layer raises a ValueError.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    output = layer is None or layer == "output"
    if objective == "auto":
        return "logit" if output else ("channel" if len(shape) == 3 else "linear")
    if objective == "logit" and not output:
        raise ValueError(f"the 'logit' objective is for the model's output, not layer {layer!r}")
    if objective in ("channel", "neuron") and len(shape) != 3:
        raise ValueError(
            f"objective {objective!r} needs a layer with channels and spatial positions "
            f"(C, H, W); layer {layer!r} gives activations of shape {tuple(shape)} per input: "
            "use objective='linear'"
        )
    return objective


def objectives_for(layer: str | None, shape: Sequence[int]) -> tuple[str, ...]:
    """Return the objectives (other than "auto") that apply to a layer of activation ``shape``.

    The output takes "logit"; (C, H, W) activations "channel" and "neuron"; others "linear".
    """
    if layer is None or layer == "output":
        return ("logit",)
    return ("channel", "neuron") if len(shape) == 3 else ("linear",)


def unit_values(
    value: Any, objective: str, position: tuple[int, int] | None, output: Any
) -> torch.Tensor:
    """(N, units) objective values of every unit from a layer's output."""
    if objective == "logit":
        return select_output(value, output)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"the layer returned a {type(value).__name__}, not a tensor")
    if objective == "channel":
        return value.flatten(2).mean(2)
    if objective == "neuron":
        height, width = value.shape[2:]
        row, col = (height // 2, width // 2) if position is None else position
        if not (0 <= row < height and 0 <= col < width):
            raise ValueError(
                f"position {(row, col)} is outside the layer's {height}x{width} activation map"
            )
        return value[:, :, row, col]
    return value.flatten(1)


def input_channels(model: nn.Module) -> int:
    """Return the input channels a CNN expects: its first Conv2d's, else 3."""
    return conv_channels(model) or 3


def declared_input_size(model: nn.Module) -> tuple[int, int] | None:
    """Return the (height, width) of image the model declares it takes, or None.

    Read from the model's ``input_size`` attribute, (H, W) or (C, H, W) (as set on the shipped
    zoo models), else from timm's ``pretrained_cfg`` / ``default_cfg`` ``"input_size"``. A bare
    int is not read as an image size (MLPs and RNNs use ``input_size`` for a feature count).
    """
    candidates = [getattr(model, "input_size", None)]
    for attribute in ("pretrained_cfg", "default_cfg"):
        config = getattr(model, attribute, None)
        if isinstance(config, dict):
            candidates.append(config.get("input_size"))
    for declared in candidates:
        sides = declared if isinstance(declared, (tuple, list, torch.Size)) else ()
        if len(sides) in (2, 3) and all(type(v) is int and v > 0 for v in sides):
            return sides[-2], sides[-1]
    return None


def run_layer(model: nn.Module, layer: str | None, x: torch.Tensor) -> Any:
    """Return the output of ``layer`` on ``x`` (the forward pass stops there)."""
    with _capture(model, layer) as run:
        return run(x)


def layer_units(
    model: nn.Module, layer: str | None, input_shape: Sequence[int], *, output: Any = None
) -> tuple[int, tuple[int, ...]]:
    """Return the number of units of ``layer`` and its activation shape per input.

    Units are the channels of a (C, H, W) activation, or the features of a flat one; the
    model's output (``layer`` None or ``"output"``) has one unit per class score.
    """
    find_layer(model, layer)
    shape = int_tuple(input_shape, "input_shape")
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (C, H, W) of positive sizes, got {input_shape!r}")
    device = model_device(model) or torch.device("cpu")
    with borrowed_model(model) as borrowed, torch.inference_mode():
        try:
            value = run_layer(borrowed, layer, torch.zeros((1, *shape), device=device))
        except (RuntimeError, ValueError, TypeError) as error:
            raise ValueError(
                f"the model fails on an input of shape {(1, *shape)} (image size "
                f"{shape[-2]}x{shape[-1]}, {shape[0]} channels): {error}. Pass the size and "
                "channels the model expects (size=..., channels=...)."
            ) from error
    if layer is None or layer == "output":
        scores = select_output(value, output)
        return int(scores.shape[1]), tuple(scores.shape[1:])
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"layer {layer!r} returns a {type(value).__name__}, not a tensor")
    per_input = tuple(value.shape[1:])
    units = per_input[0] if len(per_input) == 3 else math.prod(per_input)
    return int(units), per_input


def check_position(position: Any) -> tuple[int, int] | None:
    """Check the (row, column) of a "neuron" objective; None stays None (the centre)."""
    if position is None:
        return None
    pair = int_tuple(position, "position")
    if len(pair) != 2 or min(pair) < 0:
        raise ValueError(f"position must be (row, column) of ints >= 0, got {position!r}")
    return pair  # type: ignore[return-value]
