"""The registry of attribution methods (:data:`METHODS`) and :func:`attribution`, which runs one.

Checks of a request (the method's name, its options, the input) live here too, so that
every caller (:func:`attribution`, the sanity check) refuses bad requests alike.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nnwidgets.compute._outputs import OutputSelector
from nnwidgets.compute._progress import Progress, ShouldStop
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

__all__ = ["METHODS", "Method", "attribution", "check_input", "check_method"]


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
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
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
        progress=progress,
        should_stop=should_stop,
        incremental=incremental,
        approximate=approximate,
    )
    return result.to(x.dtype)


#: Keyword arguments of the method functions that are not options of the method: the
#: output selector and the progress-and-stop protocol (arguments of :func:`attribution`).
_NOT_OPTIONS = ("output", "progress", "should_stop")


@dataclass(frozen=True)
class Method:
    """One attribution method: its function, its options with defaults, what Captum calls it.

    ``chunked`` methods (integrated gradients, LIME, occlusion) run in chunks and take
    ``progress`` and ``should_stop``; the others are one forward and backward pass.
    """

    name: str
    function: Callable[..., torch.Tensor]
    captum: str
    summary: str
    options: Mapping[str, Any] = field(default_factory=dict)
    chunked: bool = False


def _method(name: str, function: Callable[..., torch.Tensor], captum: str, summary: str) -> Method:
    parameters = inspect.signature(function).parameters
    options = {
        p.name: p.default
        for p in parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in _NOT_OPTIONS
    }
    return Method(name, function, captum, summary, options, "should_stop" in parameters)


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


def check_method(method: object, options: Mapping[str, Any]) -> Method:
    """Return the :data:`METHODS` entry named ``method`` if ``options`` are all its own.

    Raises
    ------
    ValueError
        For an unknown method.
    TypeError
        For an option the method does not have (the message lists those it has).
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; choose one of {list(METHODS)}")
    chosen = METHODS[method]
    unknown = sorted(set(options) - set(chosen.options))
    if unknown:
        raise TypeError(
            f"method {method!r} has no option {', '.join(map(repr, unknown))}; its options "
            f"are {', '.join(chosen.options) or 'none'}"
        )
    return chosen


def check_input(x: object, methods: Sequence[str]) -> torch.Tensor:
    """Return ``x`` if it is a batch every one of ``methods`` can explain (Grad-CAM: images)."""
    spatial = any(method in ("grad_cam", "guided_grad_cam") for method in methods)
    return check_batch(x, "x", min_ndim=3 if spatial else 2)


def attribution(
    model: nn.Module,
    x: torch.Tensor,
    method: str,
    target: Target = None,
    *,
    output: OutputSelector = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
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
    progress : callable, optional
        Called as ``progress(done, total)``: after each chunk by the chunked methods
        (``METHODS[method].chunked``: integrated gradients counts path steps, LIME
        perturbed inputs, occlusion window positions), once as ``progress(1, 1)`` by the
        others, which are one pass.
    should_stop : callable, optional
        Checked before each chunk by the chunked methods; when it returns True they stop
        and return the map of the work done so far (see each method). One-pass methods
        do not check it.
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
    chosen = check_method(method, options)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    x = check_input(x, [method])
    if chosen.chunked:
        return chosen.function(
            model, x, target, output=output, progress=progress, should_stop=should_stop, **options
        )
    result = chosen.function(model, x, target, output=output, **options)
    if progress is not None:
        progress(1, 1)
    return result
