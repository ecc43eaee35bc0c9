"""Depth against width: a constructed deep net beats any shallow one; random nets do not."""

from __future__ import annotations

import importlib

import pytest
import torch
from torch import nn

from nnwidgets.compute import (
    build_mlp,
    compare_depth_width,
    linear_regions,
    max_regions_one_layer,
    sawtooth_mlp,
)

# the module, which the package's function of the same name hides from ``import ... as``
regions_module = importlib.import_module("nnwidgets.compute.linear_regions")


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_sawtooth_folds_each_axis_depth_times(depth):
    line = linear_regions(sawtooth_mlp(depth, in_features=1), (-1.0, 1.0, 0.0, 0.0), 2048)
    plane = linear_regions(sawtooth_mlp(depth), (-1.0, 1.0, -1.0, 1.0), 256)
    assert (line.count, line.exact, line.count_on_grid) == (2**depth, True, 2**depth)
    assert (plane.count, plane.exact, plane.count_on_grid) == (4**depth, True, 4**depth)


def test_sawtooth_output_is_the_folded_coordinate():
    """Three folds of [0, 1]: 0 at every multiple of 1/4, 1 halfway between them."""
    x = torch.linspace(-1, 1, 9)[:, None]
    with torch.no_grad():
        assert sawtooth_mlp(3, in_features=1)(x)[:, 0].tolist() == [0, 1, 0, 1, 0, 1, 0, 1, 0]


def test_one_layer_bound_is_reached_by_lines_in_general_position():
    assert [max_regions_one_layer(n) for n in (0, 1, 2, 3, 16)] == [1, 2, 4, 7, 137]
    assert max_regions_one_layer(16, dims=1) == 17
    with pytest.raises(ValueError, match="units"):
        max_regions_one_layer(-1)


def test_deep_can_beat_any_shallow_net_while_random_deep_nets_do_not():
    """notebooks/03's claim, for 16 units: Montufar's construction against random init."""
    rows = {shape: (mean, most) for shape, mean, most in compare_depth_width(16, trials=5)}
    assert list(rows) == [(16,), (8, 8), (4, 4, 4, 4)]
    deep = linear_regions(sawtooth_mlp(4)).count  # 4 layers of 4 units
    assert deep == 256 > max_regions_one_layer(16) == 137
    assert deep > max(most for _, most in rows.values())
    # at initialization the count follows the number of units, not depth (Hanin & Rolnick)
    assert rows[(4, 4, 4, 4)][0] < rows[(16,)][0] / 2
    assert rows[(16,)][0] <= max_regions_one_layer(16)


def test_a_unit_constant_on_a_region_does_not_cut_it():
    """Where every input of a unit is off, it is constant: 0 without a bias, and not a cut."""
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2))
        net[0].bias.zero_()
        net[2].weight.copy_(torch.tensor([[1.0, -1.0]]))
        net[2].bias.zero_()
    # quadrants; x-y cuts only x>0,y>0; in x<0,y<0 the second layer is 0 throughout
    result = linear_regions(net, (-1.0, 1.0, -1.0, 1.0), resolution=101)
    assert (result.count, result.exact, result.count_on_grid) == (5, True, 5)
    line = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1))
    with torch.no_grad():
        line[0].weight.fill_(1.0)
        line[0].bias.zero_()
        line[2].weight.fill_(1.0)
        line[2].bias.zero_()
    assert linear_regions(line, (-1.0, 1.0, 0.0, 0.0), 64).count == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_counts_of_random_nets_agree_with_a_fine_grid(seed):
    net = build_mlp(2, (5, 5, 5), 1, "relu", seed=seed)
    exact = linear_regions(net, resolution=8).count
    assert exact >= linear_regions(net, resolution=600).count_on_grid >= 0.9 * exact


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"trials": 0}, "trials must be an int of at least 1, got 0"),
        ({"trials": -2}, "trials"),
        ({"trials": 2.5}, "trials"),
        ({"trials": True}, "trials"),
        ({"total_units": 0}, "total_units"),
        ({"seed": -1}, "seed"),
        ({"shapes": []}, "shapes must be a non-empty list"),
        ({"shapes": "44"}, "shapes must be a non-empty list"),
        ({"shapes": [(8,), ()]}, "each of shapes"),
        ({"shapes": [(8,), (4, 0)]}, "a hidden layer size in shapes"),
        ({"extent": (1.0, -1.0, -1.0, 1.0)}, "extent"),
    ],
)
def test_compare_depth_width_rejects_nonsense_before_any_work(monkeypatch, kwargs, match):
    def no_work(*args, **kw):
        raise AssertionError("built a network before checking the arguments")

    monkeypatch.setattr(regions_module, "build_mlp", no_work)
    with pytest.raises(ValueError, match=match):
        compare_depth_width(**{"total_units": 8, **kwargs})


def test_sawtooth_checks_its_arguments():
    with pytest.raises(ValueError, match="depth"):
        sawtooth_mlp(0)
    with pytest.raises(ValueError, match="in_features"):
        sawtooth_mlp(2, in_features=3)
