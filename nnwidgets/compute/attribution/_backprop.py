"""One forward and backward pass: the gradient of each input's target score."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._outputs import OutputSelector, run_model
from nnwidgets.compute.attribution._checks import resolve_targets

__all__ = ["Backprop", "backprop", "model_scores"]


@dataclass
class Backprop:
    """What one pass gives: gradients with respect to the input and, if asked, a layer."""

    input_grad: torch.Tensor
    """d score[target] / d x, shaped like x, on the model's device."""
    targets: torch.Tensor
    """(N,) the target index of each input."""
    layer_value: torch.Tensor | None = None
    """The layer's output in the pass (``layer`` given)."""
    layer_grad: torch.Tensor | None = None
    """d score[target] / d layer output (``layer`` given)."""
    saved_bytes: int = 0
    """Bytes of activations autograd kept for the backward pass (``count_saved``)."""


class _LayerCapture:
    """A forward hook that keeps a layer's output; the model continues with a copy.

    As Captum does: the kept tensor is what the layer returned, so an in-place operation
    downstream (``nn.ReLU(inplace=True)``) does not change it.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.value: torch.Tensor | None = None
        self.calls = 0

    def __call__(self, _module: nn.Module, _inputs: Any, output: Any) -> torch.Tensor:
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"layer {self.name} returns a {type(output).__name__}, not a tensor; "
                "choose a layer that returns one tensor"
            )
        self.calls += 1
        self.value = output
        return output.clone()


@contextmanager
def _captured(model: nn.Module, layer: nn.Module | None) -> Iterator[_LayerCapture | None]:
    if layer is None:
        yield None
        return
    name = next((n for n, m in model.named_modules() if m is layer), type(layer).__name__)
    capture = _LayerCapture(repr(name))
    handle = layer.register_forward_hook(capture)
    try:
        yield capture
    finally:
        handle.remove()
    if capture.calls == 0:
        raise ValueError(f"layer {capture.name} was not called by the model's forward pass")
    if capture.calls > 1:
        raise ValueError(
            f"layer {capture.name} runs {capture.calls} times in one forward pass; its map "
            "would be ambiguous: choose a layer that runs once"
        )


class _SavedBytes:
    """Count the bytes autograd saves for backward, leaving out the model's parameters."""

    def __init__(self, model: nn.Module) -> None:
        self.skip = {p.data_ptr() for p in model.parameters()}
        self.seen: set[int] = set()
        self.total = 0

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        ptr = tensor.data_ptr()
        if ptr not in self.skip and ptr not in self.seen:
            self.seen.add(ptr)
            self.total += tensor.untyped_storage().nbytes()
        return tensor

    @staticmethod
    def unpack(tensor: torch.Tensor) -> torch.Tensor:
        return tensor


def backprop(
    model: nn.Module,
    x: torch.Tensor,
    targets: Sequence[int] | None,
    output: OutputSelector = None,
    *,
    layer: nn.Module | None = None,
    rules: AbstractContextManager[Any] | None = None,
    count_saved: bool = False,
) -> Backprop:
    """Return the gradient of each input's target score, the model borrowed and untouched.

    Parameters
    ----------
    model : torch.nn.Module
        The user's model (eval mode for the pass; parameters do not require grad).
    x : torch.Tensor
        A float batch, batch dim first; it is copied, never written.
    targets : sequence of int or None
        One score index per input; None: each input's predicted class.
    output : int, str, callable or None
        Output selector, see :func:`nnwidgets.compute.select_output`.
    layer : torch.nn.Module, optional
        Also return this layer's output and its gradient.
    rules : context manager, optional
        Entered around the forward pass only (e.g. modified ReLU backward rules).
    count_saved : bool
        Count the bytes of activations kept for the backward pass.

    Returns
    -------
    Backprop
        Gradients on the model's device.
    """
    device = model_device(model) or x.device
    counter = _SavedBytes(model) if count_saved else None
    hooks = (
        torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack)
        if counter is not None
        else nullcontext()
    )
    with borrowed_model(model), torch.inference_mode(False), torch.enable_grad():
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        leaf = x.detach().to(device).clone().requires_grad_(True)
        with _captured(model, layer) as capture, rules or nullcontext(), hooks:
            scores = run_model(model, leaf, output)
        chosen = resolve_targets(targets, scores)
        if not scores.requires_grad:
            raise ValueError(
                "the model's scores do not depend on its input through autograd (does its "
                "forward detach, or run under torch.no_grad?); gradient methods need a "
                "differentiable forward"
            )
        wanted = [leaf] if capture is None else [leaf, capture.value]
        grads = torch.autograd.grad(
            scores.gather(1, chosen[:, None]).sum(), wanted, allow_unused=True
        )
    grads = [torch.zeros_like(w) if g is None else g for g, w in zip(grads, wanted, strict=True)]
    return Backprop(
        input_grad=grads[0],
        targets=chosen,
        layer_value=None if capture is None else capture.value.detach(),
        layer_grad=None if capture is None else grads[1],
        saved_bytes=0 if counter is None else counter.total,
    )


def model_scores(model: nn.Module, x: torch.Tensor, output: OutputSelector = None) -> torch.Tensor:
    """Return the model's (N, K) scores on ``x`` (inference mode, model borrowed)."""
    device = model_device(model) or x.device
    with borrowed_model(model), torch.inference_mode():
        scores = run_model(model, x.to(device), output)
    return scores.clone()
