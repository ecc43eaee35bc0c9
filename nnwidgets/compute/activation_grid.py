"""Every channel of a layer's activation for one input as uint8 tiles (deepvis's grid).

>>> import nnwidgets as nw
>>> demo = nw.zoo.digits()
>>> grids = nw.compute.activation_grids(demo.model, demo.images[0], ["conv1", "conv2"])
>>> grids.layers["conv1"].tiles.shape, grids.probabilities.argmax()

One forward pass gives every asked layer's activation (forward hooks, removed after)
and the model's prediction. Tiles put one scale on a whole layer by default, as the deep
visualization toolbox (Yosinski et al., 2015) does: the layer's smallest value is code
0, its largest 255; ``scaling="channel"`` gives each channel its own minimum and maximum.
The scales come back with the tiles so that a legend can state them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._inputs import check_tensor
from nnwidgets.compute._outputs import OutputSelector, run_model
from nnwidgets.compute._quantize import linear_codes, per_row
from nnwidgets.compute.layers import find_layer

__all__ = [
    "SCALINGS",
    "ActivationGrids",
    "ChannelRanking",
    "LayerGrid",
    "activation_grids",
    "spatial_layers",
]

#: How tiles are scaled: one scale for the whole layer, or one per channel.
SCALINGS = ("layer", "channel")


@dataclass
class ChannelRanking:
    """The channels of a layer ranked by their activation at one cell."""

    cell: tuple[int, int]
    """(row, column) of the activation cell the input position falls in."""
    channels: torch.Tensor
    """(C,) int64 channel indices, highest activation first (ties: lower index first)."""
    values: torch.Tensor
    """(C,) their activations at the cell."""


@dataclass
class LayerGrid:
    """One layer's activation for the input: float values, uint8 tiles, scales, statistics."""

    name: str
    """The layer's name in ``model.named_modules()``."""
    activations: torch.Tensor
    """(C, h, w) float32 activation on the CPU, as the layer returned it (before any
    in-place operation downstream, such as ``nn.ReLU(inplace=True)``, changed it)."""
    tiles: torch.Tensor
    """(C, h, w) uint8 codes: ``low[c]`` is 0, ``high[c]`` is 255, linear in between."""
    low: torch.Tensor
    """(C,) float32 value shown as code 0 (the same for every channel with layer scaling)."""
    high: torch.Tensor
    """(C,) float32 value shown as code 255; equal to ``low`` for a constant tile (all 0)."""
    scaling: str
    """``"layer"`` (one scale) or ``"channel"`` (each channel its own minimum and maximum)."""
    input_size: tuple[int, int]
    """(H, W) of the input image, to map input positions to activation cells."""
    zero_fraction: float
    """Fraction of exact zeros in the activation (what a ReLU before it switched off)."""
    mean: float
    """Mean activation over channels and positions."""
    min: float
    """Smallest activation."""
    max: float
    """Largest activation."""

    def cell_at(self, row: int, col: int) -> tuple[int, int]:
        """Return the activation cell of input pixel (row, col), by the size ratio."""
        height, width = self.input_size
        for name, value, size in (("row", row, height), ("col", col, width)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int pixel index, got {value!r}")
            if not 0 <= value < size:
                raise ValueError(
                    f"{name}={value} is outside the {height}x{width} input (0..{size - 1})"
                )
        cells_h, cells_w = self.activations.shape[1:]
        return row * cells_h // height, col * cells_w // width

    def ranked_at(self, row: int, col: int) -> ChannelRanking:
        """Rank the channels by their activation at input pixel (row, col)."""
        cell = self.cell_at(row, col)
        at = self.activations[:, cell[0], cell[1]]
        order = torch.sort(at, descending=True, stable=True).indices
        return ChannelRanking(cell=cell, channels=order, values=at[order])


@dataclass
class ActivationGrids:
    """The layers' grids and the model's prediction, from one forward pass."""

    layers: dict[str, LayerGrid]
    """One grid per layer: in the order asked, or ``named_modules()`` order by default."""
    scores: torch.Tensor
    """(K,) the model's scores for the input (float32, CPU)."""
    probabilities: torch.Tensor
    """(K,) softmax of the scores (a sigmoid where K = 1)."""


class _Tap:
    """A forward hook that keeps a float32 copy of a layer's (1, C, H, W) output.

    The copy is taken when the layer returns, so in-place operations downstream do not
    change it, and outside inference mode, so the caller gets ordinary tensors. A strict
    tap (a layer the caller named) raises on an output it cannot show; otherwise such a
    layer is left out quietly.
    """

    def __init__(self, name: str, strict: bool, keep: bool) -> None:
        self.name = name
        self.strict = strict
        self.keep = keep
        self.calls = 0
        self.spatial = False
        self.value: torch.Tensor | None = None

    def __call__(self, _module: nn.Module, _inputs: Any, output: Any) -> None:
        self.calls += 1
        if self.calls > 1 and self.strict:
            raise ValueError(
                f"layer {self.name!r} runs several times in one forward pass; its activation "
                "would be ambiguous: choose a layer that runs once"
            )
        self.spatial = self.calls == 1 and _is_spatial(output)
        if self.strict and not self.spatial:
            what = (
                f"outputs of shape {tuple(output.shape)}"
                if isinstance(output, torch.Tensor)
                else f"a {type(output).__name__}, not a tensor"
            )
            raise ValueError(
                f"layer {self.name!r} gives {what}: the activation grid needs a layer with "
                "channels and two spatial dims, (1, C, H, W) for one image, e.g. a conv layer; "
                "spatial_layers(model, image) lists them"
            )
        if self.keep and self.spatial:
            with torch.inference_mode(False):
                self.value = output.detach().to(torch.float32, copy=True)[0]
        else:
            self.value = None


def _is_spatial(output: Any) -> bool:
    return (
        isinstance(output, torch.Tensor)
        and output.ndim == 4
        and output.shape[0] == 1
        and output.shape[2] > 0
        and output.shape[3] > 0
        and (output.is_floating_point() or output.dtype == torch.bool)
    )


def _check_image(image: object, name: str = "image") -> torch.Tensor:
    """Return one float image as a (1, C, H, W) batch."""
    image = check_tensor(image, name)
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 3:
        raise ValueError(
            f"{name} has shape {tuple(image.shape)}; pass one image (C, H, W) or a batch of "
            "one (1, C, H, W)"
        )
    if min(image.shape) == 0:
        raise ValueError(f"{name} is empty (shape {tuple(image.shape)})")
    if not bool(torch.isfinite(image).all()):
        raise ValueError(f"{name} contains NaN or inf")
    return image[None]


@contextmanager
def _tapped(model: nn.Module, taps: dict[str, _Tap]) -> Iterator[None]:
    modules = dict(model.named_modules())
    handles = [modules[name].register_forward_hook(tap) for name, tap in taps.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _forward(
    model: nn.Module, batch: torch.Tensor, taps: dict[str, _Tap], output: OutputSelector
) -> torch.Tensor:
    """Run the borrowed model once with ``taps`` on; return its (K,) scores."""
    device = model_device(model) or batch.device
    with borrowed_model(model), torch.inference_mode(), _tapped(model, taps):
        scores = run_model(model, batch.to(device), output)
    with torch.inference_mode(False):
        return scores[0].to("cpu", torch.float32, copy=True)


def _all_taps(model: nn.Module, keep: bool) -> dict[str, _Tap]:
    """Lenient taps on every submodule, in ``named_modules()`` order."""
    return {name: _Tap(name, strict=False, keep=keep) for name, _ in model.named_modules() if name}


def spatial_layers(
    model: nn.Module, example_input: torch.Tensor, *, output: OutputSelector = None
) -> list[str]:
    """Return the names of the layers an activation grid can show, in named_modules() order.

    A layer qualifies if, for one image, it returns a (1, C, H, W) tensor and runs once per
    forward pass: convolutions, their activations and poolings, and the containers
    (blocks, stages) that return such maps. A module called several times (one
    ``nn.ReLU`` shared across a block) is left out.

    Parameters
    ----------
    model : torch.nn.Module
        The user's model (borrowed, untouched).
    example_input : torch.Tensor
        One image (C, H, W) or (1, C, H, W), float, as the model takes it.
    output : int, str, callable or None
        Output selector, see :func:`nnwidgets.compute.select_output`.

    Returns
    -------
    list of str
        Layer names as ``model.named_modules()`` names them.
    """
    batch = _check_image(example_input, "example_input")
    taps = _all_taps(model, keep=False)
    _forward(model, batch, taps, output)
    return [name for name, tap in taps.items() if tap.spatial]


def _layer_names(model: nn.Module, layers: str | Sequence[str]) -> list[str]:
    names = [layers] if isinstance(layers, str) else list(layers)
    if not names:
        raise ValueError("layers is empty: name at least one layer, or pass layers=None")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"layers must be layer names (str), got {name!r}")
        if name in ("", "output"):
            raise ValueError(f"layer {name!r} is the model's output; the grid shows an inner layer")
        find_layer(model, name)
    return list(dict.fromkeys(names))


def _grid(name: str, value: torch.Tensor, scaling: str, input_size: tuple[int, int]) -> LayerGrid:
    stats = torch.stack(
        [value.amin(), value.amax(), value.mean(), (value == 0).sum() / value.numel()]
    ).tolist()
    low, high, mean, zero_fraction = stats
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"layer {name!r}'s activation contains NaN or inf for this input")
    channels = value.shape[0]
    if scaling == "layer":
        lows = value.amin().expand(channels)
        highs = value.amax().expand(channels)
    else:
        lows, highs = value.amin((1, 2)), value.amax((1, 2))
    tiles = linear_codes(value, per_row(lows, 3), per_row(highs, 3))
    return LayerGrid(
        name=name,
        activations=value.cpu(),
        tiles=tiles.cpu(),
        low=lows.cpu().contiguous(),
        high=highs.cpu().contiguous(),
        scaling=scaling,
        input_size=input_size,
        zero_fraction=zero_fraction,
        mean=mean,
        min=low,
        max=high,
    )


def _probabilities(scores: torch.Tensor) -> torch.Tensor:
    return scores.sigmoid() if scores.numel() == 1 else scores.softmax(0)


def activation_grids(
    model: nn.Module,
    image: torch.Tensor,
    layers: str | Sequence[str] | None = None,
    *,
    scaling: str = "layer",
    output: OutputSelector = None,
) -> ActivationGrids:
    """Return every channel of each layer's activation for ``image``, and the prediction.

    Parameters
    ----------
    model : torch.nn.Module
        The user's model (borrowed for one forward pass under ``torch.inference_mode``,
        untouched afterwards: hooks removed, modes restored).
    image : torch.Tensor
        One float image (C, H, W) or (1, C, H, W), as the model takes it.
    layers : str, sequence of str or None
        Layer names as ``model.named_modules()`` names them; each must return a
        (1, C, H, W) tensor and run once. None: every layer :func:`spatial_layers` lists.
    scaling : {"layer", "channel"}
        ``"layer"``: one scale for all of a layer's tiles, its minimum to its maximum
        (deepvis); ``"channel"``: each channel from its own minimum to its maximum.
    output : int, str, callable or None
        Output selector, see :func:`nnwidgets.compute.select_output`.

    Returns
    -------
    ActivationGrids
        ``layers[name]`` a :class:`LayerGrid` (tiles, scales, statistics, float values;
        ``ranked_at(row, col)`` ranks the channels at an input pixel), the scores and
        probabilities; all on the CPU.

    Raises
    ------
    ValueError
        An unknown layer, a layer without channels and two spatial dims, one that runs
        several times or not at all, an image that is not one float (C, H, W) image or
        that the model fails on, a scaling not in :data:`SCALINGS`.
    """
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    batch = _check_image(image)
    if layers is None:
        taps = _all_taps(model, keep=True)
    else:
        names = _layer_names(model, layers)
        taps = {name: _Tap(name, strict=True, keep=True) for name in names}
    scores = _forward(model, batch, taps, output)
    if layers is None:
        names = [name for name, tap in taps.items() if tap.value is not None]
        if not names:
            raise ValueError(
                "the model has no layer that returns a (1, C, H, W) activation for this image "
                "and runs once: nothing to show as a grid"
            )
    missing = [name for name in names if taps[name].calls == 0]
    if missing:
        raise ValueError(
            f"layer {missing[0]!r} was not called by the model's forward pass; "
            "spatial_layers(model, image) lists the layers that are"
        )
    size = (int(batch.shape[2]), int(batch.shape[3]))
    with torch.inference_mode(False):
        grids = {name: _grid(name, taps[name].value, scaling, size) for name in names}
        return ActivationGrids(layers=grids, scores=scores, probabilities=_probabilities(scores))
