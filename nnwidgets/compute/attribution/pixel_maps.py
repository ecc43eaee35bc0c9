"""One value per pixel from an attribution shaped like the input, as the explorer shows it.

An attribution has a value per input element, (N, C, H, W) for images; a picture needs one
per pixel. Following Captum's ``visualize_image_attr``, channels are summed, with these
rules per method:

- ``saliency``: the sum over channels of |attribution| (never negative);
- ``grad_cam``, ``lime``, ``occlusion``: these give one value per pixel, repeated over the
  channels; the mean over channels is that value (non-negative for Grad-CAM, whose ReLU
  drops negative evidence);
- every other method: the signed sum over channels.
"""

from __future__ import annotations

import torch

__all__ = ["NON_NEGATIVE", "PER_PIXEL", "pixel_map", "reduction"]

#: Methods whose pixel maps are never negative (drawn on a one-sided scale from 0).
NON_NEGATIVE = frozenset({"saliency", "grad_cam"})
#: Methods that give one value per pixel, repeated over the channels.
PER_PIXEL = frozenset({"grad_cam", "lime", "occlusion"})


def reduction(method: str) -> str:
    """Say in words how ``method``'s attribution becomes one value per pixel."""
    if method == "saliency":
        return "sum over channels of |attribution|"
    if method in PER_PIXEL:
        return "one value per pixel"
    return "sum over channels"


def pixel_map(attribution: torch.Tensor, method: str) -> torch.Tensor:
    """Return the (N, H, W) per-pixel map of an (N, C, H, W) attribution by ``method``.

    Parameters
    ----------
    attribution : torch.Tensor
        What :func:`nnwidgets.compute.attribution` returned for image inputs.
    method : str
        The method that made it (see the module docstring for the rule of each).

    Returns
    -------
    torch.Tensor
        float32, on the attribution's device.
    """
    if attribution.ndim != 4:
        raise ValueError(
            f"pixel maps are for image attributions (N, C, H, W), got {tuple(attribution.shape)}"
        )
    values = attribution.detach().float()
    if method == "saliency":
        return values.abs().sum(1)
    if method in PER_PIXEL:
        return values.mean(1)
    return values.sum(1)
