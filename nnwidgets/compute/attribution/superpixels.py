"""Superpixels of an image for LIME: scikit-image's SLIC, or a plain grid."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import torch

__all__ = ["SUPERPIXELS", "grid_segments", "slic_available", "slic_segments", "superpixels"]

SUPERPIXELS = ("auto", "slic", "grid")


def slic_available() -> bool:
    """Whether scikit-image (for SLIC) is installed."""
    return importlib.util.find_spec("skimage") is not None


def grid_segments(height: int, width: int, n_segments: int) -> torch.Tensor:
    """Label an image with a grid of about ``n_segments`` near-square cells, row-major.

    Returns
    -------
    torch.Tensor
        (height, width) int64 labels 0 .. rows * cols - 1.
    """
    rows = min(height, max(1, round(math.sqrt(n_segments * height / width))))
    cols = min(width, max(1, round(n_segments / rows)))
    row = torch.arange(height) * rows // height
    col = torch.arange(width) * cols // width
    return row[:, None] * cols + col[None, :]


def slic_segments(image: torch.Tensor, n_segments: int, compactness: float = 10.0) -> torch.Tensor:
    """Label an image (C, H, W) with scikit-image's SLIC superpixels.

    The image is rescaled to [0, 1] first (SLIC's compactness is relative to the value
    range); 3-channel images are segmented in Lab colour, as SLIC does by default.

    Returns
    -------
    torch.Tensor
        (H, W) int64 labels 0 .. n - 1, every label used.
    """
    from skimage.segmentation import slic

    array = image.detach().to("cpu", torch.float64).numpy()
    low, high = array.min(), array.max()
    array = (array - low) / (high - low) if high > low else np.zeros_like(array)
    channels = array.shape[0]
    labels = slic(
        np.moveaxis(array, 0, -1) if channels > 1 else array[0],
        n_segments=n_segments,
        compactness=compactness,
        start_label=0,
        channel_axis=-1 if channels > 1 else None,
        convert2lab=channels == 3,
    )
    _, consecutive = np.unique(labels, return_inverse=True)
    return torch.from_numpy(consecutive.reshape(labels.shape).astype(np.int64))


def superpixels(image: torch.Tensor, method: str = "auto", n_segments: int = 64) -> torch.Tensor:
    """Label one image (C, H, W) with superpixels: "slic", "grid", or "auto".

    "auto" is SLIC where scikit-image is installed, else the grid; also the grid where
    SLIC finds a single superpixel (it merges pixel noise into one region), which would
    leave LIME nothing to compare.

    Returns
    -------
    torch.Tensor
        (H, W) int64 labels, consecutive from 0.
    """
    if method not in SUPERPIXELS:
        raise ValueError(f"superpixels must be one of {SUPERPIXELS}, got {method!r}")
    grid = grid_segments(image.shape[-2], image.shape[-1], n_segments)
    if method == "auto":
        if not slic_available():
            return grid
        labels = slic_segments(image, n_segments)
        return labels if int(labels.max()) > 0 else grid
    if method == "slic":
        if not slic_available():
            raise ValueError(
                "superpixels='slic' needs scikit-image (pip install scikit-image); "
                "or use superpixels='grid'"
            )
        return slic_segments(image, n_segments)
    return grid
