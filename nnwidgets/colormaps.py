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


def apply(values: torch.Tensor, vmin: float, vmax: float, name: str = DIVERGING) -> torch.Tensor:
    """Colour ``values`` (any shape) into uint8 RGB (shape + (3,)); NaN maps to the mid colour."""
    span = max(vmax - vmin, 1e-12)
    scaled = ((values.float() - vmin) / span).nan_to_num(0.5).clamp(0, 1)
    return lut(name)[(scaled * 255).round().long()]
