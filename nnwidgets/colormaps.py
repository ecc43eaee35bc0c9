"""Perceptually uniform, colour-blind-safe colour maps used by every widget.

The lookup tables are Fabio Crameri's scientific colour maps (``vik`` diverging, ``batlow``
sequential). They are sent to the browser once per widget, so Python and JavaScript colour
values identically.
"""

from __future__ import annotations

import torch

from nnwidgets._colormap_data import LUTS_HEX

DIVERGING = "vik"
SEQUENTIAL = "batlow"


def lut(name: str = DIVERGING) -> torch.Tensor:
    """Return the (256, 3) uint8 RGB lookup table of colour map ``name``."""
    try:
        hexstr = "".join(LUTS_HEX[name])
    except KeyError:
        raise ValueError(f"unknown colour map {name!r}; choose from {sorted(LUTS_HEX)}") from None
    return torch.frombuffer(bytearray.fromhex(hexstr), dtype=torch.uint8).reshape(256, 3).clone()


def overlay(
    image: torch.Tensor, values: torch.Tensor, limit: float, opacity: float, sign: int = 0
) -> torch.Tensor:
    """Blend a map over an (H, W, 3) uint8 image as the browser draws it; returns float RGB.

    With ``sign`` 0 colours follow the diverging map on [-limit, limit]; with ``sign`` 1 (or
    -1: every value has that sign) they follow the sequential map, |value| / limit from its
    first colour to its last. The alpha is ``opacity * sqrt(|value| / limit)`` so values near
    zero leave the image visible, and NaN leaves it untouched.
    """
    if sign not in (-1, 0, 1):
        raise ValueError(f"sign must be -1, 0 or 1, got {sign!r}")
    scaled = values.float() / max(limit, 1e-12)
    if sign == 0:
        scaled = scaled.clamp(-1, 1)
        index = (127.5 + 127.5 * scaled.nan_to_num(0.0)).round().long()
        colour = lut(DIVERGING)[index].float()
    else:
        scaled = (scaled * sign).clamp(0, 1)
        index = (255 * scaled.nan_to_num(0.0)).round().long()
        colour = lut(SEQUENTIAL)[index].float()
    alpha = (opacity * scaled.abs().sqrt()).nan_to_num(0.0)
    alpha = (alpha * 255).round() / 255  # the canvas stores alpha in 8 bits
    return image.float() * (1 - alpha[..., None]) + colour * alpha[..., None]
