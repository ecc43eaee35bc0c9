"""Jupyter widgets that open up what goes on inside neural networks.

The compute lives in :mod:`nnwidgets.compute` (plain PyTorch, no Jupyter needed),
shipped demo models and data in :mod:`nnwidgets.zoo`, and the widgets are exported
here. Widgets are imported lazily so that ``import nnwidgets.compute`` never pulls in
ipywidgets.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("nnwidgets")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

if TYPE_CHECKING:
    from nnwidgets import compute, zoo
    from nnwidgets.widgets.activation import ActivationExplorer
    from nnwidgets.widgets.attribution import AttributionExplorer
    from nnwidgets.widgets.filters import FilterExplorer
    from nnwidgets.widgets.mlp import MLPExplorer
    from nnwidgets.widgets.neuron import NeuronExplorer
    from nnwidgets.widgets.occlusion import OcclusionExplorer
    from nnwidgets.widgets.text import TextNeuronExplorer

_LAZY = {
    "compute": ("nnwidgets.compute", None),
    "zoo": ("nnwidgets.zoo", None),
    "OcclusionExplorer": ("nnwidgets.widgets.occlusion", "OcclusionExplorer"),
    "ActivationExplorer": ("nnwidgets.widgets.activation", "ActivationExplorer"),
    "AttributionExplorer": ("nnwidgets.widgets.attribution", "AttributionExplorer"),
    "FilterExplorer": ("nnwidgets.widgets.filters", "FilterExplorer"),
    "NeuronExplorer": ("nnwidgets.widgets.neuron", "NeuronExplorer"),
    "MLPExplorer": ("nnwidgets.widgets.mlp", "MLPExplorer"),
    "TextNeuronExplorer": ("nnwidgets.widgets.text", "TextNeuronExplorer"),
}

__all__ = [
    "ActivationExplorer",
    "AttributionExplorer",
    "FilterExplorer",
    "MLPExplorer",
    "NeuronExplorer",
    "OcclusionExplorer",
    "TextNeuronExplorer",
    "__version__",
    "compute",
    "zoo",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'nnwidgets' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
