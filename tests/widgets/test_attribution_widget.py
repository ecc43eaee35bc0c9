"""AttributionExplorer's Python side: maps, background work, supersession, checks."""

from __future__ import annotations

import math
import threading

import pytest
import torch

import nnwidgets as nw
import nnwidgets.widgets.attribution as module
from nnwidgets.compute.attribution import METHODS, attribution
from nnwidgets.compute.attribution import sanity as sanity_module
from nnwidgets.compute.attribution.pixel_maps import pixel_map
from nnwidgets.compute.attribution.sanity import randomizable_layers, sanity_steps


@pytest.fixture(scope="module")
def hans():
    return nw.zoo.clever_hans()


@pytest.fixture
def explorer(hans):
    w = nw.AttributionExplorer(
        hans.model, hans.images[0], labels=hans.classes, dataset=hans.images[:6]
    )
    yield w
    w.close()


def send(widget, **content):
    """Deliver a message as the front-end would."""
    widget._handle_message(widget, content, [])


def expected_map(model, image, method, target, **options):
    return pixel_map(attribution(model, image[None], method, target, **options), method)[0]


def test_state_holds_the_maps_of_the_compute_layer(hans, fingerprint, same_fingerprint):
    before = fingerprint(hans.model)
    w = nw.AttributionExplorer(hans.model, hans.images[3], labels=hans.classes)
    same_fingerprint(before, fingerprint(hans.model))
    predicted = int(nw.compute.predict(hans.model, hans.images[3][None]).argmax())
    assert w.target == predicted and w.labels == hans.classes
    assert w.methods == ["saliency", "guided_backprop", "grad_cam"]
    assert sorted(w.maps) == sorted(w.methods)
    for method in w.methods:
        m = w.maps[method]
        assert m.dtype == torch.float32 and tuple(m.shape) == (32, 32)
        torch.testing.assert_close(m, expected_map(hans.model, hans.images[3], method, predicted))
    assert w.image.dtype == torch.uint8 and tuple(w.image.shape) == (32, 32, 3)
    assert [m["name"] for m in w.catalog] == list(METHODS)
    signed = {m["name"]: m["signed"] for m in w.catalog}
    assert not signed["saliency"] and not signed["grad_cam"] and signed["guided_backprop"]
    assert w.options["grad_cam"]["layer"] == "conv3", "the last Conv2d, as the compute's default"
    assert w.method_layers["grad_cam"] == "conv3" and w.option_notes["grad_cam"] == ""
    assert w.option_notes["occlusion"] == "window 5, stride 2"
    assert w.layer_choices[-3:] == ["conv3", "relu3", "pool3"]
    state = w.get_state()
    maps = state["maps"]
    assert set(maps) == set(w.methods) and isinstance(maps["saliency"]["buffer"], memoryview)
    assert maps["saliency"]["dtype"] == "float32" and maps["saliency"]["shape"] == [32, 32]
    w.close()


def test_pixel_maps_follow_each_methods_rule(hans):
    x = hans.images[:1]
    sal = attribution(hans.model, x, "saliency")
    torch.testing.assert_close(pixel_map(sal, "saliency"), sal.abs().sum(1))
    gbp = attribution(hans.model, x, "guided_backprop")
    torch.testing.assert_close(pixel_map(gbp, "guided_backprop"), gbp.sum(1))
    cam = attribution(hans.model, x, "grad_cam")
    torch.testing.assert_close(pixel_map(cam, "grad_cam"), cam[:, 0])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        pixel_map(sal[0], "saliency")


def test_a_checked_method_is_computed_in_the_background(explorer, hans):
    progress = []
    explorer.observe(lambda c: progress.append(c["new"]), names="progress_label")
    explorer.methods = [*explorer.methods, "integrated_gradients", "lime"]
    explorer.wait()
    assert explorer.pending == [] and not explorer.busy and explorer.error == ""
    assert "0 of 2 maps, computing Integrated gradients" in progress
    assert "1 of 2 maps, computing LIME" in progress and "2 of 2 maps" in progress
    for method in ("integrated_gradients", "lime"):
        torch.testing.assert_close(
            explorer.maps[method], expected_map(hans.model, hans.images[0], method, explorer.target)
        )
    explorer.methods = ["lime"]  # unchecked maps stay in the state, rechecking is instant
    assert "saliency" in explorer.maps
    explorer.methods = ["lime", "saliency"]
    assert not explorer.busy and explorer.pending == []


def test_target_dataset_and_options_recompute(explorer, hans):
    explorer.target = 2
    assert explorer.maps == {} and explorer.pending == explorer.methods
    explorer.wait()
    torch.testing.assert_close(
        explorer.maps["guided_backprop"],
        expected_map(hans.model, hans.images[0], "guided_backprop", 2),
    )
    explorer.index = 4
    explorer.wait()
    predicted = int(nw.compute.predict(hans.model, hans.images[4][None]).argmax())
    assert explorer.source == "dataset #4" and explorer.target == predicted
    assert torch.equal(explorer.input, hans.images[4])
    torch.testing.assert_close(
        explorer.maps["saliency"], expected_map(hans.model, hans.images[4], "saliency", predicted)
    )
    cam = explorer.maps["grad_cam"]
    explorer.set_options("grad_cam", layer="conv2")
    assert explorer.method_layers["grad_cam"] == "conv2"
    assert not torch.equal(explorer.maps["grad_cam"], cam)
    torch.testing.assert_close(
        explorer.maps["grad_cam"],
        expected_map(hans.model, hans.images[4], "grad_cam", predicted, layer="conv2"),
    )
    send(explorer, type="layer", method="guided_grad_cam", layer="conv1")
    explorer.wait()
    assert explorer.method_layers == {"grad_cam": "conv2", "guided_grad_cam": "conv1"}
    assert explorer.error == ""
    send(explorer, type="layer", method="saliency", layer="conv1")
    assert "method 'saliency' takes no layer" in explorer.error
    send(explorer, type="layer", method="grad_cam", layer="fc1")
    assert "layer with spatial output" in explorer.error
    assert explorer.method_layers["grad_cam"] == "conv2"
    with pytest.raises(ValueError, match="layer with spatial output"):
        explorer.set_options("grad_cam", layer="fc1")
    with pytest.raises(TypeError, match="has no option 'steps'"):
        explorer.set_options("integrated_gradients", steps=3)
    explorer.set_input(hans.clean_images[4])
    assert explorer.source == "your image" and explorer.error == ""


def test_a_newer_request_supersedes_a_slow_one_and_no_stale_map_is_drawn(hans, monkeypatch):
    entered, release = threading.Event(), threading.Event()
    real = module.attribution

    def slow(model, x, method, target, **options):
        if target == 0:  # the first request's maps: slow, and overtaken
            entered.set()
            release.wait(10)
        return real(model, x, method, target, **options)

    w = nw.AttributionExplorer(hans.model, hans.images[0], methods=["saliency"])
    monkeypatch.setattr(module, "attribution", slow)
    published = []
    w.observe(lambda c: published.append({k: v.clone() for k, v in c["new"].items()}), "maps")
    w.methods = ["saliency", "guided_backprop"]
    w.target = 0  # a job for class 0 starts and blocks in its first map
    assert entered.wait(10)
    w.target = 1  # supersedes it mid-way
    release.set()
    w.wait()
    assert w.error == "" and sorted(w.maps) == ["guided_backprop", "saliency"]
    for maps in published:
        for method, values in maps.items():
            torch.testing.assert_close(values, expected_map(hans.model, hans.images[0], method, 1))
    assert published[-1].keys() == {"saliency", "guided_backprop"}
    w.close()


def test_stop_keeps_what_is_done_and_compute_resumes(hans, monkeypatch):
    w = nw.AttributionExplorer(hans.model, hans.images[0], methods=["saliency"])
    entered, release = threading.Event(), threading.Event()
    real = module.attribution

    def slow(model, x, method, target, **options):
        if method == "lime":
            entered.set()
            release.wait(10)
        return real(model, x, method, target, **options)

    monkeypatch.setattr(module, "attribution", slow)
    w.methods = ["saliency", "lime", "deconvnet"]
    assert entered.wait(10)
    send(w, type="stop")
    release.set()
    w.wait()
    assert w.pending == [] and sorted(w.maps) == ["saliency"], "the stopped job stores nothing"
    send(w, type="compute")
    w.wait()
    assert sorted(w.maps) == ["deconvnet", "lime", "saliency"]
    w.close()


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ({"methods": ["saliency", "magic"]}, "unknown attribution method 'magic'"),
        ({"methods": ["saliency", "saliency"]}, "names a method twice"),
        ({"methods": [3]}, "methods"),
        ({"target": 3}, "target must be a class index in [0, 3), got 3"),
        ({"target": -1}, "target must be a class index"),
        ({"index": 6}, "index 6 is out of range"),
        ({"sanity_step": 2}, "sanity_step 2 is out of range"),
        ({"opacity": 1.5}, "opacity must be in [0, 1]"),
        ({"maps": {}}, "computed by the kernel"),
        ({"options": {}}, ""),  # not synced: ignored, never applied
    ],
)
def test_bad_writes_are_rejected_and_rolled_back(explorer, state, words):
    before = {name: getattr(explorer, name) for name in state}
    explorer.set_state(state)
    assert words in explorer.error
    for name, value in before.items():
        now = getattr(explorer, name)
        assert now.keys() == value.keys() if isinstance(value, dict) else now == value
    assert explorer.options["grad_cam"]["layer"] == "conv3"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ({"type": "explain"}, "unknown message type 'explain'"),
        ({"type": "stop", "now": True}, "needs fields []"),
        ({"kind": "stop"}, "string 'type'"),
    ],
)
def test_bad_messages_are_rejected(explorer, content, words):
    explorer._handle_message(explorer, content, [])
    assert words in explorer.error
    explorer.error = ""
    explorer.target = 0  # the kernel goes on
    explorer.wait()
    assert explorer.error == "" and sorted(explorer.maps) == sorted(explorer.methods)


@pytest.mark.parametrize(
    ("kwargs", "kind", "words"),
    [
        ({"methods": ["saliency", "magic"]}, ValueError, "unknown attribution method 'magic'"),
        ({"methods": "saliency"}, TypeError, "sequence of method names"),
        ({"options": {"lime": {"samples": 3}}}, TypeError, "method 'lime' has no option 'samples'"),
        ({"options": {"magic": {}}}, ValueError, "unknown attribution method 'magic'"),
        ({"options": {"grad_cam": {"layer": "fc2"}}}, ValueError, "spatial output"),
        ({"options": {"lime": 3}}, TypeError, "options['lime'] must be a dict"),
        ({"target": 5}, ValueError, "target must be a class index in [0, 3)"),
        ({"labels": ["a", "b"]}, ValueError, "got 2 labels but the model has 3 outputs"),
        ({"image": torch.zeros(32, 32, 3)}, ValueError, "channels-last"),
        ({"image": None}, ValueError, "there is no dataset"),
        ({"dataset": torch.zeros(4, 3, 16, 16)}, ValueError, "one input size"),
    ],
)
def test_constructor_errors_name_the_argument(hans, kwargs, kind, words):
    args = {"image": hans.images[0], **kwargs}
    with pytest.raises(kind, match=None) as info:
        nw.AttributionExplorer(hans.model, **args)
    assert words in str(info.value)


def test_digits_and_the_model_untouched(fingerprint, same_fingerprint):
    digits = nw.zoo.digits()
    before = fingerprint(digits.model)
    w = nw.AttributionExplorer(
        digits.model, digits.images[0], methods=list(METHODS), labels=digits.classes
    )
    assert sorted(w.maps) == sorted(METHODS)
    assert w.options["occlusion"] == {"window": 3, "stride": 1}
    torch.testing.assert_close(
        w.maps["occlusion"],
        expected_map(digits.model, digits.images[0], "occlusion", w.target, window=3, stride=1),
    )
    w.target = 3
    w.wait()
    same_fingerprint(before, fingerprint(digits.model))
    w.close()


def test_the_sanity_check_pushes_each_step_as_the_compute_gives_it(
    hans, fingerprint, same_fingerprint
):
    before = fingerprint(hans.model)
    w = nw.AttributionExplorer(hans.model, hans.images[0], labels=hans.classes)
    labels = []
    w.observe(lambda c: labels.append(c["new"]), names="progress_label")
    send(w, type="sanity")
    assert w.sanity_state == "running"
    w.wait()
    same_fingerprint(before, fingerprint(hans.model))
    layers = randomizable_layers(hans.model, hans.images[:1])
    assert w.sanity_state == "done" and len(w.sanity) == 1 + len(layers)
    assert [s["layer"] for s in w.sanity] == [None, *layers]
    assert f"sanity check: step 2 of {1 + len(layers)} ({layers[0]})" in labels
    expected = list(sanity_steps(hans.model, hans.images[:1], w.methods, w.target))
    for i, step in enumerate(expected):
        for method in w.methods:
            torch.testing.assert_close(
                w.sanity_maps[method][i], pixel_map(step.maps[method], method)[0]
            )
            rho = w.sanity[i]["rank_correlation"][method]
            want = step.rank_correlation[method]
            assert rho is None if math.isnan(want) else rho == pytest.approx(want)
    assert w.sanity[0]["rank_correlation"] == dict.fromkeys(w.methods, 1.0)
    torch.testing.assert_close(w.sanity_maps["saliency"][0], w.maps["saliency"])
    w.set_state({"sanity_step": 2})
    assert w.sanity_step == 2 and w.error == ""
    w.set_state({"sanity_step": len(layers) + 1})
    assert "out of range" in w.error and w.sanity_step == 2
    w.target = 2  # the check was for the old target: it goes
    assert w.sanity == [] and w.sanity_maps == {} and w.sanity_step == 0
    w.close()


def test_a_new_target_supersedes_a_running_sanity_check(hans, monkeypatch):
    w = nw.AttributionExplorer(hans.model, hans.images[0], methods=["saliency"])
    entered, release = threading.Event(), threading.Event()
    real = sanity_module.attribution
    calls = []

    def slow(model, x, method, target, **options):
        calls.append(target)
        if len(calls) == 3:  # step 2 of the first check
            entered.set()
            release.wait(10)
        return real(model, x, method, target, **options)

    monkeypatch.setattr(sanity_module, "attribution", slow)
    w.sanity_check()
    assert entered.wait(10)
    assert len(w.sanity) == 2
    w.target = 0
    release.set()
    w.wait()
    assert w.sanity == [] and w.sanity_state == "", "no step of the stale check is shown"
    w.sanity_check()
    assert w.sanity_state == "running"
    w.stop()
    w.wait()
    assert w.sanity_state == "stopped" and w.error == ""
    w.close()


def test_a_superseded_chunked_map_stops_at_its_next_chunk(hans, monkeypatch):
    options = {"lime": {"n_samples": 400, "batch_size": 8}}
    w = nw.AttributionExplorer(hans.model, hans.images[0], methods=["saliency"], options=options)
    first_chunk, go_on = threading.Event(), threading.Event()
    seen = []
    real = module.attribution

    def watched(model, x, method, target, *, progress=None, **rest):
        def report(done, total):
            seen.append((target, done, total))
            if not first_chunk.is_set():
                first_chunk.set()
                go_on.wait(10)
            progress(done, total)

        return real(model, x, method, target, progress=report, **rest)

    monkeypatch.setattr(module, "attribution", watched)
    w.methods = ["saliency", "lime"]
    assert first_chunk.wait(10)
    first = seen[0][0]
    w.target = (first + 1) % 3
    go_on.set()
    w.wait()
    chunks = [done for target, done, _ in seen if target == first]
    assert max(chunks) < 400, "the stale LIME stopped before its last sample"
    assert sorted(w.maps) == ["lime", "saliency"] and w.error == ""
    torch.testing.assert_close(
        w.maps["lime"],
        expected_map(hans.model, hans.images[0], "lime", w.target, **options["lime"]),
    )
    w.close()
