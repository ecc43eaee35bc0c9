"""NeuronExplorer's Python side: traits, messages, background work, the model left untouched."""

from __future__ import annotations

import copy
import re

import pytest
import torch
from torch import nn
from traitlets import TraitError

import nnwidgets as nw
from nnwidgets.compute import layer_activations
from nnwidgets.testing import CountingModel
from nnwidgets.widgets import _base, neuron

FAST = {"steps": 12, "seed": 0}


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3)
    )


def test_precomputes_the_layer_and_ranks_the_dataset(digits, fingerprint, same_fingerprint):
    before = fingerprint(digits.model)
    dataset = digits.images[:40]
    w = nw.NeuronExplorer(digits.model, "conv2", dataset=dataset, **FAST)
    w.wait(120)
    units = w.unit_count
    assert units == digits.model.conv2.out_channels
    assert w.objectives == ["channel", "neuron"] and w.objective == "channel"
    assert bool(w.unit_done.all())
    assert tuple(w.unit_images.shape) == (units, 16, 16, 3)
    assert tuple(w.images.shape) == (units, 1, 16, 16)
    assert torch.isfinite(w.images).all() and w.images.min() >= 0 and w.images.max() <= 1
    assert torch.isfinite(w.unit_scores).all()
    # the dataset examples are the top 9 by activation, in order
    acts = layer_activations(digits.model, "conv2", dataset)
    expected = acts.topk(9, dim=0).indices.T
    assert torch.equal(w.top_indices.long(), expected)
    assert torch.allclose(w.top_values, acts.gather(0, expected.T).T, atol=1e-5)
    assert tuple(w.examples.shape[1:]) == (16, 16, 3)
    assert torch.equal(w.examples[w.top_slots[3, 0]], w._thumbnail(dataset[expected[3, 0]]))
    # the chosen input defaults to the first dataset image
    assert torch.allclose(w.input_activations, acts[0], atol=1e-5)
    assert w.input_label == "dataset example #0"
    # synthesized images excite their unit more than any dataset image does
    assert bool((w.unit_scores >= acts.max(0).values * 0.5).float().mean() > 0.5)
    w.close()
    same_fingerprint(before, fingerprint(digits.model))


def test_minimize_ranks_the_lowest(digits):
    dataset = digits.images[:30]
    w = nw.NeuronExplorer(
        digits.model, "fc1", dataset=dataset, maximize=False, precompute=False, **FAST
    )
    w.wait(60)
    acts = layer_activations(digits.model, "fc1", dataset)
    assert w.objective == "linear"
    assert torch.equal(w.top_indices.long(), acts.topk(9, dim=0, largest=False).indices.T)
    w.close()


def test_output_layer_uses_class_names_and_logit(digits):
    w = nw.NeuronExplorer(
        digits.model, labels=digits.classes, precompute=False, unit=7, size=16, **FAST
    )
    w.wait(60)
    assert w.layer == "output" and w.objective == "logit"
    assert w.unit_labels == list(digits.classes)
    assert w.unit_done.tolist() == [0] * 7 + [1] + [0] * 2
    png = w.to_png()
    assert png.startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="not computed"):
        w.to_png(unit=2)
    w.close()


def test_selected_unit_is_computed_first_and_the_newest_request_wins():
    w = nw.NeuronExplorer(small_net(), "0", precompute=False, size=8, **FAST)
    w.wait(30)
    for unit in (1, 2, 3, 1, 2):  # a fast burst: only the last must be served
        w.unit = unit
    w.wait(30)
    assert w.unit_done[2] == 1
    assert w.preview_unit == -1
    w.compute(wait=True)
    assert bool(w.unit_done.all())
    assert w.to_png(grid=True).startswith(b"\x89PNG")
    w.close()


def test_layer_change_restarts_with_the_new_layer():
    w = nw.NeuronExplorer(small_net(), "0", precompute=False, size=8, **FAST)
    w.wait(30)
    w.layer = "3"
    w.wait(30)
    assert w.unit_count == 3 and w.objectives == ["linear"]
    assert w.unit == 0 and w.unit_done.tolist() == [1, 0, 0]
    w.close()


def test_bad_values_from_the_front_end_are_rejected_and_reverted():
    w = nw.NeuronExplorer(small_net(), "0", precompute=False, size=8, **FAST)
    w.wait(30)
    for state in ({"unit": 99}, {"layer": "nope"}, {"steps": 0}, {"objective": "logit"}):
        w.error = ""
        w.set_state(state)
        assert "Rejected a value" in w.error
    assert (w.unit, w.layer, w.steps, w.objective) == (0, "0", 12, "channel")
    for content in (
        {"type": "choose_example", "index": 0},  # no dataset
        {"type": "choose_example", "index": "3"},
        {"type": "nope"},
    ):
        w.error = ""
        w._handle_message(w, content, [])
        assert "Rejected a message" in w.error
    w.close()


def test_choose_example_sets_the_input(digits):
    w = nw.NeuronExplorer(digits.model, "fc1", dataset=digits.images[:20], precompute=False, **FAST)
    w.wait(60)
    w._handle_message(w, {"type": "choose_example", "index": 5}, [])
    w.wait(30)
    assert w.input_label == "dataset example #5"
    expected = layer_activations(digits.model, "fc1", digits.images[5:6])[0]
    assert torch.allclose(w.input_activations, expected, atol=1e-5)
    w._handle_message(w, {"type": "choose_example", "index": 20}, [])
    assert "out of range" in w.error
    w.close()


def test_clear_errors_for_bad_arguments(digits):
    with pytest.raises((KeyError, ValueError), match="conv2"):
        nw.NeuronExplorer(digits.model, "conv3")
    with pytest.raises(ValueError, match="objective"):
        nw.NeuronExplorer(digits.model, "fc1", objective="channel", size=16)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        nw.NeuronExplorer(digits.model, "fc1", dataset=torch.zeros(5, 16, 16))
    with pytest.raises(ValueError, match="size"):
        nw.NeuronExplorer(small_net(), "3")  # no dataset, no input_size: 128 px do not fit
    with pytest.raises(TypeError, match="floating point"):
        nw.NeuronExplorer(digits.model, "fc1", input=torch.zeros(1, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="labels"):
        nw.NeuronExplorer(digits.model, labels=["a", "b"], size=16)


def test_model_untouched_after_a_stop(digits, fingerprint, same_fingerprint):
    model = digits.model.train()
    before = fingerprint(model)
    w = nw.NeuronExplorer(model, "conv1", steps=400, size=16)
    w.stop()
    w.wait(60)
    w.close()
    same_fingerprint(before, fingerprint(model))


def two_conv_net() -> nn.Module:
    """Layer "0" has 4 units, layer "2" has 10."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 10, 3, padding=1))


def test_a_bool_unit_from_the_front_end_is_rejected_and_rolled_back():
    w = nw.NeuronExplorer(small_net(), "0", precompute=False, size=8, **FAST)
    w.wait(30)
    w.set_state({"unit": True})
    assert "Rejected a value" in w.error and w.unit == 0 and type(w.unit) is int
    with pytest.raises(TraitError):
        w.unit = True
    w.close()


@pytest.mark.parametrize("order", ["layer first", "unit first"])
def test_layer_and_unit_written_together_are_validated_together(order):
    w = nw.NeuronExplorer(two_conv_net(), "0", precompute=False, size=8, **FAST)
    w.wait(30)
    state = {"layer": "2", "unit": 7} if order == "layer first" else {"unit": 7, "layer": "2"}
    w.set_state(state)  # unit 7 does not exist in layer "0", it does in layer "2"
    w.wait(30)
    assert w.error == ""
    assert (w.layer, w.unit, w.unit_count) == ("2", 7, 10)
    assert w.unit_done[7] == 1
    w.set_state({"layer": "0", "unit": 8})  # layer "0" has no unit 8: both rejected
    assert "unit 8 is out of range" in w.error
    assert (w.layer, w.unit) == ("2", 7)
    with w.hold_trait_notifications():  # the same from Python
        w.layer = "0"
        w.unit = 3
    w.wait(30)
    assert (w.layer, w.unit, w.unit_count) == ("0", 3, 4)
    w.layer = "2"  # alone, a layer change starts at unit 0
    w.wait(30)
    assert w.unit == 0
    w.close()


def test_a_size_the_model_cannot_take_is_rejected_before_work():
    w = nw.NeuronExplorer(small_net(), "3", precompute=False, size=8, **FAST)
    w.wait(30)
    w.set_state({"size": 12})  # the linear head takes 8 x 8 images only
    assert "Rejected a value" in w.error and w.size == 8
    w.close()


def test_thumbnails_of_a_shuffled_loader_are_the_ranked_images(digits):
    images = digits.images[:48]
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images, digits.targets[:48]), batch_size=8, shuffle=True
    )
    w = nw.NeuronExplorer(digits.model, "fc1", dataset=loader, precompute=False, **FAST)
    w.wait(60)
    expected = layer_activations(digits.model, "fc1", images).topk(9, dim=0).indices.T
    assert torch.equal(w.top_indices.long(), expected)
    for unit in (0, 5, 31):
        for rank in range(3):
            shown = w.examples[w.top_slots[unit, rank]]
            assert torch.equal(shown, w._thumbnail(images[expected[unit, rank]]))
    w.close()


@pytest.mark.parametrize(
    ("kwargs", "kind", "words"),
    [
        ({"k": True}, TypeError, "k must"),
        ({"k": 0}, ValueError, "k must"),
        ({"unit": True}, TypeError, "unit"),
        ({"seed": "0"}, TypeError, "seed"),
        ({"precompute": "yes"}, TypeError, "precompute"),
        ({"layer": 3}, TypeError, "layer"),
        ({"model": lambda x: x}, TypeError, "nn.Module"),
        ({"model": "meta"}, ValueError, "meta"),
        ({"dataset": torch.zeros(0, 1, 16, 16)}, ValueError, "empty"),
        ({"dataset": torch.rand(4, 16, 16, 1)}, ValueError, "channels-last"),
        ({"dataset": torch.full((4, 1, 16, 16), float("nan"))}, ValueError, "NaN"),
        ({"dataset": "images"}, TypeError, "dataset"),
        ({"input": torch.rand(16, 16, 1)}, ValueError, "channels-last"),
        ({"normalize": ([0.5], [0.0])}, ValueError, "std"),
        ({"normalize": 0.5}, TypeError, "normalize"),
        ({"labels": "0123456789"}, TypeError, "labels"),
        ({"objective": "pixels"}, ValueError, "objective"),
    ],
)
def test_bad_constructor_arguments_are_named_before_any_work(digits, kwargs, kind, words):
    model = CountingModel(copy.deepcopy(digits.model))
    if kwargs.get("model") == "meta":
        kwargs = {**kwargs, "model": model.to("meta")}
    arguments = {"model": model, "layer": "inner.fc1", "size": 16, "precompute": False, **kwargs}
    with pytest.raises(kind, match=words):
        nw.NeuronExplorer(**arguments)
    assert model.calls == [], "the model ran before the argument was checked"


def test_an_iterable_dataset_is_refused_clearly(digits):
    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(digits.images[:4])

    loader = torch.utils.data.DataLoader(Stream(), batch_size=2)
    with pytest.raises(TypeError, match="map-style"):
        nw.NeuronExplorer(digits.model, "fc1", dataset=loader)


def test_status_and_overview_count_the_same_units(digits):
    w = nw.NeuronExplorer(digits.model, "conv1", **FAST)
    labels = []
    w.observe(lambda change: labels.append(change["new"]), "progress_label")
    w.wait(60)
    counted = [text for text in labels if text.startswith("synthesized")]
    assert counted, labels
    # the unit under the slider is done first: the layer's count includes it
    assert all(text.endswith(f"of {w.unit_count} units") for text in counted), counted
    assert counted[0] == f"synthesized 1 of {w.unit_count} units"
    w.close()


def test_dead_units_are_flagged(digits):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten())
    with torch.no_grad():
        model[0].weight[1] = 0.0
        model[0].bias[1] = -1.0  # channel 1 never fires, whatever the input
        model[0].bias[0] = model[0].bias[2] = 5.0  # the others fire everywhere
    w = nw.NeuronExplorer(model, "1", dataset=digits.images[:10], **FAST)
    w.wait(60)
    assert w.unit_dead.tolist()[1] == 3  # 0 on the dataset, and synthesis left it at 0
    assert w.unit_dead[0] & 1 == 0 and w.unit_dead[2] & 1 == 0
    w.maximize = False  # "dead" is about pushing a unit up: minimizing flags nothing
    w.wait(60)
    assert w.unit_dead.sum() == 0
    w.close()


def test_the_chosen_example_shows_where_the_unit_fires(digits):
    w = nw.NeuronExplorer(
        digits.model, "relu2", dataset=digits.images[:20], precompute=False, **FAST
    )
    w.wait(60)
    w._handle_message(w, {"type": "choose_example", "index": 5}, [])
    w.wait(30)
    assert w.input_map_unit == 0
    values = nw.compute.activation_map(digits.model, "relu2", digits.images[5], 0)
    assert w.input_map_peak == pytest.approx(float(values.max()))
    assert w.input_map.dtype == torch.uint8
    assert tuple(w.input_map.shape) == tuple(w.input_image.shape[:2])
    assert int(w.input_map.max()) == 255
    assert int(w.input_map.flatten().argmax()) == int(values.flatten().argmax())
    w.unit = 7  # a new unit: its own map
    w.wait(30)
    assert w.input_map_unit == 7
    peak = float(nw.compute.activation_map(digits.model, "relu2", digits.images[5], 7).max())
    assert w.input_map_peak == pytest.approx(peak)
    w.layer = "fc1"  # a flat layer has no map
    w.wait(30)
    assert w.input_map is None and w.input_map_unit == -1
    w.close()


def test_progress_and_preview_labels_say_how_long_is_left(digits, monkeypatch):
    monkeypatch.setattr(_base, "PUSH_INTERVAL", 0.0)  # every step's label is published
    monkeypatch.setattr(neuron, "PUSH_INTERVAL", 0.0)
    w = nw.NeuronExplorer(digits.model, "conv1", steps=24, seed=0)
    labels, previews = [], []
    w.observe(lambda change: labels.append(change["new"]), "progress_label")
    w.observe(lambda change: previews.append(change["new"]), "preview_label")
    w.wait(60)
    timed = [
        t for t in labels if re.fullmatch(r"synthesizing units .*: step \d+ of 24, .+ left", t)
    ]
    assert timed, labels
    assert re.search(r"(under a second|about \d+ (s|min)) left$", timed[0])
    assert any(re.fullmatch(r"optimizing: step \d+ of 24, .+ left", t) for t in previews), previews
    w.close()


def test_size_defaults_to_the_dataset_else_the_models_input_size():
    model = small_net()
    model.input_size = (1, 8, 8)  # without it, 128 px, which the model's Linear refuses
    w = nw.NeuronExplorer(model, "0", precompute=False, **FAST)
    assert w.size == 8 and w.input_shape == (1, 8, 8)
    w.close()
    images = torch.rand(3, 1, 8, 8)
    w = nw.NeuronExplorer(small_net(), "0", dataset=images, precompute=False, **FAST)
    assert w.size == 8
    w.close()
    assert nw.zoo.digits().model.input_size[-1] == 16
