"""ActivationExplorer's Python side: state, the live input, checks of what comes back."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnwidgets as nw
from nnwidgets.compute import activation_grids


@pytest.fixture
def explorer(digits):
    w = nw.ActivationExplorer(
        digits.model, digits.images[0], dataset=digits.images[:20], labels=digits.classes
    )
    yield w
    w.close()


def send(widget, **content):
    """Deliver a message as the front-end would."""
    widget._handle_message(widget, content, [])


def wire(tensor):
    """A tensor as the front-end writes it: {dtype, shape, buffer}."""
    array = tensor.numpy()
    return {"dtype": str(array.dtype), "shape": list(array.shape), "buffer": memoryview(array)}


def test_state_holds_the_layer_tiles_stats_and_prediction(digits, fingerprint, same_fingerprint):
    before = fingerprint(digits.model)
    w = nw.ActivationExplorer(digits.model, digits.images[5], labels=digits.classes, layer="relu2")
    same_fingerprint(before, fingerprint(digits.model))
    assert w.layers == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2"]
    expected = activation_grids(digits.model, digits.images[5])
    grid = expected.layers["relu2"]
    assert w.layer == "relu2" and w.tiles.dtype == torch.uint8
    assert torch.equal(w.tiles, grid.tiles) and torch.equal(w.tile_high, grid.high)
    torch.testing.assert_close(w.probabilities, expected.probabilities)
    assert w.labels == digits.classes and w.drawable and w.dataset_size == 0
    stats = {s["name"]: s for s in w.layer_stats}
    assert stats["relu2"]["zero_fraction"] == pytest.approx(grid.zero_fraction)
    assert stats["relu2"]["channels"] == 32 and stats["relu2"]["size"] == [8, 8]
    assert stats["conv1"]["zero_fraction"] == 0.0 < stats["relu1"]["zero_fraction"]
    assert w.image.shape[-1] == 3 and w.image.dtype == torch.uint8
    w.close()


def test_layer_and_scaling_change_the_tiles(explorer, digits):
    explorer.layer = "conv2"
    assert tuple(explorer.tiles.shape) == (32, 8, 8)
    explorer.scaling = "channel"
    explorer.wait()
    grid = activation_grids(digits.model, digits.images[0], "conv2", scaling="channel")
    assert torch.equal(explorer.tiles, grid.layers["conv2"].tiles)
    assert not torch.equal(explorer.tile_low, explorer.tile_low[:1].expand(32))


def test_dataset_index_and_drawing_follow(explorer, digits):
    explorer.index = 7
    explorer.wait()
    assert explorer.source == "dataset #7" and torch.equal(explorer.input, digits.images[7])
    expected = activation_grids(digits.model, digits.images[7]).probabilities
    torch.testing.assert_close(explorer.probabilities, expected)
    drawn = torch.zeros(16, 16, dtype=torch.uint8)
    drawn[2:14, 7:9] = 255  # a "1"
    computed = explorer.computed
    explorer.set_state({"drawing": wire(drawn)})
    explorer.wait()
    assert explorer.error == "" and explorer.source == "your drawing"
    assert explorer.computed == computed + 1
    low, high = float(explorer._range[0]), float(explorer._range[1])
    assert (low, high) == (0.0, 1.0)  # the digits' range: drawn 255 is ink 1.0
    torch.testing.assert_close(explorer.input, drawn.float()[None] / 255)
    expected = activation_grids(digits.model, drawn.float()[None] / 255)
    torch.testing.assert_close(explorer.probabilities, expected.probabilities)
    assert torch.equal(explorer.tiles, expected.layers["conv1"].tiles)
    send(explorer, type="show_example", index=7)  # the slider, back on the same image
    explorer.wait()
    assert explorer.source == "dataset #7" and torch.equal(explorer.input, digits.images[7])
    send(explorer, type="show_example", index=2)
    explorer.wait()
    assert (explorer.index, explorer.source) == (2, "dataset #2")


def test_rank_pin_and_their_checks(explorer):
    send(explorer, type="rank", row=8, col=3)
    ranked = explorer.grids.layers["conv1"].ranked_at(8, 3)
    assert explorer.ranking["channels"] == ranked.channels.tolist()
    assert explorer.ranking["cell"] == [8, 3]
    explorer.layer = "pool2"  # the ranking follows the layer, at the same pixel
    assert explorer.ranking["cell"] == [2, 0] and len(explorer.ranking["channels"]) == 32
    send(explorer, type="clear_rank")
    assert explorer.ranking == {}
    explorer.set_state({"channel": 31})
    assert explorer.channel == 31 and explorer.error == ""
    explorer.layer = "conv1"
    assert explorer.channel == -1, "a new layer unpins"


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ({"channel": 16}, "channel 16 is out of range"),
        ({"channel": True}, "channel"),
        ({"index": 20}, "index 20 is out of range"),
        ({"layer": "fc1"}, "unknown layer 'fc1'"),
        ({"scaling": "global"}, "scaling"),
        ({"tiles": None}, "computed by the kernel"),
        ({"drawing": {"dtype": "float32", "shape": [16, 16], "buffer": bytes(1024)}}, "uint8"),
        (
            {"drawing": {"dtype": "uint8", "shape": [8, 8], "buffer": bytes(64)}},
            "expected [16, 16]",
        ),
        ({"drawing": {"dtype": "uint8", "shape": [16, 16], "buffer": bytes(10)}}, "buffer holds"),
    ],
)
def test_bad_writes_are_rejected_and_rolled_back(explorer, state, words):
    before = {name: getattr(explorer, name) for name in ("channel", "index", "layer", "scaling")}
    explorer.set_state(state)
    assert words in explorer.error
    assert {name: getattr(explorer, name) for name in before} == before
    assert explorer.drawing is None


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ({"type": "rank", "row": 16, "col": 0}, "row=16 is outside"),
        ({"type": "rank", "row": 0, "col": -1}, "col=-1 is outside"),
        ({"type": "rank", "row": 1.5, "col": 0}, "must be int"),
        ({"type": "rank", "row": 1}, "needs fields"),
        ({"type": "draw"}, "unknown message type"),
        ({"type": "show_example", "index": 20}, "index 20 is out of range"),
    ],
)
def test_bad_messages_are_rejected(explorer, content, words):
    explorer._handle_message(explorer, content, [])
    assert words in explorer.error and explorer.ranking == {}


class Pooled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.flat(self.pool(self.conv(x))))


def test_constructor_errors_name_the_argument(digits):
    model, image = digits.model, digits.images[0]
    with pytest.raises(ValueError, match="'fc1' gives outputs of shape"):
        nw.ActivationExplorer(model, image, layers=["conv1", "fc1"])
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        nw.ActivationExplorer(model, image, layers=["conv9"])
    with pytest.raises(ValueError, match="image must be one image"):
        nw.ActivationExplorer(model, torch.zeros(2, 1, 16, 16))
    with pytest.raises(ValueError, match="the model failed on a batch of 1 inputs of shape"):
        nw.ActivationExplorer(model, torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="dataset images have shape"):
        nw.ActivationExplorer(model, image, dataset=torch.zeros(4, 1, 8, 8))
    with pytest.raises(ValueError, match="got 3 labels"):
        nw.ActivationExplorer(model, image, labels=["a", "b", "c"])
    with pytest.raises(ValueError, match="layer 'fc1' is not among"):
        nw.ActivationExplorer(model, image, layer="fc1")
    with pytest.raises(ValueError, match="scaling must be one of"):
        nw.ActivationExplorer(model, image, scaling="global")
    with pytest.raises(ValueError, match="image is None"):
        nw.ActivationExplorer(model)
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        nw.ActivationExplorer(lambda x: x, image)
    rgb = nw.ActivationExplorer(Pooled(), torch.rand(3, 10, 10))
    assert rgb.layers == ["conv", "pool"] and not rgb.drawable
    rgb.set_state({"drawing": wire(torch.zeros(10, 10, dtype=torch.uint8))})
    assert "one-channel model" in rgb.error
    send(rgb, type="show_example", index=0)
    assert "no dataset to pick an image from" in rgb.error
    rgb.close()


def test_the_model_is_untouched(digits, fingerprint, same_fingerprint):
    model = digits.model
    model.train()
    before = fingerprint(model)
    w = nw.ActivationExplorer(model, digits.images[0], dataset=digits.images[:4])
    w.index = 2
    w.scaling = "channel"
    w.set_state({"drawing": wire(torch.full((16, 16), 80, dtype=torch.uint8))})
    w.wait()
    w.rank(3, 3)
    same_fingerprint(before, fingerprint(model))
    assert model.training
    model.eval()
    w.close()
