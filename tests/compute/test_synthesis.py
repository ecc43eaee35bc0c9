"""Activation maximization, checked on networks with known answers."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

import nnwidgets as nw
from nnwidgets.compute import layer_activations, synthesis, synthesize
from nnwidgets.compute._timing import about

K = 9  # filter side


def gaussian(size: int, sigma: float) -> torch.Tensor:
    r = torch.arange(size) - (size - 1) / 2
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return g / g.max()


def known_filters() -> torch.Tensor:
    """(4, 3, K, K) filters: vertical edge, horizontal edge, red blob, checkerboard."""
    ramp = torch.linspace(-1, 1, K)
    vertical = ramp[None, :].expand(K, K).sign()
    horizontal = vertical.T
    blob = gaussian(K, 2.0) - 0.5
    red_blob = torch.stack([blob, -blob, -blob])
    rows, cols = torch.meshgrid(torch.arange(K), torch.arange(K), indexing="ij")
    checker = (((rows // 3 + cols // 3) % 2) * 2 - 1).float()
    grey = [torch.stack([f, f, f]) for f in (vertical, horizontal, checker)]
    return torch.stack([grey[0], grey[1], red_blob, grey[2]])


def filter_net() -> nn.Module:
    conv = nn.Conv2d(3, 4, K, bias=False)
    with torch.no_grad():
        conv.weight.copy_(known_filters())
    return nn.Sequential(conv, nn.ReLU())


def pre_activation(model: nn.Module) -> nn.Module:
    return nn.Sequential(model[0])


def centre_patch(images: torch.Tensor, size: int) -> torch.Tensor:
    top = (images.shape[-1] - K) // 2
    return images[..., top : top + K, top : top + K]


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a.flatten() - a.mean()
    b = b.flatten() - b.mean()
    return float(a @ b / (a.norm() * b.norm()))


def test_synthesized_inputs_match_hand_set_filters():
    """The image at each unit's receptive field correlates with the unit's filter.

    For a linear filter followed by a ReLU the optimal input in [0, 1] is the sign pattern of
    the filter, whose correlation with the filter is about 0.8-1. Correlations of a random
    image with a 243-value filter have a standard deviation of 1/sqrt(243) ≈ 0.064: the
    threshold 0.5 is about 8 standard deviations above chance.
    """
    model = filter_net()
    size = 2 * K - 1
    images = synthesize(model, "0", range(4), objective="neuron", size=size, channels=3, steps=96)
    assert images.shape == (4, 3, size, size)
    filters = known_filters()
    patches = centre_patch(images, size)
    for unit in range(4):
        r = correlation(patches[unit], filters[unit])
        assert r > 0.5, f"unit {unit}: correlation {r:.2f} with its filter"
        others = [correlation(patches[unit], filters[j]) for j in range(4) if j != unit]
        assert r > max(others), f"unit {unit} matches another unit's filter better"
    # the synthesized activations are far above those of random and natural-looking inputs
    synthesized = layer_activations(model, "1", images, objective="neuron").diagonal()
    assert bool((synthesized > 0).all()), "the image must turn the unit on past its ReLU"
    torch.manual_seed(0)
    noise = layer_activations(model, "1", torch.rand(200, 3, size, size), objective="neuron")
    smooth = torch.nn.functional.avg_pool2d(torch.rand(200, 3, size + 4, size + 4), 5, 1)
    natural = layer_activations(model, "1", smooth, objective="neuron")
    assert bool((synthesized > 2 * noise.max(0).values).all())
    assert bool((synthesized > 2 * natural.max(0).values).all())


def test_minimizing_gives_the_opposite_pattern():
    model = pre_activation(filter_net())  # no ReLU: the unit can go negative
    size = 2 * K - 1
    low = synthesize(model, "0", 0, objective="neuron", maximize=False, size=size, channels=3)
    assert correlation(centre_patch(low, size), known_filters()[0]) < -0.5


def test_class_logits_of_the_digits_model_are_recognized():
    demo = nw.zoo.digits()
    images = synthesize(demo.model, None, range(10), size=16)
    assert images.shape == (10, 1, 16, 16)
    with torch.no_grad():
        predicted = demo.model(images).argmax(1)
    assert predicted.tolist() == list(range(10))


def test_each_image_of_a_batch_beats_the_dataset_on_its_own_unit():
    demo = nw.zoo.digits()
    units = [0, 5, 9, 17, 31]
    images = synthesize(demo.model, "conv2", units, size=16, steps=64)
    own = layer_activations(demo.model, "conv2", images)[range(len(units)), units]
    dataset = layer_activations(demo.model, "conv2", demo.images)[:, units]
    assert bool((own > dataset.max(0).values).all())


def test_same_seed_same_image_other_seed_other_image():
    demo = nw.zoo.digits()
    a = synthesize(demo.model, "fc1", 3, size=16, steps=16, seed=1)
    b = synthesize(demo.model, "fc1", 3, size=16, steps=16, seed=1)
    c = synthesize(demo.model, "fc1", 3, size=16, steps=16, seed=2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.shape == (1, 16, 16) and float(a.min()) >= 0 and float(a.max()) <= 1


def test_progress_previews_and_early_stop(fingerprint, same_fingerprint):
    demo = nw.zoo.digits()
    model = demo.model.train()
    before = fingerprint(model)
    seen = []

    def progress(step, steps, images):
        seen.append((step, steps, tuple(images.shape)))
        return step >= 16

    synthesize(model, "conv1", [0, 1], size=16, steps=100, progress=progress, preview_every=8)
    assert seen == [(8, 100, (2, 1, 16, 16)), (16, 100, (2, 1, 16, 16))]
    calls = []
    synthesize(
        model, "conv1", 0, size=16, steps=100, should_stop=lambda: len(calls) > 2 or calls.append(1)
    )
    same_fingerprint(before, fingerprint(model))


def test_model_untouched_after_an_exception(fingerprint, same_fingerprint):
    demo = nw.zoo.digits()
    model = demo.model
    model.conv1.weight.requires_grad_(False)
    before = fingerprint(model)

    def boom(step, steps, images):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        synthesize(model, "fc1", 0, size=16, steps=20, progress=boom, preview_every=2)
    same_fingerprint(before, fingerprint(model))
    assert all(not m._forward_hooks for m in model.modules())


def test_clear_errors_for_bad_inputs():
    demo = nw.zoo.digits()
    model = demo.model
    with pytest.raises(ValueError, match="'conv2'"):
        synthesize(model, "conv_2", 0, size=16)
    with pytest.raises(ValueError, match="out of range: layer 'conv2' has 32 units"):
        synthesize(model, "conv2", 32, size=16)
    with pytest.raises(ValueError, match="spatial"):
        synthesize(model, "fc1", 0, objective="neuron", size=16)
    with pytest.raises(ValueError, match="outside"):
        synthesize(model, "conv2", 0, objective="neuron", position=(9, 0), size=16)
    with pytest.raises(ValueError, match="image size 20x20"):
        synthesize(model, "fc1", 0, size=20)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        layer_activations(model, "fc1", torch.zeros(4, 16, 16, 1, 1))
    with pytest.raises(ValueError, match="shape"):
        layer_activations(model, "fc1", torch.zeros(4, 1, 20, 20))
    with pytest.raises(ValueError, match="empty"):
        synthesize(model, "fc1", [], size=16)
    with pytest.raises(ValueError, match="logit"):
        synthesize(model, "fc1", 0, objective="logit", size=16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_runs_on_the_models_device():
    demo = nw.zoo.digits()
    model = demo.model.cuda()
    images = synthesize(model, None, [1, 2], size=16, steps=8)
    assert images.device.type == "cpu"
    assert math.isfinite(float(images.sum()))


def tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())


@pytest.mark.parametrize(
    ("declared", "expected"),
    [((12, 10), (12, 10)), ((1, 8, 8), (8, 8)), (torch.Size([1, 6, 9]), (6, 9))],
)
def test_size_defaults_to_the_models_declared_input_size(declared, expected, recwarn):
    model = tiny_cnn()
    model.input_size = declared
    images = synthesize(model, "0", [0, 1], steps=2)
    assert tuple(images.shape) == (2, 1, *expected)
    assert not [w for w in recwarn if "size=" in str(w.message)]


def test_timms_pretrained_cfg_gives_the_size_and_an_explicit_size_wins():
    model = tiny_cnn()
    model.pretrained_cfg = {"input_size": (1, 10, 10)}
    assert tuple(synthesize(model, "0", 0, steps=2).shape) == (1, 10, 10)
    model.input_size = (7, 7)  # the model's own attribute comes first
    assert tuple(synthesize(model, "0", 0, steps=2).shape) == (1, 7, 7)
    assert tuple(synthesize(model, "0", 0, size=5, steps=2).shape) == (1, 5, 5)


def test_without_a_declared_size_224_with_a_warning_naming_size():
    model = tiny_cnn()
    model.input_size = 784  # a bare int is a feature count (MLPs, RNNs), not an image size
    with pytest.warns(UserWarning, match=r"224x224.*size=") as caught:
        images = synthesize(model, "0", 0, steps=1)
    assert tuple(images.shape) == (1, 224, 224)
    assert caught[0].filename == __file__  # it points at the caller's line


def test_the_readme_call_on_the_digits_model_runs_at_16_px():
    demo = nw.zoo.digits()
    assert demo.model.input_size == (1, 16, 16)
    assert nw.zoo.clever_hans().model.input_size == (3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 224 fallback
        images = synthesize(demo.model, "conv2", range(32), steps=16)
    assert tuple(images.shape) == (32, 1, 16, 16)


def test_progress_gets_the_time_left_when_it_asks_for_it():
    demo = nw.zoo.digits()
    seen = []

    def progress(step, steps, images, *, remaining):
        seen.append((step, remaining))

    synthesize(demo.model, "conv1", [0, 1], steps=12, progress=progress, preview_every=1)
    assert seen[0] == (1, None)  # the first step is warm-up: no pace yet
    assert all(r is not None and r >= 0 for _, r in seen[1:])
    assert seen[-1] == (12, 0.0)
    # the estimate shrinks as the steps go (the pace does not change 5-fold on the way)
    assert seen[1][1] > seen[-2][1]


def test_slow_work_without_a_callback_warns_how_long(monkeypatch):

    demo = nw.zoo.digits()
    monkeypatch.setattr(synthesis, "SLOW_SECONDS", 0.0)
    with pytest.warns(UserWarning, match=r"2 images of 16x16 px, 8 steps on cpu: .* left") as w:
        synthesize(demo.model, "conv1", [0, 1], steps=8)
    assert len(w) == 1
    monkeypatch.setattr(synthesis, "SLOW_SECONDS", 1e9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        synthesize(demo.model, "conv1", [0, 1], steps=8)
        # a callback gets the estimate instead of a warning
        monkeypatch.setattr(synthesis, "SLOW_SECONDS", 0.0)
        synthesize(demo.model, "conv1", [0, 1], steps=8, progress=lambda *a: None)


def test_durations_are_worded_roughly():
    assert about(0.3) == "under a second"
    assert about(4.4) == "about 4 s"
    assert about(41) == "about 40 s"
    assert about(119) == "about 2 min"
    assert about(7200) == "about 2.0 h"
