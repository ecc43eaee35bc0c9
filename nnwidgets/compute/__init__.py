"""Plain PyTorch computations behind the widgets; usable from scripts, no Jupyter needed.

Every function borrows the user's model (see :func:`borrowed_model`): it runs in eval
mode and comes back exactly as it was, modes, ``requires_grad`` and hooks included.
"""

from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._outputs import predict, select_output
from nnwidgets.compute.linear_regions import (
    LinearRegions,
    compare_depth_width,
    linear_regions,
    max_regions_one_layer,
    sawtooth_mlp,
)
from nnwidgets.compute.maximize import (
    TopActivations,
    find_layer,
    layer_activations,
    layer_units,
    synthesize,
    top_activations,
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
from nnwidgets.compute.training import Trainer

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_MEMORY_BUDGET",
    "LinearRegions",
    "MLPLayer",
    "OcclusionGrid",
    "TopActivations",
    "Trainer",
    "UnitMaps",
    "borrowed_model",
    "build_mlp",
    "compare_depth_width",
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
    "sawtooth_mlp",
    "select_output",
    "set_bias",
    "set_weight",
    "synthesize",
    "top_activations",
    "unit_maps",
]
