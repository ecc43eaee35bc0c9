"""uint8 codes of float values on linear scales, the form maps and weights take to the browser."""

from __future__ import annotations

import torch

__all__ = ["linear_codes", "per_row"]


def per_row(limits: torch.Tensor, ndim: int) -> torch.Tensor:
    """View (R,) limits so that they broadcast against (R, ...) values of ``ndim`` dims."""
    return limits.reshape(-1, *([1] * (ndim - 1)))


def linear_codes(values: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Return uint8 codes of ``values``: ``low`` is 0, ``high`` is 255, linear in between.

    Parameters
    ----------
    values : torch.Tensor
        Float values.
    low, high : torch.Tensor
        The ends of the scale, broadcast against ``values``; ``high == low`` (a constant
        map, ``values == low``) gives code 0.

    Returns
    -------
    torch.Tensor
        uint8 codes shaped like ``values``; a code ``q`` stands for
        ``low + q / 255 * (high - low)``, within half a step ``(high - low) / 255`` of the value.
    """
    span = torch.where(high > low, high - low, 1.0)
    return ((values - low) / span * 255.0).round_().clamp_(0, 255).to(torch.uint8)
