"""Finding layers and counting their units."""

from __future__ import annotations

import nnwidgets as nw
from nnwidgets.compute import find_layer, layer_units


def test_layer_units_and_shapes():
    demo = nw.zoo.digits()
    assert layer_units(demo.model, "conv2", (1, 16, 16)) == (32, (32, 8, 8))
    assert layer_units(demo.model, "fc1", (1, 16, 16))[0] == 64
    assert layer_units(demo.model, None, (1, 16, 16)) == (10, (10,))
    assert find_layer(demo.model, "output") is demo.model
