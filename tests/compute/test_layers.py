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


def test_objectives_follow_the_layer_shape():
    from nnwidgets.compute.layers import objectives_for, resolve_objective

    assert objectives_for(None, (10,)) == objectives_for("output", (10,)) == ("logit",)
    assert objectives_for("conv1", (8, 5, 5)) == ("channel", "neuron")
    assert objectives_for("fc1", (64,)) == ("linear",)
    for layer, shape in ((None, (10,)), ("conv1", (8, 5, 5)), ("fc1", (64,))):
        for objective in objectives_for(layer, shape):  # each one resolve_objective accepts
            assert resolve_objective(objective, layer, shape) == objective
