"""MLPExplorer's Python side: data, training, hand edits, messages, the user's model."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn
from traitlets import TraitError

import nnwidgets as nw
from nnwidgets.compute import build_mlp


def test_builds_and_trains_a_network_on_a_built_in_set():
    w = nw.MLPExplorer(data="circles", hidden=(4, 4), activation="tanh", lr=0.1)
    assert w.layer_sizes == [2, 4, 4, 2]
    assert w.task == "classification"
    assert w.maps.shape == (4 + 4 + 2 + 1, 64, 64) and w.maps.dtype == torch.uint8
    assert w.map_limits.shape == (11,)
    assert w.weights.numel() == 2 * 4 + 4 * 4 + 4 * 2 and w.biases.numel() == 10
    assert int(w.is_test.sum()) == 200
    before = w.train_loss
    w.train(2000)
    assert w.step_count == 2000 and w.train_loss < before / 3
    assert w.accuracy() > 0.9
    assert w.to_png().startswith(b"\x89PNG")
    w.close()


def test_play_streams_frames_and_pause_stops():
    w = nw.MLPExplorer(data="xor")
    start = w.frame
    w.play()
    time.sleep(1.0)
    w.pause()
    w.wait(5)
    frames = w.frame - start
    assert frames >= 10, f"only {frames} frames in a second of training"
    steps = w.step_count
    time.sleep(0.2)
    assert w.step_count == steps
    w.close()


def test_a_browser_that_falls_behind_gets_fewer_frames_and_pause_draws_the_last_state():
    w = nw.MLPExplorer(data="xor")
    w._handle_message(w, {"type": "drawn", "frame": w.frame}, [])
    start = w.frame
    w.play()
    time.sleep(1.2)  # a front-end that reported one frame and then fell silent
    w.pause()
    w.wait(5)
    frames = w.frame - start
    assert 2 <= frames <= 8, f"{frames} frames pushed to a front-end that drew none of them"
    assert w.step_count > 0
    # the last frame pushed holds the state training stopped at
    final = w.maps.clone()
    w._push_frame()
    assert torch.equal(w.maps, final)
    w.close()


def test_the_loss_key_sits_beside_the_chart_not_on_it():
    w = nw.MLPExplorer(data="xor")
    assert not any(line.display_legend for line in w.chart.marks)
    key = w._chart_key.value
    assert "training loss" in key and "test loss" in key
    assert w._chart_row.children == (w.chart, w._chart_key)
    w.close()


def test_training_acts_on_a_copy_unless_in_place(fingerprint, same_fingerprint):
    x, y = nw.zoo.toy_data("moons")
    mine = build_mlp(2, (3,), 2, "relu", seed=4)
    before = fingerprint(mine)
    w = nw.MLPExplorer(model=mine, data=(x, y))
    w.train(200)
    same_fingerprint(before, fingerprint(mine))
    assert w.model is not mine and w.activation == "relu" and w.editable
    w.close()
    w = nw.MLPExplorer(model=mine, data=(x, y), train_in_place=True)
    w.train(200)
    assert w.model is mine and not w.editable
    assert not torch.equal(before["parameters"]["0.weight"], mine[0].weight.detach())
    w._handle_message(w, {"type": "layers", "delta": 1}, [])
    assert "trained in place cannot change" in w.error
    w.close()


def test_xor_by_hand_through_the_widget():
    w = nw.MLPExplorer(model=build_mlp(2, (2,), 1, "sigmoid"), data="xor", task="classification")
    s = 20.0
    for unit, (a, b, bias) in enumerate(((s, s, -s / 2), (-s, -s, 1.5 * s))):
        w.set_weight(0, unit, 0, a)
        w.set_weight(0, unit, 1, b)
        w.set_bias(0, unit, bias)
    w.set_weight(1, 0, 0, s)
    w.set_weight(1, 0, 1, s)
    w.set_bias(1, 0, -1.5 * s)
    corners = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    with torch.no_grad():
        assert (w.model(corners)[:, 0] > 0).long().tolist() == [0, 1, 1, 0]
    assert float(w.weights[0]) == s and float(w.biases[-1]) == -1.5 * s
    w.close()


def test_1d_regression_mode_and_tower_by_hand():
    w = nw.MLPExplorer(data="tower", hidden=(2,), activation="sigmoid")
    assert w.task == "regression" and w.layer_sizes == [1, 2, 1]
    assert w.maps.shape == (2 + 1 + 1, 64)
    # Nielsen's tower: two steep steps at -0.3 and 0.3, output weights +1 and -1
    for unit, edge in enumerate((-0.3, 0.3)):
        w.set_weight(0, unit, 0, 100.0)
        w.set_bias(0, unit, -100.0 * edge)
    w.set_weight(1, 0, 0, 1.0)
    w.set_weight(1, 0, 1, -1.0)
    w.set_bias(1, 0, 0.0)
    x, y = nw.zoo.toy_curve("tower")
    with torch.no_grad():
        assert float((w.model(x) - y).abs().mean()) < 0.05
    w.close()


def test_linear_regions_toggle_and_depth_width():
    w = nw.MLPExplorer(data="xor", hidden=(6,), activation="relu")
    w.show_regions = True
    w.wait(10)
    assert w.region_exact and 1 <= w.region_count <= 22
    assert w.regions.shape == (64, 64)
    w._handle_message(w, {"type": "depth_width"}, [])
    w.wait(30)
    assert [r["shape"] for r in w.depth_width] == [[6], [3, 3], [2, 2, 2]]
    w.close()


def test_architecture_messages():
    w = nw.MLPExplorer(data="gaussians", hidden=(2, 2))
    w._handle_message(w, {"type": "resize", "layer": 1, "delta": 1}, [])
    w.wait(5)
    assert w.layer_sizes == [2, 2, 3, 2]
    w._handle_message(w, {"type": "layers", "delta": -1}, [])
    w.wait(5)
    assert w.layer_sizes == [2, 2, 2]
    w.activation = "relu"
    w.wait(5)
    assert w.model[1].__class__ is nn.ReLU
    w.dataset = "moons"
    w.wait(5)
    assert w.dataset == "moons" and w.layer_sizes == [2, 2, 2]
    w.close()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ({"type": "set_weight", "layer": 5, "out_unit": 0, "in_unit": 0, "value": 1.0}, "layer 5"),
        (
            {"type": "set_weight", "layer": 0, "out_unit": 9, "in_unit": 0, "value": 1.0},
            "out of range",
        ),
        ({"type": "set_bias", "layer": 0, "unit": 0, "value": "1"}, "must be float"),
        ({"type": "set_bias", "layer": 0, "unit": 0, "value": 1e9}, "finite"),
        ({"type": "resize", "layer": 0, "delta": 5}, "cannot change"),
        ({"type": "nope"}, "unknown message"),
    ],
)
def test_bad_messages_are_rejected(content, needle):
    w = nw.MLPExplorer(data="xor")
    w._handle_message(w, content, [])
    assert needle in w.error
    w.close()


def test_bad_trait_values_are_rejected():
    w = nw.MLPExplorer(data="xor")
    for state in ({"lr": -1.0}, {"batch_size": 0}, {"noise": 3.0}, {"dataset": "tower"}):
        w.error = ""
        w.set_state(state)
        assert "Rejected a value" in w.error, state
    assert (w.lr, w.batch_size, w.dataset) == (0.3, 10, "xor")
    w.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"data": (torch.zeros(10, 3), torch.zeros(10, dtype=torch.long))}, "3 inputs"),
        ({"data": (torch.zeros(10, 2), torch.rand(10))}, "integer class"),
        ({"data": (torch.full((10, 2), float("nan")), torch.zeros(10, dtype=torch.long))}, "NaN"),
        ({"data": (torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))}, "empty"),
        ({"data": "swirls"}, "unknown data set"),
        (
            {"model": nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 2))},
            "Conv2d at '0'",
        ),
    ],
)
def test_bad_construction_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nw.MLPExplorer(**kwargs)


def test_a_model_trained_in_place_keeps_its_activation_whoever_writes():
    model = build_mlp(2, (4,), 2, "tanh")
    w = nw.MLPExplorer(model, data="xor", train_in_place=True)
    assert w.activation == "tanh" and not w.editable
    w.set_state({"activation": "relu"})
    assert "cannot change" in w.error and w.activation == "tanh"
    with pytest.raises(TraitError, match="cannot change"):
        w.activation = "relu"
    with pytest.raises(TraitError, match="cannot change"), w.hold_trait_notifications():
        w.activation = "sigmoid"
    assert w.activation == "tanh"
    w.wait(10)  # no background rebuild was started, so none failed
    assert isinstance(model[1], nn.Tanh) and w.model is model
    w.close()


def test_settings_from_the_front_end_refuse_bools_and_non_finite_numbers():
    w = nw.MLPExplorer(data="xor")
    for state in ({"lr": True}, {"batch_size": True}, {"l2": float("inf")}, {"noise": False}):
        w.error = ""
        w.set_state(state)
        assert "Rejected a value" in w.error, state
    assert (w.lr, w.batch_size, w.l2, w.noise) == (0.3, 10, 0.0, 0.0)
    w.close()


@pytest.mark.parametrize(
    ("kwargs", "kind", "words"),
    [
        (
            {"data": (torch.rand(4, 2), torch.tensor([0.0, 1.0, float("nan"), 1.0]))},
            ValueError,
            "labels contain NaN",
        ),
        (
            {"data": (torch.rand(2, 1), torch.tensor([0.0, float("inf")])), "task": "regression"},
            ValueError,
            "NaN or infinite",
        ),
        ({"data": (torch.rand(4, 2),)}, TypeError, "pair"),
        ({"data": (torch.rand(4, 2), torch.zeros(4)), "task": "cls"}, ValueError, "task"),
        ({"model": lambda x: x}, TypeError, "nn.Module"),
        ({"resolution": True}, TypeError, "resolution"),
        ({"resolution": 100_000}, ValueError, "resolution"),
        ({"hidden": (True, 3)}, TypeError, "hidden"),
        ({"hidden": 4}, TypeError, "hidden"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"extent": (0, float("inf"), 0, 1)}, ValueError, "extent"),
        ({"train_in_place": "yes"}, TypeError, "train_in_place"),
        ({"noise": float("nan")}, ValueError, "noise"),
        ({"batch_size": 0}, TraitError, "batch_size"),
        ({"lr": True}, TraitError, "lr"),
    ],
)
def test_bad_arguments_are_named(kwargs, kind, words):
    with pytest.raises(kind, match=words):
        nw.MLPExplorer(**kwargs)


def test_the_stop_message_ends_training_and_draws_where_it_stopped():
    w = nw.MLPExplorer(data="xor")
    assert w._ready
    w.play()
    deadline = time.monotonic() + 30
    while w.step_count == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    w._handle_message(w, {"type": "stop"}, [])
    w.wait(30)
    assert not w.playing and w.error == ""
    assert w.step_count == w._trainer.step_count > 0  # the last frame shows the steps taken
    steps = w.step_count
    time.sleep(0.2)
    assert w._trainer.step_count == steps
    w.close()
