"""What the occlusion explorer computes around a sweep: fills, one probe, the map's scores."""

from __future__ import annotations

import torch

from nnwidgets._image import gaussian_blur
from nnwidgets.compute._grid import OcclusionGrid

__all__ = ["FILLS", "SCORE_MODES", "fill_baseline", "map_extremes", "occlude_at", "score_drop"]

#: What covers an occluded patch: zeros, the (dataset's or image's) per-channel mean, a
#: blurred copy of the image, or one number.
FILLS = ("zero", "mean", "blur", "value")
#: What a map measures: the drop in softmax probability, or in the raw output (logit).
SCORE_MODES = ("probability", "raw")


def fill_baseline(
    x: torch.Tensor,
    fill: str,
    *,
    value: float = 0.0,
    mean: torch.Tensor | None = None,
    window: tuple[int, int] = (1, 1),
) -> torch.Tensor:
    """Return the baseline a ``fill`` puts in place of an occluded patch of image ``x``.

    Parameters
    ----------
    x : torch.Tensor
        One image (C, H, W).
    fill : str
        One of :data:`FILLS`.
    value : float
        The fill value of "value".
    mean : torch.Tensor, optional
        1 or C per-channel values of "mean" (e.g. the dataset's); default the image's own.
    window : tuple of int
        The occluder's (height, width): "blur" blurs with sigma half its longer side.

    Returns
    -------
    torch.Tensor
        A tensor shaped like ``x``.
    """
    if fill == "zero":
        return torch.zeros_like(x)
    if fill == "value":
        return torch.full_like(x, value)
    if fill == "mean":
        mean = x.mean(dim=(1, 2)) if mean is None else mean
        if mean.numel() not in (1, x.shape[0]):
            raise ValueError(f"dataset_mean needs 1 or {x.shape[0]} values, got {mean.numel()}")
        return mean.reshape(-1, 1, 1).expand_as(x).clone()
    if fill == "blur":
        return gaussian_blur(x, sigma=max(1.0, max(window) / 2))
    raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")


def occlude_at(
    x: torch.Tensor, top: int, left: int, window: tuple[int, int], baseline: torch.Tensor
) -> torch.Tensor:
    """Return a batch of one copy of image ``x`` with the window at (top, left) set to baseline.

    The window covers every channel, as in a sweep (:meth:`OcclusionGrid.occlude`), but may
    sit at any pixel, not only on the sweep's stride.
    """
    channels, height, width = x.shape
    grid = OcclusionGrid((channels, height, width), (channels, *window), (1, 1, 1))
    return grid.occlude(x, torch.tensor([top * grid.counts[-1] + left]), baseline)


def score_drop(
    clean: torch.Tensor, outputs: torch.Tensor, target: int, mode: str = "probability"
) -> torch.Tensor:
    """How much each occluded copy lowers the target's score: (n,) from outputs (n, K).

    ``clean`` (K,) are the raw outputs of the unoccluded input; ``mode`` is one of
    :data:`SCORE_MODES`.
    """
    if mode == "raw":
        return clean[target] - outputs[:, target]
    return clean.softmax(0)[target] - outputs.softmax(1)[:, target]


def map_extremes(heatmap: torch.Tensor) -> tuple[float, int]:
    """Return the map's value of largest magnitude and the sign of a one-sided colour scale.

    NaN (not swept yet) is left out. The sign is 1 (or -1) when no value is below (above) zero
    by more than a thousandth of the largest magnitude, else 0 (a two-sided scale).
    """
    finite = heatmap[~heatmap.isnan()]
    if finite.numel() == 0:
        return 0.0, 0
    peak = float(finite[finite.abs().argmax()])
    tolerance = 1e-3 * abs(peak)
    below = bool((finite < -tolerance).any())
    above = bool((finite > tolerance).any())
    if below and above:
        return peak, 0
    return peak, -1 if below else 1
