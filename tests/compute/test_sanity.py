"""The model-randomization sanity check (Adebayo et al., 2018): known answers, guarantees."""

from __future__ import annotations

import math
import threading

import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

import nnwidgets as nw
from nnwidgets.compute import (
    SanityStep,
    attribution,
    randomizable_layers,
    rank_correlation,
    sanity_check,
    sanity_steps,
)
from nnwidgets.compute.attribution import METHODS, Method
from nnwidgets.compute.attribution.sanity import _reinitialise

DIGITS_LAYERS = ["fc2", "fc1", "conv2", "conv1"]


@pytest.fixture(scope="module")
def digits() -> tuple[nn.Module, torch.Tensor]:
    demo = nw.zoo.digits()
    return demo.model.eval(), demo.images[:8]


class CountingNet(nn.Module):
    """A small CNN that counts its forward passes (to show that bad input does no work)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4 * 6 * 6, 3)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.fc(self.relu(self.conv(x)).flatten(1))


# -- known answers ------------------------------------------------------------------------------


def test_guided_backprop_survives_randomization_saliency_does_not(digits):
    """The paper's finding: guided backprop barely depends on the weights, the gradient does.

    Observed on the digits CNN (8 test images, seed 0), after all four layers are random:
    guided backprop 0.44, saliency 0.16 (trained maps: 1.0 each).
    """
    model, x = digits
    steps = sanity_check(model, x, ["saliency", "guided_backprop"])
    assert [s.layer for s in steps] == [None, *DIGITS_LAYERS]
    last = steps[-1].rank_correlation
    assert last["guided_backprop"] > 0.33
    assert last["saliency"] < 0.25
    assert last["guided_backprop"] - last["saliency"] > 0.2
    # the gradient decorrelates as soon as the output layer is random; guided backprop far less
    first = steps[1].rank_correlation
    assert first["saliency"] < 0.55 < first["guided_backprop"]


def test_step_zero_is_the_trained_model_and_steps_are_cumulative(digits):
    model, x = digits
    steps = sanity_check(model, x[:2], ["saliency", "grad_cam"], options={"grad_cam": {}})
    assert all(isinstance(s, SanityStep) for s in steps)
    zero = steps[0]
    assert zero.layer is None and zero.layers == ()
    assert zero.rank_correlation == {"saliency": 1.0, "grad_cam": 1.0}
    for method, values in zero.maps.items():
        torch.testing.assert_close(values, attribution(model, x[:2], method), rtol=0, atol=0)
        assert values.shape == x[:2].shape
    for k, step in enumerate(steps[1:], start=1):
        assert step.layers == tuple(DIGITS_LAYERS[:k])
        assert step.layer == DIGITS_LAYERS[k - 1]
        assert all(-1 <= v <= 1 or math.isnan(v) for v in step.rank_correlation.values())
    assert not torch.equal(steps[1].maps["saliency"], zero.maps["saliency"])


def test_sequential_last_linear_first():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(27, 5), nn.ReLU(), nn.Linear(5, 2)
    )
    x = torch.rand(1, 1, 5, 5)
    assert randomizable_layers(model) == ["5", "3", "0"]
    steps = sanity_check(model, x, ["saliency"])
    assert [s.layers for s in steps] == [(), ("5",), ("5", "3"), ("5", "3", "0")]


class DefinedBackwards(nn.Module):
    """Modules defined in another order than they run; one is never called."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(4, 2)
        self.unused = nn.Linear(2, 2)
        self.scale = nn.Parameter(torch.ones(()))
        self.body = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(x))) * self.scale


def test_order_is_the_forward_pass_reversed(fingerprint, same_fingerprint):
    model = DefinedBackwards()
    x = torch.rand(2, 3)
    before = fingerprint(model)
    # the root owns `scale` and is called first: it comes last of the called ones
    assert randomizable_layers(model, x) == ["head", "body", "", "unused"]
    same_fingerprint(before, fingerprint(model))  # traced with hooks on the borrowed model
    # nothing to run (no input, no declared input_size): reversed named_modules order
    assert randomizable_layers(model) == ["body", "unused", "head", ""]
    # the pass fails (wrong input size): the same fallback; a malformed input is refused
    assert randomizable_layers(model, torch.rand(2, 5)) == ["body", "unused", "head", ""]
    with pytest.raises(ValueError, match="batch dim"):
        randomizable_layers(model, torch.rand(3))
    steps = sanity_check(model, x, ["saliency"], layers=["body", "head"])
    assert [s.layer for s in steps] == [None, "head", "body"]


def test_declared_input_size_gives_the_call_order(digits):
    model, _ = digits
    assert model.input_size == (1, 16, 16)
    assert randomizable_layers(model) == DIGITS_LAYERS


# -- rank correlation ---------------------------------------------------------------------------


def test_rank_correlation_is_scipys_spearman_with_ties():
    generator = torch.Generator().manual_seed(0)
    for shape in [(1, 3, 7, 9), (2, 2, 5, 5), (3, 11)]:
        for _ in range(5):
            # few distinct values: many ties in the heat
            a = torch.randint(-2, 3, shape, generator=generator).float()
            b = a + torch.randint(-1, 2, shape, generator=generator).float()
            heat_a = a.abs().sum(1) if a.ndim >= 3 else a.abs()
            heat_b = b.abs().sum(1) if b.ndim >= 3 else b.abs()
            expected = spearmanr(heat_a.flatten().numpy(), heat_b.flatten().numpy()).statistic
            assert rank_correlation(a, b) == pytest.approx(expected, abs=1e-12)
            assert len(torch.unique(heat_a)) < heat_a.numel() / 2  # ties were tested


def test_rank_correlation_edge_cases():
    a = torch.rand(1, 3, 4, 4)
    assert rank_correlation(a, a) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(1.0)  # the heat drops the sign
    assert math.isnan(rank_correlation(torch.zeros(1, 3, 4, 4), a))
    assert math.isnan(rank_correlation(a, torch.full_like(a, 2.0)))
    with pytest.raises(ValueError, match="shapes"):
        rank_correlation(a, torch.rand(1, 3, 4, 5))
    with pytest.raises(TypeError, match="tensors"):
        rank_correlation(a, a.numpy())


def test_batch_correlation_is_the_mean_over_inputs(digits):
    model, x = digits
    steps = sanity_check(model, x[:3], ["saliency"], layers="fc2")
    maps, reference = steps[1].maps["saliency"], steps[0].maps["saliency"]
    each = [rank_correlation(maps[i : i + 1], reference[i : i + 1]) for i in range(3)]
    assert steps[1].rank_correlation["saliency"] == pytest.approx(sum(each) / 3)


# -- seeds, targets, random state ---------------------------------------------------------------


def test_same_seed_same_maps_other_seed_other_maps(digits):
    model, x = digits
    methods = ["saliency", "guided_backprop"]
    first = sanity_check(model, x[:2], methods, seed=3)
    again = sanity_check(model, x[:2], methods, seed=3)
    other = sanity_check(model, x[:2], methods, seed=4)
    for a, b, c in zip(first, again, other, strict=True):
        for method in methods:
            assert torch.equal(a.maps[method], b.maps[method])
            assert a.rank_correlation[method] == b.rank_correlation[method]
            assert torch.equal(a.maps[method], c.maps[method]) == (a.layer is None)


def test_global_random_state_unchanged(digits):
    model, x = digits
    state = torch.get_rng_state()
    sanity_check(model, x[:1], ["saliency", "lime"], options={"lime": {"n_samples": 8}})
    assert torch.equal(torch.get_rng_state(), state)


def test_target_is_the_original_prediction_throughout(digits):
    model, x = digits
    classes = model(x[:2]).argmax(1).tolist()
    default = sanity_check(model, x[:2], ["saliency"], seed=1)
    explicit = sanity_check(model, x[:2], ["saliency"], classes, seed=1)
    for a, b in zip(default, explicit, strict=True):
        assert torch.equal(a.maps["saliency"], b.maps["saliency"])
    other = [(c + 1) % 10 for c in classes]
    changed = sanity_check(model, x[:2], ["saliency"], other, seed=1)
    assert not torch.equal(changed[-1].maps["saliency"], default[-1].maps["saliency"])


def test_parameters_without_reset_are_drawn_with_their_std():
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.randn(200, 100) * 0.3 + 5.0)
            self.scale = nn.Parameter(torch.full((), 2.0))

    torch.manual_seed(0)
    module = Scaled()
    trained_std = float(module.weight.detach().std())
    state = torch.get_rng_state()
    _reinitialise(module, 7)
    assert torch.equal(torch.get_rng_state(), state)
    assert float(module.weight.detach().std()) == pytest.approx(trained_std, rel=0.02)
    assert abs(float(module.weight.detach().mean())) < 0.01  # centred on 0, not on the trained mean
    assert float(module.scale.detach()) != 2.0  # a constant is drawn with its magnitude as std
    torch.manual_seed(0)
    again = Scaled()
    _reinitialise(again, 7)
    assert torch.equal(again.weight, module.weight)


# -- the user's model, progress and stopping ----------------------------------------------------


def test_model_untouched_in_train_mode_with_hooks(digits, fingerprint, same_fingerprint):
    demo = nw.zoo.digits()
    model = demo.model.train()
    model.fc1.register_forward_hook(lambda *args: None)
    model.conv1.weight.requires_grad_(False)
    before = fingerprint(model)
    steps = sanity_check(model, demo.images[:2], ["saliency", "guided_backprop"])
    same_fingerprint(before, fingerprint(model))
    assert len(steps) == 5


def test_model_untouched_after_an_error_mid_way(digits, fingerprint, same_fingerprint, monkeypatch):
    model, x = digits
    calls = []

    def failing(model: nn.Module, x: torch.Tensor, target: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom at step 2")
        return METHODS["input_x_gradient"].function(model, x, target, **kwargs)

    monkeypatch.setitem(METHODS, "failing", Method("failing", failing, "-", "fails"))
    before = fingerprint(model)
    state = torch.get_rng_state()
    with pytest.raises(RuntimeError, match="boom at step 2"):
        sanity_check(model, x[:1], ["failing"])
    assert len(calls) == 3
    same_fingerprint(before, fingerprint(model))
    assert torch.equal(torch.get_rng_state(), state)


def test_progress_and_should_stop(digits):
    model, x = digits
    seen: list[tuple[int, int]] = []
    steps = sanity_check(model, x[:1], ["saliency"], progress=lambda *a: seen.append(a))
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert len(steps) == 5

    seen.clear()
    partial = sanity_check(
        model,
        x[:1],
        ["saliency"],
        progress=lambda *a: seen.append(a),
        should_stop=lambda: len(seen) >= 2,
    )
    assert [s.layers for s in partial] == [(), ("fc2",)]
    assert seen == [(1, 5), (2, 5)]
    assert sanity_check(model, x[:1], ["saliency"], should_stop=lambda: True) == []
    restricted: list[tuple[int, int]] = []
    sanity_check(
        model, x[:1], ["saliency"], layers=["fc1"], progress=lambda *a: restricted.append(a)
    )
    assert restricted == [(1, 2), (2, 2)]


def test_steps_are_lazy_and_the_copy_is_free_between_them(digits, fingerprint, same_fingerprint):
    model, x = digits
    before = fingerprint(model)
    steps = sanity_steps(model, x[:1], ["saliency"])
    first = next(steps)
    assert first.layer is None
    # between steps nothing is borrowed: another thread can use the user's model at once
    worker = threading.Thread(target=lambda: attribution(model, x[:1], "saliency"))
    worker.start()
    worker.join(10)
    assert not worker.is_alive()
    assert [s.layer for s in steps] == DIGITS_LAYERS
    same_fingerprint(before, fingerprint(model))


class Unpicklable(CountingNet):
    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"methods": ["saliency", "nope"]}, ValueError, "unknown attribution method 'nope'"),
        ({"methods": []}, TypeError, "non-empty sequence"),
        ({"methods": ["saliency", "saliency"]}, ValueError, "twice"),
        ({"layers": ["conv", "relu"]}, ValueError, r"no layer .*'relu'.*'conv', 'fc'"),
        ({"layers": []}, ValueError, "at least one layer"),
        ({"options": {"grad_cam": {"layer": "conv"}}}, ValueError, "not among the methods"),
        ({"options": {"saliency": {"layer": "conv"}}}, TypeError, "no option 'layer'"),
        ({"options": {"saliency": 3}}, TypeError, "dict of options"),
        ({"options": [1]}, TypeError, "map a method name"),
        ({"x": torch.rand(36)}, ValueError, "batch dim"),
        ({"target": [0, 1]}, ValueError, "2 targets for 1 inputs"),
        ({"seed": 1.5}, TypeError, "seed must be an int"),
    ],
)
def test_bad_inputs_raise_before_any_work(kwargs, error, message, fingerprint, same_fingerprint):
    model = CountingNet()
    before = fingerprint(model)
    arguments = {"x": torch.rand(1, 1, 6, 6), "methods": ["saliency"]} | kwargs
    x, methods = arguments.pop("x"), arguments.pop("methods")
    with pytest.raises(error, match=message):
        sanity_steps(model, x, methods, **arguments)
    assert model.calls == 0
    same_fingerprint(before, fingerprint(model))


def test_a_model_deepcopy_cannot_copy_is_refused_clearly():
    model = Unpicklable()
    with pytest.raises(TypeError, match=r"copy\.deepcopy\(model\) fails.*lock"):
        sanity_steps(model, torch.rand(1, 1, 6, 6), ["saliency"])
    assert model.calls == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_model_and_its_random_state(digits):
    _, x = digits
    cuda_model = nw.zoo.digits().model.cuda()
    cpu_state, cuda_state = torch.get_rng_state(), torch.cuda.get_rng_state()
    steps = sanity_check(cuda_model, x[:2].cuda(), ["saliency", "guided_backprop"])
    assert torch.equal(torch.get_rng_state(), cpu_state)
    assert torch.equal(torch.cuda.get_rng_state(), cuda_state)
    assert all(m.device.type == "cuda" for s in steps for m in s.maps.values())
    last = steps[-1].rank_correlation
    assert last["guided_backprop"] > last["saliency"]
