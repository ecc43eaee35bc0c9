"""Grad-CAM and guided Grad-CAM (Selvaraju et al.), upsampled to the input."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nnwidgets.compute._outputs import OutputSelector
from nnwidgets.compute.attribution._backprop import backprop
from nnwidgets.compute.attribution._checks import Target, check_layer, check_target
from nnwidgets.compute.attribution.relu_rules import guided_backprop

__all__ = ["INTERPOLATE_MODES", "default_layer", "grad_cam", "guided_grad_cam"]

#: Modes of ``torch.nn.functional.interpolate`` for the upsampling; "nearest" is Captum's
#: default (``LayerAttribution.interpolate`` and ``GuidedGradCam``).
INTERPOLATE_MODES = ("nearest", "nearest-exact", "bilinear", "bicubic", "area")


def default_layer(model: nn.Module) -> str:
    """Return the name of the model's last ``nn.Conv2d`` (Grad-CAM's usual layer)."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not names:
        raise ValueError("the model has no nn.Conv2d layer: pass layer='name' explicitly")
    return names[-1]


def _cam_layer(model: nn.Module, layer: str | nn.Module | None, method: str) -> nn.Module:
    """Return the layer Grad-CAM reads: ``layer`` (checked), by default the last ``nn.Conv2d``."""
    return check_layer(model, default_layer(model) if layer is None else layer, method)


def _layer_map(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    layer: str | nn.Module | None,
    output: OutputSelector,
) -> torch.Tensor:
    """Captum's ``LayerGradCam(model, layer).attribute(x, target, relu_attributions=True)``."""
    module = _cam_layer(model, layer, "grad_cam")
    result = backprop(model, x, check_target(target, len(x)), output, layer=module)
    value, grad = result.layer_value, result.layer_grad
    if value.ndim != x.ndim or value.ndim < 3:
        name = layer if isinstance(layer, str) else type(module).__name__
        raise ValueError(
            f"layer {name!r} gives outputs of shape {tuple(value.shape)}: Grad-CAM needs a "
            f"layer with channels and the input's {x.ndim - 2} spatial dims, shape "
            f"(N, C, {', '.join('...' for _ in x.shape[2:])}), e.g. a conv layer"
        )
    weights = grad.mean(dim=tuple(range(2, grad.ndim)), keepdim=True)
    return F.relu((weights * value).sum(dim=1, keepdim=True))


def _upsample(cam: torch.Tensor, x: torch.Tensor, mode: str) -> torch.Tensor:
    if mode not in INTERPOLATE_MODES:
        raise ValueError(f"interpolate_mode must be one of {INTERPOLATE_MODES}, got {mode!r}")
    if mode in ("bilinear", "bicubic") and cam.ndim != 4:
        raise ValueError(f"interpolate_mode={mode!r} is for 2-D maps (N, C, H, W)")
    return F.interpolate(cam, tuple(x.shape[2:]), mode=mode)


def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    layer: str | nn.Module | None = None,
    interpolate_mode: str = "nearest",
    output: OutputSelector = None,
) -> torch.Tensor:
    """Grad-CAM at ``layer``, upsampled to the input and repeated over its channels.

    The numbers of ``LayerAttribution.interpolate(LayerGradCam(model, layer).attribute(x,
    target, relu_attributions=True), x.shape[2:], interpolate_mode)``, Captum's
    ``"nearest"`` by default; the one map per input is broadcast to every channel so the
    result is shaped like ``x``. ``layer`` defaults to the model's last ``nn.Conv2d``.
    """
    cam = _upsample(_layer_map(model, x, target, layer, output), x, interpolate_mode)
    return cam.expand_as(x).to(x.device, x.dtype).contiguous()


def guided_grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    layer: str | nn.Module | None = None,
    interpolate_mode: str = "nearest",
    unsupported: str = "raise",
    output: OutputSelector = None,
) -> torch.Tensor:
    """Guided backprop times the upsampled Grad-CAM, as ``captum.attr.GuidedGradCam``."""
    _cam_layer(model, layer, "guided_grad_cam")  # a bad layer fails before the guided pass
    guided = guided_backprop(model, x, target, unsupported=unsupported, output=output)
    cam = _layer_map(model, x, target, layer, output)
    return guided * _upsample(cam, x, interpolate_mode).to(guided.device, guided.dtype)
