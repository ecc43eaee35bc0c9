"""nw.compute.activation_grids: direct forwards' values, uint8 round trips, statistics, ranks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnwidgets as nw
from nnwidgets.compute import activation_grids, spatial_layers


class InplaceNet(nn.Module):
    """Conv, BatchNorm, an in-place ReLU, a pool; one ReLU module run twice; an unused layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 4, 3, padding=1)
        self.shared = nn.ReLU()
        self.unused = nn.Conv2d(4, 4, 1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.bn(self.conv(x))))
        x = self.shared(self.conv2(x)) + self.shared(-x[:, :4])
        return self.fc(self.drop(x.flatten(1)))


def inplace_net() -> InplaceNet:
    torch.manual_seed(0)
    net = InplaceNet()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-0.3, 0.3)
        net.bn.running_var.uniform_(0.5, 2.0)
    return net


def decoded(grid) -> torch.Tensor:
    """The values the uint8 tiles stand for."""
    low, high = grid.low[:, None, None], grid.high[:, None, None]
    return low + grid.tiles.float() / 255 * (high - low)


def test_values_are_those_of_the_layers_in_a_direct_forward():
    demo = nw.zoo.digits()
    model, image = demo.model, demo.images[3]
    grids = activation_grids(model, image, ["conv1", "relu1", "conv2", "pool2"])
    with torch.no_grad():
        conv1 = model.conv1(image[None])
        conv2 = model.conv2(model.pool1(F.relu(conv1)))
        pool2 = model.pool2(F.relu(conv2))
        scores = model(image[None])[0]
    assert list(grids.layers) == ["conv1", "relu1", "conv2", "pool2"]
    torch.testing.assert_close(grids.layers["conv1"].activations, conv1[0], rtol=0, atol=0)
    torch.testing.assert_close(grids.layers["relu1"].activations, F.relu(conv1[0]))
    torch.testing.assert_close(grids.layers["conv2"].activations, conv2[0])
    torch.testing.assert_close(grids.layers["pool2"].activations, pool2[0])
    torch.testing.assert_close(grids.scores, scores, rtol=0, atol=0)
    torch.testing.assert_close(grids.probabilities, scores.softmax(0))
    assert int(grids.probabilities.argmax()) == int(demo.targets[3])
    assert grids.layers["pool2"].tiles.shape == (32, 4, 4)
    assert grids.layers["pool2"].tiles.dtype == torch.uint8


def test_in_place_relu_leaves_the_layer_before_it_as_it_returned():
    net = inplace_net()
    image = torch.randn(3, 8, 8)
    grids = activation_grids(net, image, ["bn", "relu", "pool"])
    with torch.no_grad():
        net.eval()
        bn = net.bn(net.conv(image[None]))[0]
    assert bool((grids.layers["bn"].activations < 0).any())
    torch.testing.assert_close(grids.layers["bn"].activations, bn)
    torch.testing.assert_close(grids.layers["relu"].activations, F.relu(bn))
    torch.testing.assert_close(grids.layers["pool"].activations, F.max_pool2d(F.relu(bn), 2))


def test_default_layers_are_the_spatial_ones_in_named_modules_order():
    net = inplace_net()
    image = torch.randn(3, 8, 8)
    assert spatial_layers(net, image) == ["conv", "bn", "relu", "pool", "conv2"]
    grids = activation_grids(net, image)
    assert list(grids.layers) == ["conv", "bn", "relu", "pool", "conv2"]
    demo = nw.zoo.digits()
    assert spatial_layers(demo.model, demo.images[0][None]) == [
        "conv1", "relu1", "pool1", "conv2", "relu2", "pool2",
    ]  # fmt: skip


def test_containers_that_return_maps_are_spatial_layers():
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)
    )
    assert spatial_layers(model, torch.rand(1, 6, 6)) == ["0", "0.0", "0.1"]
    image = torch.rand(1, 6, 6)
    grids = activation_grids(model, image, "0")
    with torch.no_grad():
        torch.testing.assert_close(grids.layers["0"].activations, model[0](image[None])[0])


@pytest.mark.parametrize("scaling", ["layer", "channel"])
def test_tiles_round_trip_within_half_a_step(scaling):
    demo = nw.zoo.digits()
    grids = activation_grids(demo.model, demo.images[7], ["conv1", "relu2"], scaling=scaling)
    for grid in grids.layers.values():
        values = grid.activations
        step = (grid.high - grid.low)[:, None, None] / 255
        assert bool(((decoded(grid) - values).abs() <= step / 2 + 1e-6).all())
        assert grid.scaling == scaling
        if scaling == "layer":
            assert bool((grid.low == values.min()).all())
            assert bool((grid.high == values.max()).all())
            assert int(grid.tiles.min()) == 0 and int(grid.tiles.max()) == 255
        else:
            torch.testing.assert_close(grid.low, values.amin((1, 2)), rtol=0, atol=0)
            torch.testing.assert_close(grid.high, values.amax((1, 2)), rtol=0, atol=0)
            varying = grid.high > grid.low
            assert bool((grid.tiles.flatten(1).amax(1)[varying] == 255).all())
            assert bool((grid.tiles.flatten(1).amin(1) == 0).all())


def test_a_constant_channel_is_code_zero_and_its_scale_says_so():
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.Flatten())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([1.0, 0.0]).reshape(2, 1, 1, 1))
        model[0].bias.copy_(torch.tensor([0.0, 0.7]))
    grid = activation_grids(model, torch.rand(1, 3, 3), "0", scaling="channel").layers["0"]
    assert bool((grid.tiles[1] == 0).all())
    assert float(grid.low[1]) == pytest.approx(0.7) and float(grid.high[1]) == pytest.approx(0.7)
    torch.testing.assert_close(decoded(grid)[1], grid.activations[1])


def test_statistics_of_a_known_conv():
    """Channel 0 is relu(x), channel 1 is relu(-x): the zeros and the mean are known."""
    model = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.ReLU(), nn.Flatten())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([1.0, -1.0]).reshape(2, 1, 1, 1))
    image = torch.tensor(
        [
            [3.0, -1.0, 0.0, 2.0],
            [0.0, -4.0, 1.0, 0.0],
            [-2.0, 5.0, 0.0, -1.0],
            [1.0, 0.0, -3.0, 2.0],
        ]
    )[None]
    grids = activation_grids(model, image, ["0", "1"])
    relu = grids.layers["1"]
    # 5 zeros in x: zero in both channels; 6 negatives zero channel 0, 5 positives channel 1.
    assert relu.zero_fraction == pytest.approx((5 * 2 + 6 + 5) / 32)
    assert relu.mean == pytest.approx(float(image.abs().sum()) / 32)
    assert relu.max == 5.0 and relu.min == 0.0
    conv = grids.layers["0"]
    assert conv.zero_fraction == pytest.approx(10 / 32)
    assert conv.mean == pytest.approx(0.0) and conv.min == -5.0 and conv.max == 5.0


def test_channels_ranked_at_an_input_position():
    """Channels x, -x, 2x, pooled 2x2: the order at a cell follows the sign of x there."""
    model = nn.Sequential(nn.Conv2d(1, 3, 1, bias=False), nn.AvgPool2d(2), nn.Flatten())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([1.0, -1.0, 2.0]).reshape(3, 1, 1, 1))
    image = torch.full((1, 8, 8), -1.0)
    image[0, 4:6, 2:4] = 1.0  # the cell (2, 1) of the 4x4 pooled map
    grid = activation_grids(model, image, "1").layers["1"]
    assert grid.cell_at(5, 2) == (2, 1) and grid.cell_at(4, 3) == (2, 1)
    assert grid.cell_at(7, 7) == (3, 3) and grid.cell_at(0, 0) == (0, 0)
    ranking = grid.ranked_at(5, 2)
    assert ranking.cell == (2, 1)
    assert ranking.channels.tolist() == [2, 0, 1]
    torch.testing.assert_close(ranking.values, torch.tensor([2.0, 1.0, -1.0]))
    assert grid.ranked_at(0, 0).channels.tolist() == [1, 0, 2]
    with pytest.raises(ValueError, match="row=8 is outside the 8x8 input"):
        grid.ranked_at(8, 0)
    with pytest.raises(TypeError, match="col must be an int"):
        grid.ranked_at(0, 1.5)


def test_cells_of_sizes_that_do_not_divide():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), nn.Flatten())  # 7 -> 3
    grid = activation_grids(model, torch.rand(1, 7, 7), "0").layers["0"]
    assert [grid.cell_at(r, 0)[0] for r in range(7)] == [0, 0, 0, 1, 1, 2, 2]


def test_model_untouched_and_train_mode_restored(fingerprint, same_fingerprint):
    net = inplace_net().train()
    before = fingerprint(net)
    image = torch.randn(3, 8, 8)
    grids = activation_grids(net, image)
    same_fingerprint(before, fingerprint(net))
    with torch.no_grad():
        net.eval()
        expected = net(image[None])[0]
        net.train()
    torch.testing.assert_close(grids.scores, expected)  # eval mode: no dropout, running stats
    with pytest.raises(ValueError, match="fc"):
        activation_grids(net, image, ["conv", "fc"])
    same_fingerprint(before, fingerprint(net))
    assert net.training


def test_results_are_ordinary_tensors_under_the_callers_inference_mode():
    demo = nw.zoo.digits()
    with torch.inference_mode():
        grids = activation_grids(demo.model, demo.images[0], "conv1")
    grid = grids.layers["conv1"]
    for tensor in (grid.activations, grid.tiles, grid.low, grids.scores, grids.probabilities):
        assert not torch.is_inference(tensor)


def test_outputs_picked_by_the_selector():
    class DictNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"feat": x, "scores": self.conv(x).mean((2, 3))}

    grids = activation_grids(DictNet(), torch.rand(1, 5, 5), "conv", output="scores")
    assert grids.scores.shape == (2,)
    one = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten(), nn.Linear(9, 1))
    grids = activation_grids(one, torch.rand(1, 5, 5), "0")
    torch.testing.assert_close(grids.probabilities, grids.scores.sigmoid())


def test_clear_errors_for_bad_layers():
    net = inplace_net()
    image = torch.randn(3, 8, 8)
    with pytest.raises(ValueError, match=r"no layer 'conv3'.*did you mean .*'conv2'"):
        activation_grids(net, image, "conv3")
    with pytest.raises(ValueError, match=r"layer 'fc' gives outputs of shape \(1, 5\).*spatial_la"):
        activation_grids(net, image, "fc")
    with pytest.raises(ValueError, match="'shared' runs several times"):
        activation_grids(net, image, "shared")
    with pytest.raises(ValueError, match="'unused' was not called"):
        activation_grids(net, image, ["conv", "unused"])
    with pytest.raises(ValueError, match="model's output"):
        activation_grids(net, image, "output")
    with pytest.raises(ValueError, match="layers is empty"):
        activation_grids(net, image, [])
    with pytest.raises(TypeError, match="layer names"):
        activation_grids(net, image, [net.conv])
    with pytest.raises(ValueError, match="scaling must be one of"):
        activation_grids(net, image, "conv", scaling="global")
    flat = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    with pytest.raises(ValueError, match="no layer that returns"):
        activation_grids(flat, torch.rand(3, 2, 2))


def test_clear_errors_for_bad_images():
    net = inplace_net()
    with pytest.raises(ValueError, match=r"pass one image \(C, H, W\)"):
        activation_grids(net, torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"shape \(8, 8\)"):
        activation_grids(net, torch.randn(8, 8))
    with pytest.raises(TypeError, match="uint8"):
        activation_grids(net, torch.zeros(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(TypeError, match=r"torch.Tensor, got list"):
        activation_grids(net, [[0.0]])
    with pytest.raises(ValueError, match="NaN"):
        activation_grids(net, torch.full((3, 8, 8), float("nan")))
    with pytest.raises(ValueError, match=r"model failed on .* shape \(1, 8, 8\)"):
        activation_grids(net, torch.randn(1, 8, 8))
    with pytest.raises(TypeError, match="example_input"):
        spatial_layers(net, torch.zeros(3, 8, 8, dtype=torch.int64))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_runs_on_the_models_device():
    demo = nw.zoo.digits()
    model = demo.model.cuda()
    grids = activation_grids(model, demo.images[0], ["conv1", "pool2"])
    cpu = activation_grids(nw.zoo.digits().model, demo.images[0], ["conv1", "pool2"])
    for name, grid in grids.layers.items():
        assert grid.tiles.device.type == "cpu"
        torch.testing.assert_close(grid.activations, cpu.layers[name].activations)
    torch.testing.assert_close(grids.probabilities, cpu.probabilities)
