"""Deconvnet and guided backpropagation: the gradient with modified ReLU backward rules.

Supported ReLU forms: ``nn.ReLU`` modules (also ``inplace=True`` and subclasses, as
Captum hooks them) and the functional calls ``F.relu`` (also ``inplace=True``),
``F.relu_``, ``torch.relu``, ``torch.relu_``, ``Tensor.relu`` and ``Tensor.relu_``,
which Captum does not see. Every such call in the forward pass runs through a ReLU
with its own backward rule (a ``torch.overrides.TorchFunctionMode``, active for that
forward pass only, in that thread only; the model gets no hooks):

- deconvnet (Zeiler & Fergus): the gradient passed down is ``relu(grad_output)``;
- guided backprop (Springenberg et al.): ``relu(grad_output * (output > 0))``.

These are Captum's ``Deconvolution`` and ``GuidedBackprop`` rules. One difference:
Captum rewrites the whole gradient of a ReLU's input tensor, so where that tensor is
also used elsewhere (a skip connection taken before the ReLU) its numbers mix in the
other uses; here each ReLU call's own gradient is ruled, as the papers define it.

Rectifiers that are not plain ReLUs (``nn.ReLU6``, ``nn.LeakyReLU``, ``nn.PReLU``,
``nn.RReLU``, ``nn.Hardtanh``, ``nn.Threshold``, their functional forms, and
``clamp(min=0)``), and TorchScript modules (whose ReLUs cannot be seen) raise a
ValueError by default: Captum silently gives them their ordinary gradient, which is
what ``unsupported="gradient"`` does. Smooth activations (GELU, SiLU, ELU, tanh...)
are not rectifiers and keep their ordinary gradient, as in Captum.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from nnwidgets.compute._outputs import OutputSelector
from nnwidgets.compute.attribution._backprop import backprop
from nnwidgets.compute.attribution._checks import Target, check_target

__all__ = ["RULES", "UNSUPPORTED", "deconvnet", "guided_backprop", "relu_rules"]

RULES = ("deconvnet", "guided_backprop")
UNSUPPORTED = ("raise", "gradient")

_RELU = {F.relu, torch.relu, torch.Tensor.relu}
_RELU_INPLACE = {F.relu_, torch.relu_, torch.Tensor.relu_}
_RECTIFIER_CALLS = {
    F.relu6: "F.relu6",
    F.hardtanh: "F.hardtanh",
    F.hardtanh_: "F.hardtanh_",
    F.leaky_relu: "F.leaky_relu",
    F.leaky_relu_: "F.leaky_relu_",
    F.prelu: "F.prelu",
    F.rrelu: "F.rrelu",
    F.rrelu_: "F.rrelu_",
    F.threshold: "F.threshold",
    F.threshold_: "F.threshold_",
    torch.threshold: "torch.threshold",
}
_CLAMPS = {
    torch.clamp: "torch.clamp",
    torch.clip: "torch.clip",
    torch.clamp_min: "torch.clamp_min",
    torch.Tensor.clamp: "Tensor.clamp",
    torch.Tensor.clip: "Tensor.clip",
    torch.Tensor.clamp_: "Tensor.clamp_",
    torch.Tensor.clamp_min: "Tensor.clamp_min",
    torch.Tensor.clamp_min_: "Tensor.clamp_min_",
}
_RECTIFIER_MODULES = (nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.Hardtanh, nn.Threshold)


class _RuledReLU(torch.autograd.Function):
    """ReLU forward; deconvnet or guided-backprop backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, rule: str, inplace: bool) -> torch.Tensor:
        out = x.relu_() if inplace else x.relu()
        if inplace:
            ctx.mark_dirty(x)
        ctx.rule = rule
        if rule == "guided_backprop":
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        if ctx.rule == "guided_backprop":
            (out,) = ctx.saved_tensors
            grad = torch.where(out > 0, grad, 0)
        return grad.clamp_min(0), None, None


def _clamps_at_zero(args: tuple, kwargs: dict) -> bool:
    low = kwargs.get("min", args[1] if len(args) > 1 else None)
    high = kwargs.get("max", args[2] if len(args) > 2 else None)
    return high is None and isinstance(low, (int, float)) and low == 0


def _refuse(what: str, rule: str) -> ValueError:
    return ValueError(
        f"{rule} overrides the backward pass of ReLUs only, and the model uses {what}, a "
        "rectifier it cannot rule. Supported: nn.ReLU (also inplace=True), F.relu, "
        "torch.relu, Tensor.relu and their in-place forms. Pass unsupported='gradient' to "
        "give it its ordinary gradient, as Captum does silently."
    )


class _RuleMode(TorchFunctionMode):
    """Route every ReLU call of a forward pass through :class:`_RuledReLU`."""

    def __init__(self, rule: str, strict: bool) -> None:
        super().__init__()
        self.rule = rule
        self.strict = strict

    def __torch_function__(
        self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if func in _RELU or func in _RELU_INPLACE:
            inplace = func in _RELU_INPLACE or bool(
                kwargs.get("inplace", args[1] if func is F.relu and len(args) > 1 else False)
            )
            return _RuledReLU.apply(args[0], self.rule, inplace)
        if self.strict:
            if func in _RECTIFIER_CALLS:
                raise _refuse(_RECTIFIER_CALLS[func], self.rule)
            if func in _CLAMPS and _clamps_at_zero(args, kwargs):
                raise _refuse(f"{_CLAMPS[func]}(min=0)", self.rule)
        return func(*args, **kwargs)


@contextmanager
def relu_rules(model: nn.Module, rule: str, unsupported: str = "raise") -> Iterator[None]:
    """Run the forward passes inside the block with ``rule``'s ReLU backward.

    Parameters
    ----------
    model : torch.nn.Module
        The model, checked for rectifiers the rule cannot handle (nothing is changed).
    rule : str
        "deconvnet" or "guided_backprop".
    unsupported : str
        "raise" (default): a ValueError for other rectifiers and TorchScript modules;
        "gradient": leave them their ordinary gradient (Captum's behaviour).
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if unsupported not in UNSUPPORTED:
        raise ValueError(f"unsupported must be one of {UNSUPPORTED}, got {unsupported!r}")
    strict = unsupported == "raise"
    if strict:
        for name, module in model.named_modules():
            where = f"layer {name!r}" if name else "the model itself"
            if isinstance(module, torch.jit.ScriptModule):
                raise _refuse(f"a TorchScript module ({where}), whose ReLUs", rule)
            if isinstance(module, _RECTIFIER_MODULES) and not isinstance(module, nn.ReLU):
                raise _refuse(f"nn.{type(module).__name__} ({where})", rule)
    with _RuleMode(rule, strict):
        yield


def _ruled_method(rule: str, summary: str) -> Callable[..., torch.Tensor]:
    """Return the attribution method that takes the gradient under ``rule``'s ReLU backward."""

    def method(
        model: nn.Module,
        x: torch.Tensor,
        target: Target = None,
        *,
        unsupported: str = "raise",
        output: OutputSelector = None,
    ) -> torch.Tensor:
        rules = relu_rules(model, rule, unsupported)
        grad = backprop(model, x, check_target(target, len(x)), output, rules=rules).input_grad
        return grad.to(x.device)

    method.__name__ = method.__qualname__ = rule
    method.__doc__ = summary
    return method


deconvnet = _ruled_method(
    "deconvnet", "Zeiler & Fergus's deconvnet map, as ``captum.attr.Deconvolution``."
)
guided_backprop = _ruled_method(
    "guided_backprop",
    "Springenberg et al.'s guided backpropagation map, as ``captum.attr.GuidedBackprop``.",
)
