"""uint8 codes of float values on linear scales, the form maps and weights take to the browser.

Every uint8 quantization of the package is here. Each code has its decoder in the front-end
(js/), so the three codecs differ where their decoders do: ``linear_codes`` (low..high is
0..255), ``symmetric_codes`` (-limit..limit is 0..255) and ``centred_codes`` (0 is 128 exactly).
"""

from __future__ import annotations

import torch

__all__ = [
    "centred_codes",
    "fraction_codes",
    "linear_codes",
    "per_row",
    "symmetric_codes",
    "uncentred",
]


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


def fraction_codes(values: torch.Tensor) -> torch.Tensor:
    """Return uint8 codes of values in [0, 1] (probabilities, normalized maps): 0 is 0, 255 is 1."""
    return linear_codes(values, torch.tensor(0.0), torch.tensor(1.0))


def symmetric_codes(rows: torch.Tensor, limits: torch.Tensor) -> torch.Tensor:
    """Return uint8 codes of (R, ...) values on symmetric per-row scales (limits (R,)).

    Code 0 is ``-limit``, 255 is ``+limit`` (values beyond are clamped); a code ``q`` stands
    for ``(q / 127.5 - 1) * limit``.
    """
    scaled = rows / per_row(limits, rows.ndim)
    return ((scaled.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def centred_codes(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize (T, N) values per column to uint8 (N, T) codes and (N,) float32 limits.

    Column ``n``'s limit is its largest ``|value|`` (1 for a column that is always 0) and
    ``value ~ (code - 128) / 127 * limit``: 0 is code 128 exactly, the limits are codes 1
    and 255, and the error is at most ``limit / 254``.
    """
    limits = values.abs().amax(dim=0)
    limits = torch.where(limits > 0, limits, torch.ones_like(limits))
    codes = (128 + 127 * values / limits).round().clamp(1, 255).to(torch.uint8)
    return codes.T.contiguous(), limits.float()


def uncentred(codes: torch.Tensor, limits: torch.Tensor) -> torch.Tensor:
    """Invert :func:`centred_codes`: float32 (N, T) values from uint8 codes and (N,) limits."""
    return (codes.float() - 128) / 127 * limits[:, None]
