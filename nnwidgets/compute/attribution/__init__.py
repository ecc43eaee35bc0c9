"""Attribution maps: how much each input element matters to a score, by several methods.

>>> import nnwidgets as nw
>>> demo = nw.zoo.digits()
>>> maps = nw.compute.attribution(demo.model, demo.images[:2], "guided_backprop")

Every method gives Captum's numbers with Captum's default arguments (see each entry of
:data:`METHODS`), batched, with the model borrowed and handed back untouched.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nnwidgets.compute._outputs import OutputSelector
from nnwidgets.compute.attribution._checks import Target, check_batch
from nnwidgets.compute.attribution.grad_cam import grad_cam, guided_grad_cam
from nnwidgets.compute.attribution.gradients import (
    input_x_gradient,
    integrated_gradients,
    saliency,
)
from nnwidgets.compute.attribution.lime import lime
from nnwidgets.compute.attribution.relu_rules import deconvnet, guided_backprop
from nnwidgets.compute.occlusion import occlusion

__all__ = ["METHODS", "Method", "attribution"]


def _occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    window: int | tuple[int, ...] | None = None,
    stride: int | tuple[int, ...] | None = None,
    baseline: float | torch.Tensor = 0.0,
    batch_size: int | None = None,
    memory_budget: int | None = None,
    incremental: bool | None = None,
    approximate: float | None = None,
    output: OutputSelector = None,
) -> torch.Tensor:
    """Return the occlusion engine's map (see :func:`nnwidgets.compute.occlusion`).

    ``window`` is required; ``stride`` defaults to ``window`` (windows side by side).
    """
    if window is None:
        raise ValueError("method 'occlusion' needs a window: pass window=(h, w) or an int")
    result = occlusion(
        model,
        x,
        window,
        window if stride is None else stride,
        baseline,
        target,
        batch_size=batch_size,
        memory_budget=memory_budget,
        output=output,
        incremental=incremental,
        approximate=approximate,
    )
    return result.to(x.dtype)


@dataclass(frozen=True)
class Method:
    """One attribution method: its function, its options with defaults, what Captum calls it."""

    name: str
    function: Callable[..., torch.Tensor]
    captum: str
    summary: str
    options: Mapping[str, Any] = field(default_factory=dict)


def _method(name: str, function: Callable[..., torch.Tensor], captum: str, summary: str) -> Method:
    options = {
        p.name: p.default
        for p in inspect.signature(function).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name != "output"
    }
    return Method(name, function, captum, summary, options)


#: Every method by name, with its keyword options and their defaults.
METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        _method("saliency", saliency, "Saliency", "size of the gradient of the score"),
        _method("input_x_gradient", input_x_gradient, "InputXGradient", "input times the gradient"),
        _method(
            "deconvnet",
            deconvnet,
            "Deconvolution",
            "gradient with ReLUs passing positive gradients only (Zeiler & Fergus)",
        ),
        _method(
            "guided_backprop",
            guided_backprop,
            "GuidedBackprop",
            "gradient with ReLUs passing positive gradients of active units only",
        ),
        _method(
            "integrated_gradients",
            integrated_gradients,
            "IntegratedGradients",
            "gradients summed along the path from a baseline (Sundararajan et al.)",
        ),
        _method(
            "grad_cam",
            grad_cam,
            "LayerGradCam (relu_attributions=True) + interpolate",
            "a layer's channels weighted by their mean gradient (Selvaraju et al.)",
        ),
        _method(
            "guided_grad_cam",
            guided_grad_cam,
            "GuidedGradCam",
            "guided backprop times Grad-CAM",
        ),
        _method("lime", lime, "Lime", "a local linear model over superpixels (Ribeiro et al.)"),
        _method(
            "occlusion",
            _occlusion,
            "Occlusion",
            "drop of the score when a window is covered (Zeiler & Fergus)",
        ),
    )
}


def attribution(
    model: nn.Module,
    x: torch.Tensor,
    method: str,
    target: Target = None,
    *,
    output: OutputSelector = None,
    **options: Any,
) -> torch.Tensor:
    """Return an attribution map shaped like ``x`` by one of :data:`METHODS`.

    Parameters
    ----------
    model : torch.nn.Module
        The user's model; it runs in eval mode and comes back untouched (parameters,
        buffers, ``requires_grad``, modes and hooks).
    x : torch.Tensor
        A float batch, batch dim first, e.g. (N, C, H, W); for one image pass ``x[None]``.
    method : str
        One of ``METHODS``: "saliency", "input_x_gradient", "deconvnet",
        "guided_backprop", "integrated_gradients", "grad_cam", "guided_grad_cam",
        "lime", "occlusion".
    target : int, sequence of int or tensor, optional
        The score to explain, one for all inputs or one per input; default each input's
        predicted class.
    output : int, str, callable or None
        Output selector for models that return tuples, dicts or objects (see
        :func:`nnwidgets.compute.select_output`).
    **options
        The method's options, ``METHODS[method].options`` (e.g. ``layer=`` for
        Grad-CAM, ``n_samples=`` for LIME).

    Returns
    -------
    torch.Tensor
        Shaped like ``x``, on its device (float32 for LIME, else ``x``'s dtype).

    Raises
    ------
    ValueError or TypeError
        For an unknown method or option, or a bad input, target or layer, before any work.
    """
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; choose one of {list(METHODS)}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    chosen = METHODS[method]
    unknown = sorted(set(options) - set(chosen.options))
    if unknown:
        raise TypeError(
            f"method {method!r} has no option {', '.join(map(repr, unknown))}; its options "
            f"are {', '.join(chosen.options) or 'none'}"
        )
    x = check_batch(x, "x", min_ndim=3 if method in ("grad_cam", "guided_grad_cam") else 2)
    return chosen.function(model, x, target, output=output, **options)
