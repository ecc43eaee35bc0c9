"""nw.compute.attribution against Captum (default arguments), known answers and bad inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import (
    Deconvolution,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    Lime,
    Occlusion,
    Saliency,
)
from torch import nn

import nnwidgets as nw
from nnwidgets.compute import ATTRIBUTION_METHODS, attribution
from nnwidgets.compute.attribution.superpixels import grid_segments, superpixels

# -- models ----------------------------------------------------------------------------------


class ReluNet(nn.Module):
    """Two conv layers and a linear head with nn.ReLU modules (or in-place ones)."""

    def __init__(self, inplace: bool = False, channels: int = 3, classes: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 6, 3, padding=1)
        self.relu1 = nn.ReLU(inplace=inplace)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu2 = nn.ReLU(inplace=inplace)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(8 * 4 * 4, 16)
        self.relu3 = nn.ReLU(inplace=inplace)
        self.fc2 = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu2(self.bn(self.conv2(self.relu1(self.conv1(x))))))
        return self.fc2(self.relu3(self.fc1(x.flatten(1))))


RELU_FORMS = {
    "F.relu": F.relu,
    "F.relu(inplace=True)": lambda t: F.relu(t, inplace=True),
    "torch.relu": torch.relu,
    "torch.relu_": torch.relu_,
    "Tensor.relu": torch.Tensor.relu,
    "Tensor.relu_": torch.Tensor.relu_,
}


class FunctionalReluNet(ReluNet):
    """ReluNet's layers with functional ReLU forms: Captum cannot see these."""

    def __init__(self, forms: tuple[str, str, str]) -> None:
        super().__init__()
        self.forms = [RELU_FORMS[f] for f in forms]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second, third = self.forms
        x = second(self.bn(self.conv2(first(self.conv1(x)))))
        return self.fc2(third(self.fc1(self.pool(x).flatten(1))))


class Block(nn.Module):
    """A ResNet basic block: one in-place nn.ReLU module used twice, a skip connection."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + x)


class TinyResNet(nn.Module):
    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.block1 = Block(8)
        self.block2 = Block(8)
        self.head = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block2(self.block1(self.relu(self.stem(x))))
        return self.head(x.mean(dim=(2, 3)))


def _seeded(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BatchNorm statistics, eval mode."""
    torch.manual_seed(seed)
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        if isinstance(module, nn.BatchNorm2d):
            with torch.no_grad():
                module.running_mean.uniform_(-0.3, 0.3)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if linears:  # scores that move visibly
        with torch.no_grad():
            linears[-1].weight.mul_(10)
    return model.eval()


def _images(n: int = 3, channels: int = 3, size: int = 8, seed: int = 1) -> torch.Tensor:
    return torch.rand((n, channels, size, size), generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def digits() -> tuple[nn.Module, torch.Tensor]:
    demo = nw.zoo.digits()
    return demo.model.eval(), demo.images[:3]


def _models(digits):
    """(name, model, inputs, grad-cam layer) for every model the Captum checks run on."""
    return [
        ("digits", digits[0], digits[1], "conv2"),
        ("relu", _seeded(ReluNet()), _images(), "conv2"),
        ("relu_inplace", _seeded(ReluNet(inplace=True)), _images(), "conv2"),
        ("resnet", _seeded(TinyResNet()), _images(2, size=10), "block2"),
    ]


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _targets(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


def _assert_close(ours: torch.Tensor, reference: torch.Tensor) -> None:
    """Equal to 1e-5 of the map's largest value."""
    reference = reference.detach()
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    scale = float(reference.abs().max())
    assert scale > 1e-6, "test signal too weak to compare"
    torch.testing.assert_close(ours, reference.to(ours.dtype), atol=1e-5 * scale, rtol=0)


def _captum(method, model, x, target, layer):
    """Captum's numbers for ``method`` with its default arguments."""
    module = dict(model.named_modules()).get(layer)
    if method == "saliency":
        return _quiet(Saliency(model).attribute, x, target)
    if method == "input_x_gradient":
        return _quiet(InputXGradient(model).attribute, x, target)
    if method == "deconvnet":
        return _quiet(Deconvolution(model).attribute, x, target)
    if method == "guided_backprop":
        return _quiet(GuidedBackprop(model).attribute, x, target)
    if method == "integrated_gradients":
        return _quiet(IntegratedGradients(model).attribute, x, target=target)
    if method == "grad_cam":
        cam = _quiet(LayerGradCam(model, module).attribute, x, target, relu_attributions=True)
        return LayerAttribution.interpolate(cam, tuple(x.shape[2:])).expand_as(x)
    if method == "guided_grad_cam":
        return _quiet(GuidedGradCam(model, module).attribute, x, target)
    raise AssertionError(method)


GRADIENT_METHODS = [
    "saliency",
    "input_x_gradient",
    "deconvnet",
    "guided_backprop",
    "integrated_gradients",
    "grad_cam",
    "guided_grad_cam",
]


# -- Captum's numbers ------------------------------------------------------------------------
@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_matches_captum(method, digits, fingerprint, same_fingerprint):
    for name, model, x, layer in _models(digits):
        target = _targets(model, x)
        options = {"layer": layer} if "grad_cam" in method else {}
        before = fingerprint(model)
        ours = attribution(model, x, method, target, **options)
        same_fingerprint(before, fingerprint(model))
        assert ours.dtype == x.dtype and ours.device == x.device
        try:
            _assert_close(ours, _captum(method, model, x, target, layer))
        except AssertionError as error:
            raise AssertionError(f"{method} on {name}: {error}") from error


FORMS = [
    ("F.relu(inplace=True)", "torch.relu", "Tensor.relu_"),
    ("F.relu", "torch.relu_", "Tensor.relu"),
]


@pytest.mark.parametrize("forms", FORMS, ids=["-".join(f) for f in FORMS])
@pytest.mark.parametrize("method", ["deconvnet", "guided_backprop", "guided_grad_cam"])
def test_functional_relus_ruled_like_modules(method, forms):
    """Every functional ReLU form: Captum's numbers of the same network written with
    nn.ReLU modules (Captum itself cannot rule these)."""
    modules, functional = _seeded(ReluNet()), _seeded(FunctionalReluNet(forms))
    x = _images()
    target = _targets(modules, x)
    options = {"layer": "conv2"} if method == "guided_grad_cam" else {}
    ours = attribution(functional, x, method, target, **options)
    _assert_close(ours, _captum(method, modules, x, target, "conv2"))
    plain = attribution(functional, x, "saliency", target, abs=False)
    assert (ours - plain).abs().max() > 1e-3  # the rules did apply


def test_rules_differ_from_plain_gradients():
    model, x = _seeded(ReluNet(inplace=True)), _images()
    gradient = attribution(model, x, "saliency", 0, abs=False)
    deconv = attribution(model, x, "deconvnet", 0)
    guided = attribution(model, x, "guided_backprop", 0)
    for a, b in [(gradient, deconv), (gradient, guided), (deconv, guided)]:
        assert (a - b).abs().max() > 1e-3 * gradient.abs().max()


def test_target_default_is_predicted_class(digits):
    model, x = digits
    _assert_close(
        attribution(model, x, "saliency"), attribution(model, x, "saliency", _targets(model, x))
    )


def test_integrated_gradients_batching_and_baseline(digits):
    model, x = digits
    target = _targets(model, x)
    baseline = torch.full_like(x[0], 0.25)
    reference = _quiet(
        IntegratedGradients(model).attribute, x, baseline[None], target=target, n_steps=20
    )
    for options in ({}, {"memory_budget": 1}, {"internal_batch_size": 7}):
        ours = attribution(
            model, x, "integrated_gradients", target, baseline=baseline, n_steps=20, **options
        )
        _assert_close(ours, reference)


def test_grad_cam_interpolation_modes(digits):
    model, x = digits
    target = _targets(model, x)
    cam = _quiet(LayerGradCam(model, model.conv2).attribute, x, target, relu_attributions=True)
    for mode in ("nearest", "bilinear"):
        ours = attribution(model, x, "grad_cam", target, layer="conv2", interpolate_mode=mode)
        _assert_close(ours, LayerAttribution.interpolate(cam, (16, 16), interpolate_mode=mode))
    guided = attribution(model, x, "guided_grad_cam", target, layer=model.conv2)
    _assert_close(guided, _quiet(GuidedGradCam(model, model.conv2).attribute, x, target))


def test_occlusion_is_the_engine(digits):
    model, x = digits
    target = _targets(model, x)
    ours = attribution(model, x, "occlusion", target, window=4, stride=2)
    reference = Occlusion(model).attribute(
        x, sliding_window_shapes=(1, 4, 4), strides=(1, 2, 2), target=target
    )
    _assert_close(ours, reference)


def test_dict_output_selected():
    class Dict(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = _seeded(ReluNet())

        def forward(self, x):
            return {"logits": self.net(x), "features": x.mean()}

    model, x = Dict().eval(), _images()
    target = _targets(model.net, x)
    for method in ("saliency", "guided_backprop", "integrated_gradients"):
        ours = attribution(model, x, method, target, output="logits")
        _assert_close(ours, _captum(method, model.net, x, target, None))


# -- ReLU forms ------------------------------------------------------------------------------
class WithModule(nn.Module):
    def __init__(self, activation: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = activation
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        return self.fc(self.act(self.conv(x)).flatten(1))


class WithCall(WithModule):
    def __init__(self, call) -> None:
        super().__init__(nn.Identity())
        self.call = call

    def forward(self, x):
        return self.fc(self.call(self.conv(x)).flatten(1))


UNSUPPORTED = [
    ("nn.ReLU6", lambda: WithModule(nn.ReLU6())),
    ("nn.LeakyReLU", lambda: WithModule(nn.LeakyReLU())),
    ("nn.PReLU", lambda: WithModule(nn.PReLU())),
    ("F.leaky_relu", lambda: WithCall(F.leaky_relu)),
    ("F.relu6", lambda: WithCall(F.relu6)),
    ("clamp(min=0)", lambda: WithCall(lambda t: t.clamp(min=0))),
    ("TorchScript", lambda: WithModule(torch.jit.script(nn.ReLU()))),
]


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(("what", "make"), UNSUPPORTED, ids=[u[0] for u in UNSUPPORTED])
def test_unsupported_rectifiers_raise(what, make, fingerprint, same_fingerprint):
    model = _seeded(make())
    x = _images()
    before = fingerprint(model)
    for method in ("deconvnet", "guided_backprop"):
        with pytest.raises(ValueError, match=r"rectifier it cannot rule.*unsupported='gradient'"):
            attribution(model, x, method, 0)
    same_fingerprint(before, fingerprint(model))
    assert torch._C._len_torch_function_stack() == 0
    if what != "TorchScript":  # as Captum: their ordinary gradient
        ours = attribution(model, x, "guided_backprop", 0, unsupported="gradient")
        _assert_close(ours, _quiet(GuidedBackprop(model).attribute, x, 0))


def test_smooth_activations_keep_their_gradient():
    model, x = _seeded(WithModule(nn.GELU())), _images()
    _assert_close(
        attribution(model, x, "guided_backprop", 1), attribution(model, x, "saliency", 1, abs=False)
    )


def test_overrides_removed_after_every_call_and_after_an_error():
    class Fails(ReluNet):
        def forward(self, x):
            F.relu(self.conv1(x))
            raise RuntimeError("boom")

    model, x = _seeded(ReluNet()), _images()
    failing = _seeded(Fails())
    plain = _quiet(Saliency(model).attribute, x, 0, abs=False)
    for method in ("deconvnet", "guided_backprop", "guided_grad_cam"):
        options = {"layer": "conv2"} if method == "guided_grad_cam" else {}
        attribution(model, x, method, 0, **options)
        assert torch._C._len_torch_function_stack() == 0
        _assert_close(_quiet(Saliency(model).attribute, x, 0, abs=False), plain)
        with pytest.raises(ValueError, match="boom"):
            attribution(failing, x, method, 0, **options)
        assert torch._C._len_torch_function_stack() == 0
        _assert_close(_quiet(Saliency(model).attribute, x, 0, abs=False), plain)
        assert F.relu(torch.tensor([-1.0, 2.0], requires_grad=True)).grad_fn.name() != (
            "_RuledReLUBackward"
        )


def test_model_untouched_in_train_mode_with_hooks(fingerprint, same_fingerprint):
    model = _seeded(ReluNet(inplace=True)).train()
    model.conv1.weight.requires_grad_(False)
    model.relu2.register_forward_hook(lambda *_: None)
    before = fingerprint(model)
    x = _images()
    for method in ATTRIBUTION_METHODS:
        options = {"layer": "conv2"} if "grad_cam" in method else {}
        options |= {"window": 2} if method == "occlusion" else {}
        attribution(model, x, method, 0, **options)
        same_fingerprint(before, fingerprint(model))
        assert all(p.grad is None for p in model.parameters())


# -- LIME ------------------------------------------------------------------------------------
def _block_mask(size: int, cell: int) -> torch.Tensor:
    return grid_segments(size, size, (size // cell) ** 2)[None, None]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n_samples", [25, 60])
def test_lime_equals_captum_for_a_seed(digits, n_samples):
    """Captum's Lime after torch.manual_seed(s) draws the perturbations ours draws for seed=s."""
    model, x = digits
    target = _targets(model, x)
    mask = _block_mask(16, 2)
    torch.manual_seed(7)
    reference = _quiet(
        Lime(model).attribute, x, target=target, feature_mask=mask, n_samples=n_samples
    )
    for batch_size in (None, 7):
        ours = attribution(
            model,
            x,
            "lime",
            target,
            feature_mask=mask,
            n_samples=n_samples,
            seed=7,
            batch_size=batch_size,
        )
        assert ours.dtype == torch.float32
        _assert_close(ours, reference)


def test_lime_equals_captum_rgb_and_baseline():
    model, x = _seeded(ReluNet()), 4 * _images(2)
    target = _targets(model, x)
    mask = _block_mask(8, 2)
    torch.manual_seed(3)
    reference = _quiet(
        Lime(model).attribute, x, baselines=0.5, target=target, feature_mask=mask, n_samples=60
    )
    ours = attribution(
        model, x, "lime", target, feature_mask=mask[0], baseline=0.5, n_samples=60, seed=3
    )
    _assert_close(ours, reference)


class OneRegion(nn.Module):
    """A score that reads only the pixels in rows 4-7, columns 8-11."""

    def forward(self, x):
        region = x[:, :, 4:8, 8:12].sum(dim=(1, 2, 3))
        return torch.stack([region, -region], dim=1)


def test_lime_known_answer_one_region_grid():
    x = torch.ones((1, 3, 16, 16))
    weights = attribution(
        OneRegion(), x, "lime", 0, superpixels="grid", n_segments=16, n_samples=200
    )
    cells = grid_segments(16, 16, 16)
    best = int(cells.flatten()[weights[0, 0].flatten().argmax()])
    assert best == int(cells[4, 8])
    assert weights[0, :, 4:8, 8:12].min() == weights[0].max()


def test_lime_known_answer_one_region_slic():
    pytest.importorskip("skimage")
    x = torch.zeros((1, 3, 16, 16))
    x[:, :, 4:8, 8:12] = 1.0  # a bright square SLIC puts in a superpixel of its own
    weights = attribution(OneRegion(), x, "lime", 0, superpixels="slic", n_samples=300)
    labels = superpixels(x[0], "slic")
    top = labels.flatten()[weights[0, 0].flatten().argmax()]
    assert (labels[4:8, 8:12] == top).float().mean() > 0.5


def test_lime_recovers_a_linear_model():
    """For a score linear in the features, the weighted fit finds its coefficients."""
    cells = grid_segments(8, 8, 4)
    coefficients = torch.tensor([3.0, -1.0, 0.5, 2.0])

    class Linear(nn.Module):
        def forward(self, x):
            per_cell = torch.stack([x[:, :, cells == f].mean(dim=(1, 2)) for f in range(4)], 1)
            return (per_cell * coefficients).sum(1, keepdim=True)

    weights = attribution(
        Linear(),
        torch.ones((1, 1, 8, 8)),
        "lime",
        0,
        feature_mask=cells,
        n_samples=300,
        alpha=1e-5,
    )
    found = torch.stack([weights[0, 0][cells == f][0] for f in range(4)])
    torch.testing.assert_close(found, coefficients, atol=1e-3, rtol=0)


def test_grid_superpixels():
    grid = grid_segments(16, 12, 12)
    assert grid.shape == (16, 12) and grid.unique().tolist() == list(range(12))
    assert superpixels(_images(1, size=16)[0], "grid", 4).unique().numel() == 4


def test_slic_superpixels_consecutive():
    pytest.importorskip("skimage")
    demo = nw.zoo.clever_hans()
    for image in (demo.images[0], nw.zoo.digits().images[0]):
        slic = superpixels(image, "slic", 64)
        assert slic.shape == image.shape[1:]
        assert slic.unique().tolist() == list(range(int(slic.max()) + 1))
        assert 8 <= slic.unique().numel() <= 100
    noise = torch.rand((3, 64, 64), generator=torch.Generator().manual_seed(0))
    assert superpixels(noise, "slic", 16).unique().numel() == 1  # SLIC merges noise...
    torch.testing.assert_close(superpixels(noise, "auto", 16), grid_segments(64, 64, 16))


# -- bad inputs ------------------------------------------------------------------------------
BAD = [
    (dict(method="nope"), ValueError, "unknown attribution method 'nope'"),
    (dict(method="saliency", n_steps=3), TypeError, "no option 'n_steps'"),
    (dict(method="grad_cam", layer="conv9"), ValueError, "no layer 'conv9'"),
    (dict(method="grad_cam", layer="fc1"), ValueError, "Grad-CAM needs a layer with channels"),
    (dict(method="grad_cam", layer="conv2", interpolate_mode="fancy"), ValueError, "interpol"),
    (dict(method="saliency", target=10), ValueError, "target 10 is out of range"),
    (dict(method="saliency", target=[0]), ValueError, "1 targets for 3 inputs"),
    (dict(method="saliency", x=torch.rand(1, 16, 16)), ValueError, "the model failed"),
    (dict(method="saliency", x=torch.rand(16)), ValueError, "needs a batch dim"),
    (dict(method="saliency", x=torch.zeros((1, 1, 16, 16), dtype=torch.uint8)), TypeError, "uint8"),
    (dict(method="integrated_gradients", n_steps=0), ValueError, "n_steps must be at least 1"),
    (dict(method="lime", feature_mask=torch.zeros(5, 5, dtype=torch.long)), ValueError, "broad"),
    (dict(method="lime", feature_mask=torch.zeros(16, 16)), TypeError, "int feature indices"),
    (dict(method="lime", superpixels="voronoi"), ValueError, "superpixels must be one of"),
    (dict(method="lime", n_samples=0), ValueError, "n_samples must be at least 1"),
    (dict(method="occlusion"), ValueError, "needs a window"),
    (dict(method="deconvnet", unsupported="maybe"), ValueError, "unsupported must be one of"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD, ids=[str(b[0]) for b in BAD])
def test_bad_inputs(digits, kwargs, error, message, fingerprint, same_fingerprint):
    model, x = digits
    kwargs = dict(kwargs)
    x = kwargs.pop("x", x)
    before = fingerprint(model)
    with pytest.raises(error, match=message):
        attribution(model, x, kwargs.pop("method"), kwargs.pop("target", None), **kwargs)
    same_fingerprint(before, fingerprint(model))


def test_layer_running_twice_is_refused():
    model, x = _seeded(TinyResNet()), _images()
    with pytest.raises(ValueError, match="runs 2 times"):
        attribution(model, x, "grad_cam", 0, layer="block1.relu")


def test_lime_needs_a_mask_for_non_images():
    model = nn.Linear(5, 2)
    with pytest.raises(ValueError, match="pass feature_mask"):
        attribution(model, torch.rand(2, 5), "lime")
    mask = torch.tensor([0, 0, 1, 1, 2])
    assert attribution(model, torch.rand(2, 5), "lime", 1, feature_mask=mask).shape == (2, 5)


def test_methods_listed_with_options():
    assert set(ATTRIBUTION_METHODS) == {*GRADIENT_METHODS, "lime", "occlusion"}
    assert ATTRIBUTION_METHODS["integrated_gradients"].options["n_steps"] == 50
    assert ATTRIBUTION_METHODS["lime"].options["n_samples"] == 25
    assert ATTRIBUTION_METHODS["grad_cam"].options["interpolate_mode"] == "nearest"
    for method in ATTRIBUTION_METHODS.values():  # the protocol is attribution()'s, not an option
        assert not {"output", "progress", "should_stop"} & set(method.options)
    chunked = {name for name, method in ATTRIBUTION_METHODS.items() if method.chunked}
    assert chunked == {"integrated_gradients", "lime", "occlusion"}


# -- progress and stopping ------------------------------------------------------------------------

CHUNKED = {
    "integrated_gradients": ({"n_steps": 12, "internal_batch_size": 6}, [(2, 12), (4, 12)]),
    "lime": ({"n_samples": 10, "batch_size": 4}, [(4, 30), (8, 30), (10, 30), (14, 30)]),
    "occlusion": ({"window": 4, "batch_size": 5}, [(5, 48), (10, 48)]),
}


@pytest.mark.parametrize("method", sorted(CHUNKED))
def test_chunked_methods_report_progress_and_stop(method, digits):
    model, x = digits
    options, first_calls = CHUNKED[method]
    plain = attribution(model, x, method, **options)
    seen: list[tuple[int, int]] = []
    reported = attribution(model, x, method, progress=lambda *a: seen.append(a), **options)
    assert torch.equal(reported, plain)  # reporting changes no number
    assert seen[: len(first_calls)] == first_calls
    dones = [done for done, _ in seen]
    assert dones == sorted(set(dones)) and seen[-1] == (seen[0][1], seen[0][1])

    seen.clear()
    stop_after = len(first_calls) // 2
    stopped = attribution(
        model,
        x,
        method,
        progress=lambda *a: seen.append(a),
        should_stop=lambda: len(seen) >= stop_after,
        **options,
    )
    assert seen == first_calls[:stop_after]
    assert stopped.shape == plain.shape and not torch.equal(stopped, plain)
    assert stopped.abs().sum() > 0
    nothing = attribution(model, x, method, should_stop=lambda: True, **options)
    assert torch.count_nonzero(nothing) == 0


def test_stopped_lime_keeps_the_finished_inputs(digits):
    model, x = digits
    options = {"n_samples": 10, "batch_size": 4}
    full = attribution(model, x, "lime", **options)
    seen: list[tuple[int, int]] = []
    partial = attribution(
        model,
        x,
        "lime",
        progress=lambda *a: seen.append(a),
        should_stop=lambda: len(seen) >= 4,
        **options,
    )  # chunks of 4, 4 and 2 perturbed inputs per image: stopped in the second image
    assert torch.equal(partial[0], full[0])  # finished before the stop
    assert torch.count_nonzero(partial[2]) == 0  # not reached


def test_stopped_integrated_gradients_is_the_partial_path_sum(digits):
    """Stopped after the first chunk: the Gauss-Legendre sum over the nodes swept so far."""
    model, x = digits
    seen: list[tuple[int, int]] = []
    half = attribution(
        model,
        x,
        "integrated_gradients",
        0,
        n_steps=8,
        internal_batch_size=12,  # 4 steps of 3 inputs per chunk
        progress=lambda *a: seen.append(a),
        should_stop=lambda: len(seen) >= 1,
    )
    assert seen == [(4, 8)]
    nodes, weights = np.polynomial.legendre.leggauss(8)
    expected = torch.zeros_like(x)
    for node, weight in list(zip(nodes, weights, strict=True))[:4]:  # from the baseline (zeros)
        grad = attribution(model, float(0.5 * (1 + node)) * x, "saliency", 0, abs=False)
        expected += float(np.float32(0.5 * weight)) * grad
    torch.testing.assert_close(half, expected * x, rtol=1e-4, atol=1e-6)


def test_one_pass_methods_report_once(digits):
    model, x = digits
    for method in ("saliency", "guided_backprop", "grad_cam"):
        seen: list[tuple[int, int]] = []
        attribution(model, x, method, progress=lambda *a, seen=seen: seen.append(a))
        assert seen == [(1, 1)]
