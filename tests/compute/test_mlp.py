"""MLP compute: unit maps against a plain forward, exact region counts, XOR by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import nnwidgets as nw
from nnwidgets.compute import (
    ACTIVATIONS,
    build_mlp,
    linear_regions,
    mlp_layers,
    plane_points,
    set_bias,
    set_weight,
    unit_maps,
)

EXTENT = (-1.0, 1.0, -1.0, 1.0)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_unit_maps_equal_a_plain_forward(activation):
    model = build_mlp(2, (5, 3), 2, activation, seed=1)
    maps = unit_maps(model, EXTENT, resolution=17)
    points = plane_points(EXTENT, 17)
    x = points
    for index, module in enumerate(model):
        x = module(x)
        layer = index // 2
        expected = x.detach().T.reshape(-1, 17, 17)
        which = maps.pre if isinstance(module, nn.Linear) else maps.post
        assert torch.allclose(which[layer], expected, atol=1e-6), (index, activation)
    assert torch.equal(maps.post[-1], maps.pre[-1])  # the output layer has no activation
    assert [m.shape[0] for m in maps.post] == [5, 3, 2]


def test_grid_orientation_and_1d_maps():
    points = plane_points((-2.0, 2.0, -1.0, 1.0), 3)
    assert points.tolist() == [
        [-2, 1],
        [0, 1],
        [2, 1],
        [-2, 0],
        [0, 0],
        [2, 0],
        [-2, -1],
        [0, -1],
        [2, -1],
    ]
    model = build_mlp(1, (4,), 1, "relu")
    maps = unit_maps(model, (-1.0, 1.0, 0.0, 0.0), resolution=11)
    xs = torch.linspace(-1, 1, 11)[:, None]
    assert torch.allclose(maps.post[0], model[1](model[0](xs)).detach().T, atol=1e-6)
    assert maps.post[1].shape == (1, 11)


def lines_net(k: int, seed: int = 0) -> nn.Sequential:
    """One hidden layer of k ReLUs: lines near the origin, in general position."""
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(2, k), nn.ReLU(), nn.Linear(k, 1))
    angles = torch.arange(k) * math.pi / k + torch.rand(k, generator=g) * 0.1
    with torch.no_grad():
        net[0].weight.copy_(torch.stack([angles.cos(), angles.sin()], 1))
        net[0].bias.copy_((torch.rand(k, generator=g) - 0.5) * 0.6)
    return net


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
def test_k_lines_in_general_position(k):
    """k lines whose crossings all lie inside the extent cut it into 1 + k + k(k-1)/2 regions."""
    result = linear_regions(lines_net(k), (-20.0, 20.0, -20.0, 20.0), resolution=64)
    assert result.exact
    assert result.count == 1 + k + k * (k - 1) // 2


def test_two_layers_counted_by_hand():
    """Layer 1 cuts the plane into quadrants; layer 2 fires where relu(x) + relu(y) > 1."""
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2))
        net[0].bias.zero_()
        net[2].weight.fill_(1.0)
        net[2].bias.fill_(-1.0)
    # the cut relu(x) + relu(y) = 1 crosses the quadrants x>0,y<0 (x=1), x>0,y>0 (x+y=1) and
    # x<0,y>0 (y=1); the quadrant x<0,y<0 stays whole: 4 + 3 = 7 regions
    result = linear_regions(net, (-2.0, 2.0, -2.0, 2.0), resolution=101)
    assert (result.count, result.exact) == (7, True)
    assert result.count_on_grid == 7
    assert result.labels.shape == (101, 101)


def test_1d_regions_are_intervals():
    net = nn.Sequential(nn.Linear(1, 3), nn.ReLU(), nn.Linear(3, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0], [1.0], [-1.0]]))
        net[0].bias.copy_(torch.tensor([0.5, 0.0, 0.5]))  # kinks at -0.5, 0, 0.5
    result = linear_regions(net, (-1.0, 1.0, 0.0, 0.0), resolution=200)
    assert (result.count, result.exact, result.count_on_grid) == (4, True, 4)


def test_grid_fallback_is_labelled_sampled():
    result = linear_regions(lines_net(8), (-20.0, 20.0, -20.0, 20.0), resolution=32, max_exact=5)
    assert not result.exact
    assert result.count == result.count_on_grid <= 37


def test_regions_need_piecewise_linear_units():
    with pytest.raises(ValueError, match="piecewise-linear"):
        linear_regions(build_mlp(2, (3,), 1, "tanh"))


def test_xor_by_hand_through_the_edit_api():
    """OR and NAND in the hidden layer, AND of them at the output (steep sigmoids)."""
    model = build_mlp(2, (2,), 1, "sigmoid")
    s = 20.0
    for unit, (w, b) in enumerate((((s, s), -s / 2), ((-s, -s), 1.5 * s))):  # OR, NAND on {0,1}
        set_weight(model, 0, unit, 0, w[0])
        set_weight(model, 0, unit, 1, w[1])
        set_bias(model, 0, unit, b)
    set_weight(model, 1, 0, 0, s)
    set_weight(model, 1, 0, 1, s)
    set_bias(model, 1, 0, -1.5 * s)  # AND
    corners = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    with torch.no_grad():
        out = torch.sigmoid(model(corners))[:, 0]
    assert (out > 0.5).long().tolist() == [0, 1, 1, 0]


def test_edit_api_checks_its_arguments():
    model = build_mlp(2, (3,), 2)
    with pytest.raises(ValueError, match="layer 2"):
        set_weight(model, 2, 0, 0, 1.0)
    with pytest.raises(ValueError, match="out_unit 3"):
        set_weight(model, 0, 3, 0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        set_bias(model, 0, 0, float("nan"))


def test_structure_errors_name_what_was_found():
    with pytest.raises(ValueError, match=r"Conv2d at '0'"):
        mlp_layers(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 1)))
    with pytest.raises(ValueError, match="takes 3 inputs"):
        mlp_layers(nn.Sequential(nn.Linear(3, 2)))
    with pytest.raises(ValueError, match=r"nn\.Sequential"):
        mlp_layers(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="unknown activation"):
        build_mlp(activation="swish")


def test_model_untouched_by_maps_and_regions(fingerprint, same_fingerprint):
    model = build_mlp(2, (4, 4), 2, "relu").train()
    before = fingerprint(model)
    unit_maps(model, EXTENT, 16)
    linear_regions(model, EXTENT, 16)
    same_fingerprint(before, fingerprint(model))


@pytest.mark.parametrize("name", nw.zoo.TOY_DATASETS)
def test_toy_data_sets(name):
    x, y = nw.zoo.toy_data(name, n=300, noise=0.1, seed=3)
    assert x.shape == (300, 2) and y.shape == (300,)
    assert float(x.abs().max()) <= 1.0
    assert y.unique().tolist() == [0, 1]
    again = nw.zoo.toy_data(name, n=300, noise=0.1, seed=3)
    assert torch.equal(x, again[0]) and torch.equal(y, again[1])
    with pytest.raises(ValueError, match="unknown data set"):
        nw.zoo.toy_data("swirls")


def test_initial_weights_are_scaled_for_the_activation():
    """Var(w) = gain^2 / fan_in (1 / fan_in at the output); biases as documented."""
    for activation, gain in (("tanh", 5 / 3), ("relu", 2**0.5)):
        model = build_mlp(2, (400, 400), 300, activation, seed=2)
        first, hidden, out = (m for m in model if isinstance(m, nn.Linear))
        assert hidden.weight.std().item() == pytest.approx(gain / 400**0.5, rel=0.02)
        assert out.weight.std().item() == pytest.approx(1 / 400**0.5, rel=0.02)
        assert first.bias.abs().max() <= 0.5 and first.bias.std() > 0.25
        assert not hidden.bias.any() and not out.bias.any()


def test_prediction_map_is_signed_and_bounded():
    from nnwidgets.compute.mlp import prediction_map

    one = torch.tensor([[0.0, 100.0, -100.0]])
    assert prediction_map(one, "classification").tolist() == pytest.approx([0.0, 1.0, -1.0])
    two = torch.tensor([[0.0, 0.0], [0.0, 50.0]])
    assert prediction_map(two, "classification").tolist() == pytest.approx([0.0, 1.0])
    three = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert prediction_map(three, "classification").tolist() == [-1.0, 0.0, 1.0]
    regression = torch.tensor([[-4.0, 1.0, 2.0]])
    assert prediction_map(regression, "regression", 2.0).tolist() == [-1.0, 0.5, 1.0]


def test_map_codes_and_parameters_of_a_network():
    from nnwidgets.compute.mlp import flat_parameters, map_codes, mlp_sizes, plane_extent

    model = build_mlp(2, (3,), 2, "tanh", seed=1)
    maps = unit_maps(model, EXTENT, 8)
    codes, limits = map_codes(maps.post, torch.zeros(8, 8))
    assert codes.dtype == torch.uint8 and codes.shape == (3 + 2 + 1, 8, 8)
    assert limits[-1] == 1 and bool((codes[-1] == 128).all())  # a prediction of 0 is the middle
    assert limits[:-1].tolist() == pytest.approx(
        torch.cat(maps.post).flatten(1).abs().amax(1).tolist()
    )
    weights, biases = flat_parameters(model)
    assert mlp_sizes(model) == [2, 3, 2]
    assert weights.shape == (2 * 3 + 3 * 2,) and biases.shape == (3 + 2,)
    assert torch.equal(weights[:6], model[0].weight.detach().flatten())
    no_bias = nn.Sequential(nn.Linear(2, 2, bias=False))
    assert flat_parameters(no_bias)[1].tolist() == [0.0, 0.0]
    assert plane_extent(torch.tensor([[0.1, -0.2]])) == pytest.approx((-1.05, 1.05, -1.05, 1.05))
    assert plane_extent(torch.tensor([[3.0, -4.0]])) == pytest.approx((-4.2, 4.2, -4.2, 4.2))
