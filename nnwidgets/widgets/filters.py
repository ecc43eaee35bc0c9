"""FilterExplorer: the weights of a Conv2d as tiles (RGB or grey filters, slices, norms)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from traitlets import Dict, Enum, List, TraitError, Unicode, observe, validate

from nnwidgets._traits import Tensor
from nnwidgets.compute._inputs import check_model
from nnwidgets.compute.filters import (
    FILTER_SCALINGS,
    FILTER_VIEWS,
    ConvFilters,
    conv_filters,
    conv_layers,
)
from nnwidgets.widgets._base import NNWidget, bundle, listed

#: Most float32 weights sent for the hover readout (4 MiB); a larger layer's readout is
#: decoded from its 8-bit tiles.
MAX_VALUES = 1 << 20
#: What each of FILTER_VIEWS shows, and scaling's choices (FILTER_SCALINGS): the labels the
#: front-end shows.
VIEW_NAMES = {
    "rgb": "RGB filters",
    "channels": "one tile per input channel",
    "norm": "norm per filter and input channel",
    "spatial_norm": "norm over input channels",
}
SCALING_LABELS = {"layer": "one scale for the layer", "filter": "each filter its own"}


class FilterExplorer(NNWidget):
    """See the filters of any ``nn.Conv2d`` of a model, and read their weights.

    A first layer on RGB images shows each filter as a colour image; other layers show one
    grey tile per (filter, input channel) slice, or a norm view: the L2 norm of every slice
    (an out x in matrix) or over the input channels at every kernel position. Weights are on
    a symmetric scale around 0 (mid-grey), one scale for the layer unless
    ``scaling="filter"``; the legend states which (see
    :func:`nnwidgets.compute.conv_filters`). Hover a tile to read its weights.

    Parameters
    ----------
    model
        Any model with at least one ``nn.Conv2d`` (its weights are read, never changed).
    layer
        The Conv2d shown first (default the first one); the picker offers them all.
    view, scaling
        As for :func:`nnwidgets.compute.conv_filters`; ``view=None`` picks ``"rgb"`` for a
        3-channel first layer, else ``"channels"``.
    """

    _esm = bundle("filters.js")
    _css = bundle("filters.css")

    # what the front-end shows (kernel -> browser)
    layers = List(Unicode(), help="The model's Conv2d layers.").tag(sync=True)
    views = List(Unicode(), help="Views that apply to the current layer.").tag(sync=True)
    view_names = Dict(VIEW_NAMES, read_only=True, help="What each view shows.").tag(sync=True)
    tiles = Tensor(dtype=torch.uint8, ndim=(2, 3, 4), help="uint8 codes, shaped as the view's.")
    values = Tensor(dtype=torch.float32, ndim=(2, 3, 4), help="The values the tiles encode.")
    low = Tensor(dtype=torch.float32, ndim=1, help="(out,) value of code 0 per filter.")
    high = Tensor(dtype=torch.float32, ndim=1, help="(out,) value of code 255 per filter.")
    description = Unicode("", help="What the codes mean, for the legend.").tag(sync=True)

    # settings (both ways)
    _settings = ("layer", "view", "scaling")
    layer = Unicode("", help="The Conv2d shown.").tag(sync=True)
    view = Unicode("", help="What a tile shows, one of views.").tag(sync=True)
    scaling = Enum(FILTER_SCALINGS, default_value="layer", help="One scale or one per filter.").tag(
        sync=True
    )
    scalings = Dict(SCALING_LABELS, read_only=True, help="scaling's choices.").tag(sync=True)

    def __init__(
        self,
        model: nn.Module,
        layer: str | None = None,
        *,
        view: str | None = None,
        scaling: str = "layer",
    ) -> None:
        self.model = check_model(model)
        filters = conv_filters(model, layer, view=view, scaling=scaling)
        self._filters: ConvFilters = filters
        self._started = False  # the constructor's trait values recompute nothing
        super().__init__(
            layers=conv_layers(model),
            views=self._views_of(filters.layer),
            layer=filters.layer,
            view=filters.view,
            scaling=filters.scaling,
        )
        self._publish(filters)
        self._started = True

    @property
    def filters(self) -> ConvFilters:
        """What is shown: tiles, the values they encode, scales, the raw weight and bias."""
        return self._filters

    # -- validation ----------------------------------------------------------------------
    def _views_of(self, layer: str) -> list[str]:
        conv = dict(self.model.named_modules())[layer]
        rgb = conv.in_channels == 3 and conv.groups == 1
        return [v for v in FILTER_VIEWS if rgb or v != "rgb"]

    _check_layer = listed("layer", "layers", "layer")

    @validate("view")
    def _check_view(self, proposal: dict) -> str:
        views = self._views_of(self.layer) if self.layer in self.layers else FILTER_VIEWS
        if proposal["value"] not in views:
            raise TraitError(
                f"view {proposal['value']!r} does not apply to layer {self.layer!r}; "
                f"choose one of {list(views)}"
            )
        return proposal["value"]

    # -- reactions -----------------------------------------------------------------------
    @observe("layer", "view", "scaling")
    def _settings_changed(self, _change: dict[str, Any]) -> None:
        if not self._started:
            return
        views = self._views_of(self.layer)
        view = self.view if self.view in views else None
        filters = conv_filters(self.model, self.layer, view=view, scaling=self.scaling)
        with self.hold_sync():
            self.views = views
            self.view = filters.view
            self._publish(filters)

    def _publish(self, filters: ConvFilters) -> None:
        self._filters = filters
        with self.hold_sync():
            self.tiles = filters.tiles
            self.values = filters.values if filters.values.numel() <= MAX_VALUES else None
            self.low = filters.low
            self.high = filters.high
            self.description = filters.description
