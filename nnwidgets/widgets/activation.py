"""ActivationExplorer: every channel of a CNN layer for the current input (deepvis)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from traitlets import Bool, Dict, Enum, List, TraitError, Unicode, observe, validate

from nnwidgets._image import DisplaySpec, display_size, display_transform, resize, to_rgb8
from nnwidgets._traits import Int, Tensor
from nnwidgets.compute._inputs import check_model, conv_channels
from nnwidgets.compute._outputs import check_selector
from nnwidgets.compute.activation_grid import (
    SCALINGS,
    ActivationGrids,
    activation_grids,
    spatial_layers,
)
from nnwidgets.widgets._base import NNWidget, bundle, listed, message
from nnwidgets.widgets._image_input import dataset_input, first_input, next_input
from nnwidgets.widgets._worker import Job

#: scaling's choices (SCALINGS), with the labels the front-end shows.
SCALING_LABELS = {"layer": "one scale for the layer", "channel": "each channel its own"}


class ActivationExplorer(NNWidget):
    """See every channel of a convolutional layer respond to the input, live.

    The chosen layer's channels are drawn as a grid of small maps for the current input (the
    deep visualization toolbox of Yosinski et al., 2015), on one colour scale per layer (its
    smallest activation to its largest) or, with ``scaling="channel"``, each channel on its
    own; the legend says which. Beside the grid: the model's prediction and, for every layer,
    the fraction of zeros, the mean and the largest activation, so that activations growing
    sparse with depth can be seen. Hover a tile to see its map enlarged over the input, click
    it to pin it; click the input to rank the channels by their activation there. The input
    follows a ``dataset`` index slider or, for one-channel models, a drawing pad: the grid and
    the prediction follow while drawing.

    Parameters
    ----------
    model
        A classifier taking (N, C, H, W) images (borrowed, left untouched).
    image
        The first input, (C, H, W) or (1, C, H, W), as the model takes it; None takes
        ``dataset``'s first image.
    layers
        Layer names (``model.named_modules()`` names) offered in the picker; each must give
        (1, C, H, W) activations. Default: every such layer (see
        :func:`nnwidgets.compute.spatial_layers`).
    dataset
        Images (N, C, H, W), a map-style Dataset or a DataLoader over one, of the image's
        shape: the index slider picks among them.
    labels
        Class names, one per output.
    layer, scaling
        Picked at start (default the first layer, ``"layer"`` scaling).
    output, display
        Output selector and how to show inputs, as for :class:`~nnwidgets.OcclusionExplorer`.

    Notes
    -----
    The drawing pad sends uint8 grey levels (0 background, 255 ink); the kernel maps them
    linearly onto the value range of the first input and of ``dataset`` (for the digits
    demo [0, 1], its training range).
    """

    _esm = bundle("activations.js")
    _css = bundle("activations.css")

    # what the front-end shows (kernel -> browser)
    layers = List(Unicode(), help="Layers in the picker.").tag(sync=True)
    image = Tensor(dtype=torch.uint8, ndim=3, help="Displayed input, (h, w, 3) uint8.")
    image_size = List(Int(), help="[height, width] of the model input.").tag(sync=True)
    source = Unicode("", help="Where the current input comes from.").tag(sync=True)
    tiles = Tensor(dtype=torch.uint8, ndim=3, help="(C, h, w) codes of the layer's channels.")
    tile_low = Tensor(dtype=torch.float32, ndim=1, help="(C,) value of code 0 per channel.")
    tile_high = Tensor(dtype=torch.float32, ndim=1, help="(C,) value of code 255 per channel.")
    layer_stats = List(
        Dict(), help="Per layer: name, channels, size, zero_fraction, mean, max."
    ).tag(sync=True)
    labels = List(Unicode(), help="Class names.").tag(sync=True)
    probabilities = Tensor(dtype=torch.float32, ndim=1, help="(K,) the model's prediction.")
    ranking = Dict(
        help="Channels ranked at a clicked input pixel: row, col, cell, channels, values."
    ).tag(sync=True)
    dataset_size = Int(0, help="Images in the dataset (0: none).").tag(sync=True)
    drawable = Bool(False, help="Whether the drawing pad applies (a one-channel model).").tag(
        sync=True
    )
    computed = Int(0, help="Inputs computed so far (the front-end waits on it).").tag(sync=True)

    # settings (both ways)
    _settings = ("layer", "scaling", "index", "channel", "drawing")
    layer = Unicode("", help="Layer shown in the grid.").tag(sync=True)
    scaling = Enum(SCALINGS, default_value="layer", help="One scale per layer or per channel.").tag(
        sync=True
    )
    scalings = Dict(SCALING_LABELS, read_only=True, help="scaling's choices.").tag(sync=True)
    index = Int(0, help="Dataset image shown (when there is a dataset).").tag(sync=True)
    channel = Int(-1, help="Pinned channel of the layer (-1: none).").tag(sync=True)
    drawing = Tensor(ndim=2, help="(H, W) uint8 drawn on the pad: 0 background, 255 ink.")

    def __init__(
        self,
        model: nn.Module,
        image: torch.Tensor | None = None,
        layers: Sequence[str] | None = None,
        dataset: Any = None,
        labels: Sequence[str] | None = None,
        *,
        layer: str | None = None,
        scaling: str = "layer",
        output: Any = None,
        display: DisplaySpec = None,
    ) -> None:
        self.model = check_model(model)
        channels = conv_channels(model)
        self._output = check_selector(output)
        x, self._data, source = first_input(image, dataset, channels)
        if scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
        names = spatial_layers(model, x, output=self._output) if layers is None else None
        if names == []:
            raise ValueError(
                "the model has no layer that returns (1, C, H, W) activations for this image: "
                "nothing to show as a grid"
            )
        grids = activation_grids(
            model, x, names if layers is None else layers, scaling=scaling, output=self._output
        )
        names = list(grids.layers)
        if layer is not None and layer not in names:
            raise ValueError(f"layer {layer!r} is not among the layers shown: {names}")
        if labels is not None and (isinstance(labels, str) or not isinstance(labels, Sequence)):
            raise TypeError(f"labels must be a sequence of class names, got {labels!r}")
        classes = grids.scores.numel()
        label_names = (
            [str(i) for i in range(classes)] if labels is None else [str(n) for n in labels]
        )
        if len(label_names) != classes:
            raise ValueError(f"got {len(label_names)} labels but the model has {classes} outputs")
        sample = x if self._data is None else self._data.sample
        self._range = (
            min(float(x.min()), float(sample.min())),
            max(float(x.max()), float(sample.max())),
        )
        self._display = display_transform(sample, display)
        self._view_size = display_size(*x.shape[1:])
        self._x = x
        self._grids: ActivationGrids = grids
        self._rank_at: tuple[int, int] | None = None
        self._started = False  # the constructor's trait values start no work
        super().__init__(
            layers=names,
            image_size=list(x.shape[1:]),
            labels=label_names,
            dataset_size=0 if self._data is None else len(self._data),
            drawable=x.shape[0] == 1,
            layer=names[0] if layer is None else layer,
            scaling=scaling,
        )
        self._publish(grids, source)
        self._started = True

    # -- public API ----------------------------------------------------------------------
    @property
    def grids(self) -> ActivationGrids:
        """Every shown layer's grid and the prediction for the current input."""
        return self._grids

    @property
    def input(self) -> torch.Tensor:
        """The current input (C, H, W), float32, as the model sees it."""
        return self._x.clone()

    def set_input(self, image: torch.Tensor, *, wait: bool = True) -> None:
        """Show ``image`` (of the first input's shape) and recompute the grid."""
        self._compute(next_input(image, self._x), "your image")
        if wait:
            self.wait()

    def rank(self, row: int, col: int) -> None:
        """Rank the layer's channels by their activation at input pixel (row, col)."""
        self._grids.layers[self.layer].cell_at(row, col)  # checks the pixel
        self._rank_at = (row, col)
        self._publish_ranking()

    # -- front-end messages --------------------------------------------------------------
    @message("rank", row=int, col=int)
    def _on_rank(self, row: int, col: int) -> None:
        self.rank(row, col)

    @message("show_example", index=int)
    def _on_show_example(self, index: int) -> None:
        if index == self.index:  # back to the slider's image after a drawing: no change event
            self._index_changed({"new": index})
        else:
            self.index = index

    @message("clear_rank")
    def _on_clear_rank(self) -> None:
        self._rank_at = None
        self.ranking = {}

    # -- validation ----------------------------------------------------------------------
    _check_layer = listed("layer", "layers", "layer")

    @validate("index")
    def _check_index(self, proposal: dict) -> int:
        value = proposal["value"]
        if self._data is None:
            if value != 0:
                raise TraitError("this explorer has no dataset to pick an image from")
            return value
        if not 0 <= value < len(self._data):
            raise TraitError(
                f"index {value} is out of range: the dataset has {len(self._data)} images"
            )
        return value

    @validate("channel")
    def _check_channel(self, proposal: dict) -> int:
        value = proposal["value"]
        count = self._grids.layers[self.layer].tiles.shape[0] if self.layer else 0
        if not -1 <= value < count:
            raise TraitError(
                f"channel {value} is out of range: layer {self.layer!r} has {count} channels "
                f"(0 to {count - 1}, or -1 for none)"
            )
        return value

    @validate("drawing")
    def _check_drawing(self, proposal: dict) -> torch.Tensor | None:
        value = proposal["value"]
        if value is None:
            return value
        if not self.drawable:
            raise TraitError("the drawing pad needs a one-channel model")
        if value.dtype != torch.uint8:
            raise TraitError(f"drawing must be uint8 grey levels, got {value.dtype}")
        if list(value.shape) != self.image_size:
            raise TraitError(f"drawing has shape {list(value.shape)}, expected {self.image_size}")
        return value

    # -- reactions -----------------------------------------------------------------------
    @observe("layer")
    def _layer_changed(self, _change: dict) -> None:
        with self.hold_sync():
            self.channel = -1
            self._publish_layer()

    @observe("scaling")
    def _scaling_changed(self, _change: dict) -> None:
        self._compute(self._x, self.source)

    @observe("index")
    def _index_changed(self, change: dict) -> None:
        self._compute(*dataset_input(self._data, change["new"]))

    @observe("drawing")
    def _drawing_changed(self, change: dict) -> None:
        if change["new"] is not None:
            low, high = self._range
            self._compute(low + change["new"].float()[None] / 255 * (high - low), "your drawing")

    # -- background work -----------------------------------------------------------------
    def _compute(self, x: torch.Tensor, source: str) -> None:
        if not self._started:
            return
        names, scaling = list(self.layers), self.scaling

        def job(job: Job) -> None:
            grids = activation_grids(self.model, x, names, scaling=scaling, output=self._output)
            job.checkpoint()
            self._x = x
            self._publish(grids, source)

        self._run("input", job)

    def _publish(self, grids: ActivationGrids, source: str) -> None:
        self._grids = grids
        with self.hold_sync():
            self.image = to_rgb8(resize(self._display(self._x), self._view_size))
            self.source = source
            self.probabilities = grids.probabilities
            self.layer_stats = [
                {
                    "name": name,
                    "channels": int(g.tiles.shape[0]),
                    "size": list(g.tiles.shape[1:]),
                    "zero_fraction": g.zero_fraction,
                    "mean": g.mean,
                    "min": g.min,
                    "max": g.max,
                }
                for name, g in grids.layers.items()
            ]
            self._publish_layer()
            self.computed += 1

    def _publish_layer(self) -> None:
        grid = self._grids.layers[self.layer]
        with self.hold_sync():
            self.tiles = grid.tiles
            self.tile_low = grid.low
            self.tile_high = grid.high
            self._publish_ranking()

    def _publish_ranking(self) -> None:
        if self._rank_at is None:
            self.ranking = {}
            return
        ranked = self._grids.layers[self.layer].ranked_at(*self._rank_at)
        self.ranking = {
            "row": self._rank_at[0],
            "col": self._rank_at[1],
            "cell": list(ranked.cell),
            "channels": ranked.channels.tolist(),
            "values": ranked.values.tolist(),
        }
