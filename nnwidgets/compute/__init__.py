"""Plain PyTorch computations behind the widgets; usable from scripts, no Jupyter needed.

Every function borrows the user's model (see :func:`borrowed_model`): it runs in eval
mode and comes back exactly as it was, modes, ``requires_grad`` and hooks included.
"""

from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._outputs import predict, select_output
from nnwidgets.compute.maximize import (
    TopActivations,
    find_layer,
    layer_activations,
    layer_units,
    synthesize,
    top_activations,
)
from nnwidgets.compute.occlusion import (
    DEFAULT_MEMORY_BUDGET,
    OcclusionGrid,
    occlusion,
    occlusion_outputs,
)

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "OcclusionGrid",
    "TopActivations",
    "borrowed_model",
    "find_layer",
    "layer_activations",
    "layer_units",
    "model_device",
    "occlusion",
    "occlusion_outputs",
    "predict",
    "select_output",
    "synthesize",
    "top_activations",
]
