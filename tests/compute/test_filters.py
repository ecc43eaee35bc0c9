"""nw.compute.conv_filters: raw weights, views, symmetric scales, grouped convs, bad layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnwidgets as nw
from nnwidgets.compute import FILTER_VIEWS, conv_filters, conv_layers


def rgb_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 5, padding=2),
        nn.ReLU(),
        nn.Conv2d(8, 6, 3, padding=1, bias=False),
        nn.Conv2d(6, 6, 3, groups=3),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 2),
    )


def decoded(filters) -> torch.Tensor:
    """The values the uint8 tiles stand for."""
    shape = (-1, *([1] * (filters.tiles.ndim - 1)))
    low, high = filters.low.reshape(shape), filters.high.reshape(shape)
    return low + filters.tiles.float() / 255 * (high - low)


def half_step(filters) -> torch.Tensor:
    return ((filters.high - filters.low) / 255 / 2).reshape(-1, *([1] * (filters.tiles.ndim - 1)))


def test_first_layer_default_is_rgb_with_the_raw_weights():
    net = rgb_net()
    filters = conv_filters(net)
    conv = net[0]
    assert filters.layer == "0" and filters.view == "rgb" and filters.scaling == "layer"
    torch.testing.assert_close(filters.weight, conv.weight.detach(), rtol=0, atol=0)
    torch.testing.assert_close(filters.bias, conv.bias.detach(), rtol=0, atol=0)
    assert filters.tiles.shape == (8, 5, 5, 3) and filters.tiles.dtype == torch.uint8
    # tile i, pixel (y, x), colour c is weight[i, c, y, x]
    torch.testing.assert_close(filters.values, conv.weight.detach().permute(0, 2, 3, 1))
    assert bool(((decoded(filters) - filters.values).abs() <= half_step(filters) + 1e-7).all())
    m = float(conv.weight.detach().abs().max())
    assert torch.equal(filters.high, torch.full((8,), m))
    assert torch.equal(filters.low, torch.full((8,), -m))
    assert "symmetric" in filters.description and f"{m:.3g}" in filters.description
    filters.weight.zero_()  # a copy: the model's weights stay as they were
    assert float(conv.weight.detach().abs().max()) == m


def test_zero_is_mid_grey_and_the_largest_weight_an_end_of_the_scale():
    conv = nn.Conv2d(1, 2, 3, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1] = -0.5
        conv.weight[1, 0, 0, 2] = 0.25
    filters = conv_filters(nn.Sequential(conv), view="channels")
    assert filters.tiles.shape == (2, 1, 3, 3)
    assert int(filters.tiles[0, 0, 1, 1]) == 0  # -m
    assert int(filters.tiles[1, 0, 0, 2]) == 191  # 0.25 of m = 0.5: 127.5 + 63.75
    zeros = filters.weight == 0
    assert bool((filters.tiles[zeros] == 128).all())
    per_filter = conv_filters(nn.Sequential(conv), view="channels", scaling="filter")
    assert per_filter.high.tolist() == [0.5, 0.25]
    assert int(per_filter.tiles[1, 0, 0, 2]) == 255
    assert "own scale" in per_filter.description


def test_an_all_zero_filter_is_mid_grey():
    conv = nn.Conv2d(2, 2, 3, bias=False)
    with torch.no_grad():
        conv.weight[1].zero_()
    filters = conv_filters(nn.Sequential(conv), scaling="filter")
    assert bool((filters.tiles[1] == 128).all())
    assert float(filters.high[1]) == 1.0
    torch.testing.assert_close(
        decoded(filters)[1], torch.zeros(2, 3, 3), atol=1 / 255 + 1e-6, rtol=0
    )


@pytest.mark.parametrize("scaling", ["layer", "filter"])
def test_deeper_layer_views(scaling):
    net = rgb_net()
    weight = net[2].weight.detach()
    slices = conv_filters(net, "2", scaling=scaling)
    assert slices.view == "channels" and slices.bias is None
    torch.testing.assert_close(slices.values, weight, rtol=0, atol=0)
    norm = conv_filters(net, "2", view="norm", scaling=scaling)
    torch.testing.assert_close(norm.values, weight.flatten(2).norm(dim=2))
    spatial = conv_filters(net, "2", view="spatial_norm", scaling=scaling)
    torch.testing.assert_close(spatial.values, weight.norm(dim=1))
    assert norm.tiles.shape == (6, 8) and spatial.tiles.shape == (6, 3, 3)
    for filters in (slices, norm, spatial):
        assert bool(((decoded(filters) - filters.values).abs() <= half_step(filters) + 1e-7).all())
        torch.testing.assert_close(filters.weight, weight, rtol=0, atol=0)
    for filters in (norm, spatial):
        assert bool((filters.low == 0).all())
        tops = filters.tiles.flatten(1).amax(1)
        assert bool((tops == 255).all()) if scaling == "filter" else int(tops.max()) == 255
        assert "norm" in filters.description


def test_grouped_convs_name_the_input_channel_of_each_slice():
    net = rgb_net()
    filters = conv_filters(net, "3")  # 6 -> 6 in 3 groups: 2 inputs per filter
    assert filters.groups == 3 and filters.tiles.shape == (6, 2, 3, 3)
    assert filters.input_channels.tolist() == [[0, 1], [0, 1], [2, 3], [2, 3], [4, 5], [4, 5]]
    depthwise = nn.Sequential(nn.Conv2d(4, 8, 3, groups=4))
    filters = conv_filters(depthwise)
    assert filters.view == "channels" and filters.tiles.shape == (8, 1, 3, 3)
    assert filters.input_channels[:, 0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    grouped_rgb = nn.Sequential(nn.Conv2d(6, 4, 3, groups=2))  # 3 inputs per filter
    assert conv_filters(grouped_rgb).view == "channels"
    with pytest.raises(ValueError, match=r"3 input channels and groups=1.*groups=2"):
        conv_filters(grouped_rgb, view="rgb")


def test_digits_first_layer_is_grey():
    model = nw.zoo.digits().model
    assert conv_layers(model) == ["conv1", "conv2"]
    filters = conv_filters(model)
    assert filters.layer == "conv1" and filters.view == "channels"
    assert filters.tiles.shape == (16, 1, 3, 3)


def test_model_untouched(fingerprint, same_fingerprint):
    net = rgb_net().train()
    before = fingerprint(net)
    for view in FILTER_VIEWS[1:]:
        conv_filters(net, "2", view=view)
    conv_filters(net, view="rgb")
    same_fingerprint(before, fingerprint(net))


def test_clear_errors():
    net = rgb_net()
    with pytest.raises(ValueError, match=r"layer '1' is a ReLU, not an nn.Conv2d.*layers: 0, 2, 3"):
        conv_filters(net, "1")
    with pytest.raises(ValueError, match="no layer '9'"):
        conv_filters(net, "9")
    with pytest.raises(ValueError, match=r"view='rgb' needs .* layer '2' has 8 input channels"):
        conv_filters(net, "2", view="rgb")
    with pytest.raises(ValueError, match="view must be one of"):
        conv_filters(net, view="L2")
    with pytest.raises(ValueError, match="scaling must be one of"):
        conv_filters(net, scaling="channel")
    with pytest.raises(TypeError, match="layer name"):
        conv_filters(net, net[0])
    with pytest.raises(TypeError, match=r"torch.nn.Module"):
        conv_filters(net[0].weight)
    with pytest.raises(ValueError, match=r"no nn.Conv2d layer"):
        conv_filters(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match=r"Conv1d, not an nn.Conv2d; the model has none"):
        conv_filters(nn.Sequential(nn.Conv1d(2, 2, 3)), "0")
    with pytest.raises(ValueError, match=r"ConvTranspose2d, not an nn.Conv2d.*layers: 1"):
        conv_filters(nn.Sequential(nn.ConvTranspose2d(2, 2, 3), nn.Conv2d(2, 2, 1)), "0")
    lazy = nn.Sequential(nn.LazyConv2d(4, 3))
    with pytest.raises(ValueError, match="lazy conv"):
        conv_filters(lazy)
