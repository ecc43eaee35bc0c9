"""Plain PyTorch computations behind the widgets; usable from scripts, no Jupyter needed.

Every function borrows the user's model (see :func:`borrowed_model`): it runs in eval
mode and comes back exactly as it was, modes, ``requires_grad`` and hooks included.
"""

from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._outputs import predict, select_output
from nnwidgets.compute.activation_grid import (
    SCALINGS,
    ActivationGrids,
    ChannelRanking,
    LayerGrid,
    activation_grids,
    spatial_layers,
)
from nnwidgets.compute.activation_map import activation_map
from nnwidgets.compute.attribution import METHODS as ATTRIBUTION_METHODS
from nnwidgets.compute.attribution import (
    SanityStep,
    attribution,
    randomizable_layers,
    rank_correlation,
    sanity_check,
    sanity_steps,
)
from nnwidgets.compute.dataset_activations import (
    TopActivations,
    layer_activations,
    top_activations,
)
from nnwidgets.compute.filters import (
    FILTER_SCALINGS,
    FILTER_VIEWS,
    ConvFilters,
    conv_filters,
    conv_layers,
)
from nnwidgets.compute.layers import find_layer, layer_units
from nnwidgets.compute.linear_regions import (
    LinearRegions,
    compare_depth_width,
    linear_regions,
    max_regions_one_layer,
    sawtooth_mlp,
)
from nnwidgets.compute.mlp import (
    ACTIVATIONS,
    MLPLayer,
    UnitMaps,
    build_mlp,
    mlp_layers,
    plane_points,
    set_bias,
    set_weight,
    unit_maps,
)
from nnwidgets.compute.occlusion import (
    DEFAULT_MEMORY_BUDGET,
    OcclusionGrid,
    occlusion,
    occlusion_outputs,
)
from nnwidgets.compute.synthesis import synthesize
from nnwidgets.compute.text import (
    CharModel,
    TextActivations,
    UnitRanking,
    char_model,
    rank_units,
    text_activations,
)
from nnwidgets.compute.training import Trainer

__all__ = [
    "ACTIVATIONS",
    "ATTRIBUTION_METHODS",
    "DEFAULT_MEMORY_BUDGET",
    "FILTER_SCALINGS",
    "FILTER_VIEWS",
    "SCALINGS",
    "ActivationGrids",
    "ChannelRanking",
    "CharModel",
    "ConvFilters",
    "LayerGrid",
    "LinearRegions",
    "MLPLayer",
    "OcclusionGrid",
    "SanityStep",
    "TextActivations",
    "TopActivations",
    "Trainer",
    "UnitMaps",
    "UnitRanking",
    "activation_grids",
    "activation_map",
    "attribution",
    "borrowed_model",
    "build_mlp",
    "char_model",
    "compare_depth_width",
    "conv_filters",
    "conv_layers",
    "find_layer",
    "layer_activations",
    "layer_units",
    "linear_regions",
    "max_regions_one_layer",
    "mlp_layers",
    "model_device",
    "occlusion",
    "occlusion_outputs",
    "plane_points",
    "predict",
    "randomizable_layers",
    "rank_correlation",
    "rank_units",
    "sanity_check",
    "sanity_steps",
    "sawtooth_mlp",
    "select_output",
    "set_bias",
    "set_weight",
    "spatial_layers",
    "synthesize",
    "text_activations",
    "top_activations",
    "unit_maps",
]
