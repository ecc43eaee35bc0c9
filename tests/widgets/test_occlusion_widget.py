"""OcclusionExplorer's Python side: traits, messages from the front-end, background work."""

from __future__ import annotations

import copy
import threading
import time

import pytest
import torch
from torch import nn
from traitlets import TraitError

import nnwidgets as nw
from nnwidgets._serialization import tensor_from_json
from nnwidgets.compute import occlusion, predict
from nnwidgets.testing import CountingModel


@pytest.fixture
def explorer(digits):
    w = nw.OcclusionExplorer(
        digits.model, digits.images[0], labels=digits.classes, window=4, stride=2
    )
    yield w
    w.close()


def send(widget, **content):
    """Deliver a message as the front-end would."""
    widget._handle_message(widget, content, [])


class Slow(nn.Module):
    """Wraps a model and sleeps per forward, to make background work observable."""

    def __init__(self, model: nn.Module, delay: float) -> None:
        super().__init__()
        self.model = model
        self.delay = delay
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        time.sleep(self.delay)
        return self.model(x)


def slow_sweeper(digits, seconds: float, batch_size: int) -> nw.OcclusionExplorer:
    """An explorer whose sweeps take a while: each forward sleeps, every copy runs in full."""
    return nw.OcclusionExplorer(
        Slow(digits.model, seconds),
        digits.images[0],
        window=2,
        stride=1,
        batch_size=batch_size,
        incremental=False,  # the engine would compute without calling the slow forward
    )


def test_state_crosses_the_wire_as_binary_buffers(explorer):
    state = explorer.get_state()
    image = state["image"]
    assert image["dtype"] == "uint8"
    assert image["shape"] == [16, 16, 3]
    assert isinstance(image["buffer"], memoryview)
    assert state["clean_probs"]["dtype"] == "float32"
    assert isinstance(state["colormap"]["buffer"], memoryview)
    assert state["labels"] == [str(i) for i in range(10)]
    for name in ("image", "clean_probs"):  # what the browser gets decodes to the same tensor
        assert torch.equal(tensor_from_json(state[name]), getattr(explorer, name))


def test_defaults_target_the_predicted_class(explorer, digits):
    probs = predict(digits.model, digits.images[:1]).softmax(1)[0]
    assert explorer.target == int(probs.argmax()) == explorer.prediction
    torch.testing.assert_close(explorer.clean_probs, probs)


def test_a_click_occludes_exactly_that_patch(explorer, digits):
    send(explorer, type="probe", y=3, x=5, id=1)
    explorer.wait(10)
    x = digits.images[0].clone()
    x[:, 3:7, 5:9] = 0.0
    expected = predict(digits.model, x[None]).softmax(1)[0]
    torch.testing.assert_close(explorer.occluded_probs, expected)
    assert explorer.probe == [3, 5]
    assert explorer.probe_id == 1
    assert explorer.error == ""


def test_occlude_from_python_centres_the_patch(explorer):
    explorer.occlude(0, 15)
    assert explorer.probe == [0, 12]


def test_raw_sweep_equals_the_compute_function(explorer, digits):
    explorer.value_mode = "raw"
    explorer.sweep(wait=True)
    expected = occlusion(
        digits.model, digits.images[:1], window=4, stride=2, target=explorer.target
    )
    torch.testing.assert_close(explorer.heatmap, expected[0].mean(0))
    assert "raw output" in explorer.heatmap_units


def test_probability_sweep_maps_the_drop_in_softmax(explorer, digits):
    explorer.sweep(wait=True)
    x = digits.images[0]
    t = explorer.target
    clean = predict(digits.model, x[None]).softmax(1)[0, t]
    # the top-left position alone covers pixel (0, 0)
    occluded = x.clone()
    occluded[:, :4, :4] = 0
    drop = clean - predict(digits.model, occluded[None]).softmax(1)[0, t]
    torch.testing.assert_close(explorer.heatmap[0, 0], drop)
    assert explorer.heatmap_view.shape == (16, 16)
    assert explorer.heatmap_limit == 1.0  # probability's own range, not the map's maximum
    peak = explorer.heatmap.flatten()[explorer.heatmap.abs().argmax()]
    assert explorer.heatmap_peak == pytest.approx(float(peak))
    assert explorer.sweep_done == [49, 49]
    assert "drop in P" in explorer.heatmap_units


def test_fit_scale_stretches_colours_to_the_map_and_raw_mode_always_fits(explorer):
    explorer.sweep(wait=True)
    explorer.color_scale = "fit"
    assert explorer.heatmap_limit == pytest.approx(abs(explorer.heatmap_peak))
    assert explorer.heatmap_limit == pytest.approx(float(explorer.heatmap.abs().max()))
    explorer.color_scale = "fixed"
    assert explorer.heatmap_limit == 1.0
    explorer.value_mode = "raw"
    assert explorer.heatmap_limit == pytest.approx(float(explorer.heatmap.abs().max()))


def test_a_map_of_one_sign_is_drawn_on_a_one_sided_scale(explorer):
    from nnwidgets import colormaps
    from nnwidgets.compute.occlusion_view import map_extremes

    explorer.sweep(wait=True)
    assert (explorer.heatmap_peak, explorer.heatmap_sign) == map_extremes(explorer.heatmap)
    image = torch.zeros(1, 2, 3, dtype=torch.uint8)
    values = torch.tensor([[0.0, 1.0]])
    top = colormaps.lut(colormaps.SEQUENTIAL)[255].float()
    torch.testing.assert_close(colormaps.overlay(image, values, 1.0, 1.0, sign=1)[0, 1], top)
    torch.testing.assert_close(colormaps.overlay(image, -values, 1.0, 1.0, sign=-1)[0, 1], top)
    torch.testing.assert_close(colormaps.overlay(image, values, 1.0, 1.0, sign=1)[0, 0], top * 0)
    with pytest.raises(ValueError, match="sign"):
        colormaps.overlay(image, values, 1.0, 1.0, sign=2)


def test_sweep_keeps_per_position_probabilities_for_instant_clicks(explorer, digits):
    explorer.sweep(wait=True)
    geometry = explorer.sweep_geometry
    assert geometry == {"window": [4, 4], "stride": [2, 2], "counts": [7, 7]}
    classes = explorer.sweep_classes.tolist()
    assert explorer.target in classes
    assert explorer.sweep_probs.shape == (49, len(classes))
    # position (row 2, col 3) -> flat index 2 * 7 + 3, occluder at (4, 6)
    x = digits.images[0].clone()
    x[:, 4:8, 6:10] = 0
    expected = predict(digits.model, x[None]).softmax(1)[0, classes]
    torch.testing.assert_close(explorer.sweep_probs[2 * 7 + 3], expected)


def test_changing_the_target_rescores_the_cached_sweep_without_recomputing(explorer, digits):
    explorer.sweep(wait=True)
    calls = []
    handle = digits.model.register_forward_hook(lambda *a: calls.append(1))
    try:
        explorer.target = (explorer.target + 1) % 10
    finally:
        handle.remove()
    assert calls == []
    t = explorer.target
    x = digits.images[0]
    occluded = x.clone()
    occluded[:, :4, :4] = 0
    clean = predict(digits.model, x[None]).softmax(1)[0, t]
    drop = clean - predict(digits.model, occluded[None]).softmax(1)[0, t]
    torch.testing.assert_close(explorer.heatmap[0, 0], drop)


def test_changing_window_or_fill_invalidates_the_sweep(explorer):
    explorer.sweep(wait=True)
    explorer.fill = "blur"
    assert (
        explorer.heatmap is None and explorer.sweep_probs is None and explorer.sweep_geometry == {}
    )
    explorer.sweep(wait=True)
    explorer.window = [3, 3]
    assert explorer.heatmap is None


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ({"type": "probe", "y": 100, "x": 0, "id": 1}, "does not fit"),
        ({"type": "probe", "y": -1, "x": 0, "id": 1}, "does not fit"),
        ({"type": "probe", "y": 13, "x": 0, "id": 1}, "does not fit"),
        ({"type": "probe", "y": "3", "x": 0, "id": 1}, "must be int"),
        ({"type": "probe", "y": 3.5, "x": 0, "id": 1}, "must be int"),
        ({"type": "probe", "y": True, "x": 0, "id": 1}, "must be int"),
        ({"type": "probe", "y": 3, "id": 1}, "needs fields"),
        ({"type": "probe", "y": 3, "x": 1, "id": 1, "extra": 0}, "needs fields"),
        ({"type": "launch_missiles"}, "unknown message type"),
        ({"y": 1}, "string 'type'"),
    ],
)
def test_malformed_messages_are_rejected_and_shown(explorer, digits, content, match):
    send(explorer, **content)
    assert match in explorer.error
    assert explorer.probe is None
    send(explorer, type="probe", y=0, x=0, id=5)  # the kernel keeps working
    explorer.wait(10)
    assert explorer.probe == [0, 0]
    assert explorer.error == ""


def test_non_dict_messages_are_rejected(explorer):
    explorer._handle_message(explorer, ["probe", 1, 2], [])
    assert "must be an object" in explorer.error


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({"window": [0, 0]}, "window"),
        ({"window": [17, 4]}, "window"),
        ({"stride": [0, 1]}, "stride"),
        ({"target": 10}, "target"),
        ({"target": -1}, "target"),
        ({"opacity": 1.5}, "opacity"),
        ({"fill": "lava"}, "fill"),
        ({"window": "big"}, "window"),
        ({"top_k": 0}, "top_k"),
    ],
)
def test_invalid_values_from_the_front_end_are_rejected_and_reverted(explorer, state, match):
    before = {key: getattr(explorer, key) for key in state}
    explorer.set_state(state)
    assert "Rejected a value" in explorer.error
    assert match in explorer.error
    assert {key: getattr(explorer, key) for key in state} == before


def test_a_burst_of_clicks_ends_on_the_last_one(digits):
    w = nw.OcclusionExplorer(Slow(digits.model, 0.02), digits.images[0], window=4, stride=2)
    seen = []
    w.observe(lambda change: seen.append(change["new"]), names=["probe_id"])
    for i in range(1, 30):
        send(w, type="probe", y=i % 13, x=(2 * i) % 13, id=i)
    w.wait(20)
    assert w.probe_id == 29
    assert w.probe == [29 % 13, (2 * 29) % 13]
    assert seen == sorted(seen), "a stale result was drawn after a newer one"
    assert len(seen) < 29, "superseded requests should not all have been computed"
    assert not w.busy
    w.close()


def test_a_new_sweep_supersedes_a_running_one_and_stop_keeps_the_partial_map(digits):
    w = slow_sweeper(digits, 0.01, batch_size=4)
    w.sweep()
    time.sleep(0.3)
    w.stop()
    w.wait(10)
    assert not w.busy
    assert w.heatmap is not None and w.sweep_probs is None  # partial map, no cache
    assert 0 < w.sweep_done[0] < w.sweep_done[1]  # the front-end labels it partial
    w.model.calls = 0
    w.sweep()
    time.sleep(0.1)
    first = w.model.calls  # forwards since the first sweep began (none are left from the stop)
    w.sweep(wait=True)
    assert w.sweep_probs is not None and w.progress is None
    # the second sweep ran every chunk; the first stopped: at most its chunk in flight ran on
    # (had it gone on to its end, it would have run every chunk it had left as well)
    chunks = -(-w.sweep_done[1] // 4)
    assert w.model.calls - first <= chunks + 1 < chunks + (chunks - first)
    w.close()


def test_clicks_are_answered_during_a_sweep(digits):
    w = slow_sweeper(digits, 0.05, batch_size=2)
    w.sweep()
    time.sleep(0.2)
    started = time.monotonic()
    send(w, type="probe", y=1, x=1, id=1)
    while w.probe_id != 1 and time.monotonic() - started < 5:
        time.sleep(0.01)
    assert w.probe_id == 1
    assert w.busy, "the sweep should still be running"
    w.stop()
    w.wait(10)
    w.close()


def test_the_kernel_thread_is_free_while_sweeping(digits):
    w = slow_sweeper(digits, 0.05, batch_size=2)
    started = time.monotonic()
    w.sweep()
    # a hang guard, generous for a shared machine: a sweep run on the kernel thread would
    # return after all its 113 forwards of 0.05 s (5.6 s), and not busy
    assert time.monotonic() - started < 2.5
    assert w.busy
    assert any(t.name == "OcclusionExplorer" for t in threading.enumerate())
    w.stop()
    w.close()


def test_errors_in_background_work_are_shown_and_raised_by_wait(digits):
    class FailsWhenOccluded(nn.Module):
        def forward(self, x):
            if (x == 0).all(dim=1).any():
                raise RuntimeError("cannot handle black pixels")
            return digits.model(x)

    x = digits.images[0] + 0.01
    w = nw.OcclusionExplorer(FailsWhenOccluded(), x, window=4, stride=2, incremental=False)
    w.sweep()
    with pytest.raises(ValueError, match="black pixels"):
        w.wait(10)
    assert "black pixels" in w.error
    assert not w.busy
    w.fill = "mean"
    w.sweep(wait=True)  # recovers
    assert w.error == ""
    w.close()


def test_the_model_is_untouched(digits, fingerprint, same_fingerprint):
    model = digits.model
    model.train()
    model.fc1.weight.requires_grad_(False)
    before = fingerprint(model)
    w = nw.OcclusionExplorer(model, digits.images[0], window=4, stride=2)
    w.sweep(wait=True)
    w.occlude(5, 5)
    w.target = 3
    w.close()
    same_fingerprint(before, fingerprint(model))


def test_constructor_errors_are_clear(digits):
    model = digits.model
    with pytest.raises(TypeError, match=r"nn\.Module"):
        nw.OcclusionExplorer(lambda x: x, digits.images[0])
    with pytest.raises(TypeError, match=r"floating.point"):
        nw.OcclusionExplorer(model, (digits.images[0] * 255).to(torch.uint8))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        nw.OcclusionExplorer(model, digits.images[0, 0])
    with pytest.raises(ValueError, match="11 labels"):
        nw.OcclusionExplorer(model, digits.images[0], labels=[str(i) for i in range(11)])
    with pytest.raises(ValueError, match="NaN"):
        nw.OcclusionExplorer(model, torch.full((1, 16, 16), float("nan")))
    with pytest.raises(ValueError):
        nw.OcclusionExplorer(model, torch.rand(3, 16, 16))  # wrong channels for the model
    with pytest.raises(TypeError, match="window"):
        nw.OcclusionExplorer(model, digits.images[0], window=2.5)


def test_models_returning_tuples_need_an_output_selector(digits):
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = digits.model

        def forward(self, x):
            return self.inner(x), x.mean()

    with pytest.raises(TypeError, match="output="):
        nw.OcclusionExplorer(Pair(), digits.images[0])
    w = nw.OcclusionExplorer(Pair(), digits.images[0], output=0, window=4, stride=2)
    w.sweep(wait=True)
    assert w.heatmap.shape == (16, 16)
    w.close()


def test_normalized_inputs_display_through_the_given_transform(digits):
    mean, std = (0.5,), (0.25,)
    x = (digits.images[0] - 0.5) / 0.25
    w = nw.OcclusionExplorer(digits.model, x, display=(mean, std), fill="mean")
    expected = (digits.images[0][0] * 255).round().to(torch.uint8)
    assert torch.equal(w.image[..., 0], expected)
    w.close()


def test_large_images_are_sent_at_display_size():
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4))
    w = nw.OcclusionExplorer(model, torch.rand(3, 2000, 1500), window=500, stride=500)
    assert w.image.shape == (1024, 768, 3)
    assert w.image_size == [2000, 1500]
    w.sweep(wait=True)
    assert w.heatmap.shape == (2000, 1500)
    assert w.heatmap_view.shape == (1024, 768)
    w.close()


def test_png_export(explorer):
    explorer.sweep(wait=True)
    explorer.occlude(8, 8)
    png = explorer.to_png()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (256, 256)


def test_display_is_the_widget_alone(explorer):
    # the front-end draws the class probabilities itself (instant, and in exported pages)
    data, _metadata = explorer._repr_mimebundle_()
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.model_id


def test_a_fill_value_that_overflows_float32_is_rejected_on_write(explorer):
    explorer.fill = "value"
    explorer.set_state({"fill_value": 1e39})
    assert "float32" in explorer.error and explorer.fill_value == 0.0
    with pytest.raises(TraitError, match="float32"):
        explorer.fill_value = -1e39
    explorer.error = ""
    send(explorer, type="probe", y=0, x=0, id=1)  # later clicks and sweeps still work
    explorer.sweep(wait=True)
    assert explorer.probe == [0, 0] and explorer.heatmap is not None and explorer.error == ""


def test_any_failure_in_a_message_handler_is_shown_not_raised(explorer, monkeypatch):
    def broken():
        raise RuntimeError("value cannot be converted to type float without overflow")

    monkeypatch.setattr(explorer, "_baseline", broken)
    for kind in ("probe", "sweep"):
        content = {"type": "probe", "y": 0, "x": 0, "id": 1} if kind == "probe" else {"type": kind}
        explorer.error = ""
        send(explorer, **content)  # must not raise
        assert "overflow" in explorer.error


def test_window_and_stride_written_together_are_checked_together(explorer):
    explorer.set_state({"window": [8, 8], "stride": [6, 6]})  # 6 > the old window 4
    assert explorer.error == "" and (explorer.window, explorer.stride) == ([8, 8], [6, 6])
    explorer.set_state({"window": [2, 2], "stride": [3, 3]})
    assert "stride" in explorer.error and explorer.window == [8, 8]
    explorer.window = 3  # an int, as the constructor takes it; the stride follows it down
    assert explorer.window == [3, 3] and explorer.stride == [3, 3]
    explorer.sweep(wait=True)
    assert explorer.heatmap is not None


def test_a_sweep_with_a_budget_of_one_copy_equals_the_default(digits):
    maps = []
    for budget in (None, 1):
        w = nw.OcclusionExplorer(
            digits.model, digits.images[0], window=4, stride=2, memory_budget=budget
        )
        w.sweep(wait=True)
        maps.append(w.heatmap)
        w.close()
    torch.testing.assert_close(maps[1], maps[0])


@pytest.mark.parametrize(
    ("kwargs", "kind", "words"),
    [
        ({"image": torch.zeros(1, 0, 16)}, ValueError, "image is empty"),
        ({"image": torch.rand(16, 16, 1)}, ValueError, "channels-last"),
        ({"image": torch.rand(2, 1, 16, 16)}, ValueError, "one image"),
        ({"model": "meta"}, ValueError, "meta"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"memory_budget": True}, TypeError, "memory_budget"),
        ({"top_k": 0}, ValueError, "top_k"),
        ({"target": True}, TypeError, "target"),
        ({"fill": True}, TypeError, "fill"),
        ({"fill": 1e39}, ValueError, "fill"),
        ({"fill": "lava"}, ValueError, "fill"),
        ({"window": (2, 2.5)}, TypeError, "window"),
        ({"stride": "2"}, TypeError, "stride"),
        ({"labels": "0123456789"}, TypeError, "labels"),
        ({"incremental": "yes"}, TypeError, "incremental"),
        ({"output": 2.5}, TypeError, "output"),
        ({"dataset_mean": [0.1, 0.2]}, ValueError, "dataset_mean"),
        ({"dataset_mean": [float("nan")]}, ValueError, "dataset_mean"),
        ({"display": ([0.5], [0.0])}, ValueError, "std"),
        ({"display": "auto"}, TypeError, "display"),
    ],
)
def test_bad_constructor_arguments_are_named_before_any_work(digits, kwargs, kind, words):
    model = CountingModel(digits.model)
    if kwargs.pop("model", None) == "meta":
        model = copy.deepcopy(model).to("meta")
    arguments = {"model": model, "image": digits.images[0], **kwargs}
    with pytest.raises(kind, match=words):
        nw.OcclusionExplorer(**arguments)
    assert model.calls == [], "the model ran before the argument was checked"


@pytest.mark.parametrize(
    "state",
    [
        {"image_size": [0, 0]},
        {"probe": [1]},
        {"labels": ["a"]},
        {"busy": True},
        {"heatmap_limit": -1.0},
        {"sweep_geometry": {"window": "x"}},
        {"window": [3, 3], "clean_probs": None},
    ],
)
def test_what_the_kernel_computes_cannot_be_set_from_the_front_end(explorer, state):
    before = {key: getattr(explorer, key) for key in state}
    explorer.set_state(state)
    assert "cannot be set from the front-end" in explorer.error
    assert all(getattr(explorer, key) is value for key, value in before.items())
    explorer.set_state({"error": ""})  # the dismiss button clears the error
    assert explorer.error == ""
    send(explorer, type="probe", y=0, x=0, id=1)
    explorer.wait(10)
    assert explorer.probe == [0, 0]
