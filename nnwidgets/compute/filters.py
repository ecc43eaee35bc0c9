"""A Conv2d's weights as uint8 tiles: RGB or grey filters, per-input-channel slices, norms.

>>> import nnwidgets as nw
>>> filters = nw.compute.conv_filters(nw.zoo.digits().model)   # conv1, 16 grey 3x3 filters
>>> filters.tiles.shape, filters.description

Weights are shown on a symmetric scale around 0, one for the whole layer by default: 0
is mid-grey (code 128), ``-m`` black and ``+m`` white, ``m`` the layer's largest absolute
weight, so the sign of every weight reads the same in every tile. (Caffe's ``vis_square``,
which the deep visualization toolbox era used, min-max scales the layer instead; its
offset puts 0 at a grey that changes from layer to layer.) ``scaling="filter"`` gives each
filter its own ``m``. Norm views run from 0 (black) to the largest norm (white).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nnwidgets.compute._quantize import linear_codes, per_row
from nnwidgets.compute.layers import find_layer

__all__ = ["FILTER_SCALINGS", "FILTER_VIEWS", "ConvFilters", "conv_filters", "conv_layers"]

#: What a tile shows. ``"rgb"``: a filter's three input channels as one colour image (a
#: first layer on RGB images); ``"channels"``: one grey tile per (filter, input channel)
#: slice; ``"norm"``: the L2 norm of each (kh, kw) slice, an (out, in) matrix;
#: ``"spatial_norm"``: the L2 norm over the input channels at each kernel position.
FILTER_VIEWS = ("rgb", "channels", "norm", "spatial_norm")

#: One scale for the whole layer, or one per filter (output channel).
FILTER_SCALINGS = ("layer", "filter")


@dataclass
class ConvFilters:
    """A Conv2d's filters in one view: uint8 tiles, their scales and the raw weights."""

    layer: str
    """The layer's name in ``model.named_modules()``."""
    view: str
    """One of :data:`FILTER_VIEWS`."""
    scaling: str
    """One of :data:`FILTER_SCALINGS`."""
    tiles: torch.Tensor
    """uint8 codes; ``rgb`` (out, kh, kw, 3), ``channels`` (out, in/groups, kh, kw),
    ``norm`` (out, in/groups), ``spatial_norm`` (out, kh, kw)."""
    values: torch.Tensor
    """float32 values the tiles encode, shaped like them (weights or norms)."""
    low: torch.Tensor
    """(out,) float32 value of code 0 for each filter (equal for all with layer scaling)."""
    high: torch.Tensor
    """(out,) float32 value of code 255; a code q stands for low + q / 255 * (high - low)."""
    description: str
    """What the codes mean, in words, for a legend."""
    weight: torch.Tensor
    """(out, in/groups, kh, kw) float32 copy of the layer's weight, on the CPU."""
    bias: torch.Tensor | None
    """(out,) float32 copy of its bias, or None."""
    groups: int
    """The layer's ``groups``: filter i reads input channels of group i // (out/groups)."""
    input_channels: torch.Tensor
    """(out, in/groups) int64: the layer input channel each weight slice reads."""


def conv_layers(model: nn.Module) -> list[str]:
    """Return the names of the model's ``nn.Conv2d`` layers, in ``named_modules()`` order."""
    return [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]


def _find_conv(model: nn.Module, layer: str | None) -> tuple[str, nn.Conv2d]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    convs = conv_layers(model)
    if layer is None:
        if not convs:
            raise ValueError("the model has no nn.Conv2d layer: there are no filters to show")
        layer = convs[0]
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a layer name (str) or None, got {layer!r}")
    module = find_layer(model, layer)
    if not isinstance(module, nn.Conv2d):
        available = ", ".join(convs[:20]) + (" ..." if len(convs) > 20 else "")
        raise ValueError(
            f"layer {layer!r} is a {type(module).__name__}, not an nn.Conv2d; "
            + (f"the model's Conv2d layers: {available}" if convs else "the model has none")
        )
    if isinstance(module.weight, nn.parameter.UninitializedParameter):
        raise ValueError(
            f"layer {layer!r} is a lazy conv whose weights do not exist yet: run the model "
            "on an input once first"
        )
    return layer, module


def _view_values(weight: torch.Tensor, view: str) -> torch.Tensor:
    if view == "rgb":
        return weight.permute(0, 2, 3, 1).contiguous()
    if view == "channels":
        return weight
    if view == "norm":
        return weight.square().sum((2, 3)).sqrt()
    return weight.square().sum(1).sqrt()


def _limits(values: torch.Tensor, scaling: str) -> torch.Tensor:
    """Largest absolute value of the layer (expanded per filter) or of each filter."""
    if scaling == "layer":
        return values.abs().amax().expand(values.shape[0])
    return values.abs().flatten(1).amax(1)


def _describe(name: str, view: str, scaling: str, symmetric: bool, top: torch.Tensor) -> str:
    what = {
        "rgb": "each filter as an RGB image, its 3 input channels as red, green, blue",
        "channels": "one grey tile per filter and input channel",
        "norm": "the L2 norm of each filter's kh x kw slice per input channel",
        "spatial_norm": "the L2 norm over input channels at each kernel position",
    }[view]
    where = (
        f"one scale for the layer, m = {float(top[0]):.3g}"
        if scaling == "layer"
        else f"each filter on its own scale, m from {float(top.min()):.3g} "
        f"to {float(top.max()):.3g}"
    )
    if symmetric:
        codes = "weights on a symmetric scale around 0: -m is code 0, 0 is 128, +m is 255"
    else:
        codes = "norms from 0 (code 0) to m (code 255)"
    return f"{name}: {what}; {codes}; {where}"


def conv_filters(
    model: nn.Module,
    layer: str | None = None,
    *,
    view: str | None = None,
    scaling: str = "layer",
) -> ConvFilters:
    """Return the filters of an ``nn.Conv2d`` of ``model`` as uint8 tiles, with their weights.

    Parameters
    ----------
    model : torch.nn.Module
        The user's model (its weights are read and copied, nothing else).
    layer : str or None
        A Conv2d's name as ``model.named_modules()`` names it; None: the first Conv2d.
    view : {"rgb", "channels", "norm", "spatial_norm"} or None
        What a tile shows, see :data:`FILTER_VIEWS`. None: ``"rgb"`` for a layer with 3
        input channels and ``groups=1`` (a first layer on RGB images), else
        ``"channels"`` (grey tiles; one per filter for a 1-channel input).
    scaling : {"layer", "filter"}
        Weights: a symmetric scale around 0 with ``m`` the largest absolute weight of the
        layer, or of each filter; norms: 0 to the largest norm of the layer, or of each
        filter. An all-zero layer or filter gets ``m = 1`` (its tiles are mid-grey).

    Returns
    -------
    ConvFilters
        ``tiles`` and the ``values`` they encode, the scale per filter (``low``,
        ``high``), a ``description`` for the legend, the raw ``weight`` and ``bias``, and
        which input channel each slice reads (grouped convolutions included).

    Raises
    ------
    ValueError
        An unknown layer, a layer that is not an ``nn.Conv2d`` (the message names the
        model's Conv2d layers), ``view="rgb"`` on a layer without 3 input channels per
        filter or with groups, an unknown view or scaling.
    """
    name, conv = _find_conv(model, layer)
    if scaling not in FILTER_SCALINGS:
        raise ValueError(f"scaling must be one of {FILTER_SCALINGS}, got {scaling!r}")
    rgb_ok = conv.in_channels == 3 and conv.groups == 1
    if view is None:
        view = "rgb" if rgb_ok else "channels"
    if view not in FILTER_VIEWS:
        raise ValueError(f"view must be one of {FILTER_VIEWS} or None, got {view!r}")
    if view == "rgb" and not rgb_ok:
        raise ValueError(
            f"view='rgb' needs a conv with 3 input channels and groups=1; layer {name!r} has "
            f"{conv.in_channels} input channels and groups={conv.groups}: use view="
            "'channels', 'norm' or 'spatial_norm'"
        )
    weight = conv.weight.detach().to("cpu", torch.float32, copy=True)
    bias = None if conv.bias is None else conv.bias.detach().to("cpu", torch.float32, copy=True)
    values = _view_values(weight, view)
    symmetric = view in ("rgb", "channels")
    top = _limits(values, scaling)
    top = torch.where(top > 0, top, 1.0)
    low = -top if symmetric else torch.zeros_like(top)
    tiles = linear_codes(values, per_row(low, values.ndim), per_row(top, values.ndim))
    per_group_out, per_group_in = conv.out_channels // conv.groups, weight.shape[1]
    group = torch.arange(conv.out_channels) // per_group_out
    return ConvFilters(
        layer=name,
        view=view,
        scaling=scaling,
        tiles=tiles,
        values=values,
        low=low.contiguous(),
        high=top.contiguous(),
        description=_describe(name, view, scaling, symmetric, top),
        weight=weight,
        bias=bias,
        groups=conv.groups,
        input_channels=group[:, None] * per_group_in + torch.arange(per_group_in),
    )
