"""Where a channel of a layer fires on one image: its activation map at the image's size.

>>> import nnwidgets as nw
>>> demo = nw.zoo.digits()
>>> nw.compute.activation_map(demo.model, "conv2", demo.images[0], unit=3).shape
torch.Size([16, 16])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._inputs import check_image, check_int
from nnwidgets.compute.layers import find_layer

__all__ = ["activation_map"]


def _layer_output(model: nn.Module, layer: str, image: torch.Tensor) -> torch.Tensor:
    """Return the output of ``layer`` for ``image`` (C, H, W), without the batch dimension."""
    module = find_layer(model, layer)
    seen: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: object, out: object) -> None:
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"layer {layer!r} returns a {type(out).__name__}, not a tensor")
        seen.append(out.detach())

    device = model_device(model) or torch.device("cpu")
    with borrowed_model(model) as borrowed, torch.inference_mode():
        handle = module.register_forward_hook(hook)
        try:
            borrowed(image[None].to(device))
        finally:
            handle.remove()
    return seen[0][0].float().cpu()


def activation_map(model: nn.Module, layer: str, image: torch.Tensor, unit: int) -> torch.Tensor:
    """Return where channel ``unit`` of ``layer`` fires on ``image`` (C, H, W) or (1, C, H, W).

    Returns its activation (h, w) upsampled bilinearly to the image's (H, W), in the layer's
    own units (not clipped: a ReLU layer's map is already >= 0). Raises ValueError for a
    layer without a (channels, height, width) activation, or a unit it does not have.
    """
    image = check_image(image, "image").float()
    unit = check_int(unit, "unit", low=0)
    if layer in (None, "", "output"):
        raise ValueError("the model's output has no spatial map: choose a convolutional layer")
    channels = _layer_output(model, layer, image)
    if channels.ndim != 3:
        raise ValueError(
            f"layer {layer!r} gives activations of shape {tuple(channels.shape)} per input, not "
            "(channels, height, width): it has no spatial map"
        )
    if unit >= channels.shape[0]:
        raise ValueError(f"unit {unit} is out of range: layer {layer!r} has {channels.shape[0]}")
    size = tuple(image.shape[-2:])
    upsampled = F.interpolate(
        channels[unit][None, None], size=size, mode="bilinear", align_corners=False
    )
    return upsampled[0, 0]
