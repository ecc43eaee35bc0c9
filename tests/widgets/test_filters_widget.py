"""FilterExplorer's Python side: the tiles it sends, the views per layer, checks of the rest."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnwidgets as nw
from nnwidgets.compute import conv_filters
from nnwidgets.widgets import filters as filters_widget


@pytest.fixture(scope="module")
def hans():
    return nw.zoo.clever_hans()


@pytest.fixture
def explorer(hans):
    w = nw.FilterExplorer(hans.model)
    yield w
    w.close()


def test_first_layer_on_rgb_is_shown_as_colour_filters(explorer, hans, fingerprint):
    expected = conv_filters(hans.model)
    assert explorer.layers == ["conv1", "conv2", "conv3"]
    assert (explorer.layer, explorer.view, explorer.scaling) == ("conv1", "rgb", "layer")
    assert explorer.views == ["rgb", "channels", "norm", "spatial_norm"]
    assert torch.equal(explorer.tiles, expected.tiles) and explorer.tiles.shape == (16, 3, 3, 3)
    assert torch.equal(explorer.values, expected.values)
    assert (
        torch.equal(explorer.high, expected.high) and explorer.description == expected.description
    )


def test_a_deeper_layer_has_no_rgb_view_and_falls_back(explorer, hans):
    explorer.set_state({"layer": "conv2"})
    assert explorer.error == ""
    assert explorer.views == ["channels", "norm", "spatial_norm"] and explorer.view == "channels"
    assert explorer.tiles.shape == (32, 16, 3, 3)
    explorer.set_state({"view": "norm", "scaling": "filter"})
    expected = conv_filters(hans.model, "conv2", view="norm", scaling="filter")
    assert torch.equal(explorer.tiles, expected.tiles) and explorer.tiles.shape == (32, 16)
    assert "each filter on its own scale" in explorer.description
    explorer.set_state({"layer": "conv3"})
    assert explorer.view == "norm", "a view that applies is kept"
    explorer.set_state({"view": "rgb"})
    assert "view 'rgb' does not apply to layer 'conv3'" in explorer.error
    assert explorer.view == "norm"


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ({"layer": "fc1"}, "unknown layer 'fc1'"),
        ({"view": "histogram"}, "does not apply"),
        ({"scaling": "global"}, "scaling"),
        ({"tiles": None}, "computed by the kernel"),
    ],
)
def test_bad_writes_are_rejected_and_rolled_back(explorer, state, words):
    before = (explorer.layer, explorer.view, explorer.scaling)
    explorer.set_state(state)
    assert words in explorer.error
    assert (explorer.layer, explorer.view, explorer.scaling) == before


def test_large_layers_send_no_float_values(hans, monkeypatch):
    monkeypatch.setattr(filters_widget, "MAX_VALUES", 100)
    w = nw.FilterExplorer(hans.model, "conv2")
    assert w.values is None and w.tiles.shape == (32, 16, 3, 3)
    w.close()


def test_constructor_errors_and_the_model_untouched(hans, fingerprint, same_fingerprint):
    with pytest.raises(ValueError, match=r"'fc1' is a Linear, not an nn\.Conv2d"):
        nw.FilterExplorer(hans.model, "fc1")
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        nw.FilterExplorer(hans.model, "conv9")
    with pytest.raises(ValueError, match="view='rgb' needs a conv with 3 input channels"):
        nw.FilterExplorer(hans.model, "conv2", view="rgb")
    with pytest.raises(ValueError, match=r"no nn\.Conv2d layer"):
        nw.FilterExplorer(nn.Sequential(nn.Linear(2, 2)))
    before = fingerprint(hans.model)
    w = nw.FilterExplorer(hans.model, "conv3", view="spatial_norm")
    w.set_state({"layer": "conv1", "view": "channels"})
    same_fingerprint(before, fingerprint(hans.model))
    w.close()
