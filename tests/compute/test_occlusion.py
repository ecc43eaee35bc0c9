"""occlusion / occlusion_outputs / OcclusionGrid against captum and by hand."""

from __future__ import annotations

import pytest
import torch
from captum.attr import Occlusion
from torch import nn

from nnwidgets.compute import OcclusionGrid, occlusion, occlusion_outputs
from nnwidgets.zoo.models import DigitsCNN, ShapesCNN


def _seeded(cls, *args, seed=0):
    """A random model with its last linear layer scaled up, so scores move visibly."""
    torch.manual_seed(seed)
    model = cls(*args).eval()
    last = [module for module in model.modules() if isinstance(module, nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(4)
    return model


def _captum(model, inputs, window, stride, baseline=0.0, target=None, per_eval=16):
    """Captum's Occlusion with our grid's full window and stride, model in eval mode."""
    grid = OcclusionGrid.create(tuple(inputs.shape[1:]), window, stride)
    if target is None:
        with torch.no_grad():
            target = model(inputs).argmax(1)
    return Occlusion(model).attribute(
        inputs,
        sliding_window_shapes=grid.window,
        strides=grid.stride,
        baselines=baseline,
        target=target,
        perturbations_per_eval=per_eval,
    )


def _assert_matches(ours, reference, scale=1.0):
    """Equal to 1e-5, relative to ``scale`` (the size of the model's scores).

    In float32 the same input gives scores a few ulps apart at different batch sizes,
    and captum batches differently, so float32 comparisons pass the scores' size.
    """
    assert ours.dtype == torch.float32 and ours.shape == reference.shape
    assert reference.abs().max() > 1e-3, "test signal too weak to compare"
    torch.testing.assert_close(ours, reference, atol=1e-5 * max(1.0, scale), rtol=0)


def _scale(model, inputs):
    with torch.no_grad():
        return float(model(inputs).abs().max()) if inputs.dtype == torch.float32 else 1.0


# -- same numbers as captum ----------------------------------------------------------------

CASES = [
    # model factory, input shape, window, stride, target
    (lambda: _seeded(DigitsCNN), (3, 1, 16, 16), 4, 2, None),
    (lambda: _seeded(DigitsCNN, seed=1), (2, 1, 16, 16), 3, 2, 7),
    (lambda: _seeded(DigitsCNN, seed=2), (2, 1, 16, 16), (5, 3), (4, 2), [1, 9]),
    (lambda: _seeded(ShapesCNN), (2, 3, 32, 32), (5, 7), (3, 4), torch.tensor([0, 2])),
    (lambda: _seeded(ShapesCNN, seed=3), (1, 3, 32, 32), 6, 5, None),
    (lambda: _seeded(ShapesCNN), (2, 3, 32, 32), (1, 6, 6), (1, 4, 4), None),  # per channel
    (lambda: _seeded(ShapesCNN), (2, 3, 32, 32), (2, 8, 8), (1, 8, 5), 1),  # channel pairs
    (lambda: _seeded(ShapesCNN), (1, 3, 32, 32), (32, 32), 1, None),  # one window, whole image
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("make", "shape", "window", "stride", "target"), CASES)
def test_matches_captum(make, shape, window, stride, target, dtype):
    model = make().to(dtype)
    torch.manual_seed(10)
    inputs = (torch.randn(shape) * 3).to(dtype)
    ours = occlusion(model, inputs, window, stride, target=target)
    reference = _captum(model, inputs, window, stride, target=target)
    _assert_matches(ours, reference, _scale(model, inputs))


def test_matches_captum_non_square_and_one_channel(make_bn_net):
    model = make_bn_net(channels=1, classes=4).eval()
    torch.manual_seed(1)
    inputs = torch.randn(3, 1, 19, 27) * 3
    ours = occlusion(model, inputs, (6, 5), (4, 3), target=[0, 1, 3])
    reference = _captum(model, inputs, (6, 5), (4, 3), target=[0, 1, 3])
    _assert_matches(ours, reference, _scale(model, inputs))


@pytest.mark.parametrize("per_input", [False, True])
def test_matches_captum_with_a_tensor_baseline(make_bn_net, per_input):
    model = make_bn_net().eval()
    torch.manual_seed(2)
    inputs = torch.randn(2, 3, 21, 14) * 3
    baseline = torch.randn(inputs.shape if per_input else inputs.shape[1:])
    ours = occlusion(model, inputs, 5, 3, baseline=baseline)
    _assert_matches(ours, _captum(model, inputs, 5, 3, baseline=baseline), _scale(model, inputs))


def test_number_baseline_and_dict_output():
    class DictOut(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = _seeded(ShapesCNN)

        def forward(self, x):
            return {"logits": self.net(x), "features": x}

    model = DictOut().eval()
    torch.manual_seed(3)
    inputs = torch.rand(2, 3, 32, 32)
    ours = occlusion(model, inputs, 8, 4, baseline=0.5, target=1)
    reference = _captum(model.net, inputs, 8, 4, baseline=0.5, target=1)
    _assert_matches(ours, reference, _scale(model.net, inputs))
    tuple_model = nn.Sequential(model.net, _Pair())
    torch.testing.assert_close(
        occlusion(tuple_model, inputs, 8, 4, baseline=0.5, target=1, output=0), ours
    )


class _Pair(nn.Module):
    def forward(self, x):
        return x, x.sum()


def test_user_left_train_mode(make_bn_net, fingerprint, same_fingerprint):
    """BatchNorm and Dropout in train mode: we still explain the eval-mode model."""
    torch.manual_seed(4)
    inputs = torch.randn(2, 3, 16, 20) * 3
    eval_result = occlusion(make_bn_net().eval(), inputs, 4, 2)
    model = make_bn_net().train()
    before = fingerprint(model)
    train_result = occlusion(model, inputs, 4, 2)
    same_fingerprint(before, fingerprint(model))
    assert torch.equal(train_result, eval_result)
    reference = _captum(make_bn_net().eval(), inputs, 4, 2)
    _assert_matches(train_result, reference, _scale(make_bn_net().eval(), inputs))


def test_batch_size_invariance():
    model = _seeded(ShapesCNN)
    torch.manual_seed(5)
    inputs = torch.randn(2, 3, 32, 32) * 3
    results = [occlusion(model, inputs, 8, 4, batch_size=b) for b in (1, 2, 3, 10_000)]
    results.append(occlusion(model, inputs, 8, 4))
    scale = _scale(model, inputs)
    for result in results[1:]:
        torch.testing.assert_close(result, results[0], atol=1e-5 * scale, rtol=0)


def test_return_outputs_row_major():
    model = _seeded(DigitsCNN)
    torch.manual_seed(6)
    inputs = torch.randn(2, 1, 16, 16)
    attributions, outputs = occlusion(model, inputs, 4, 3, target=2, return_outputs=True)
    grid = OcclusionGrid.create((1, 16, 16), 4, 3)
    assert outputs.shape == (2, len(grid), 10)
    with torch.no_grad():
        position = 7
        y, x = grid.origins(torch.tensor([position]))[0, 1:].tolist()
        occluded = inputs[1:].clone()
        occluded[..., y : y + 4, x : x + 4] = 0
        torch.testing.assert_close(outputs[1, position], model(occluded)[0])
        clean = model(inputs)[:, 2]
    values = clean[1] - outputs[1, :, 2]
    torch.testing.assert_close(attributions[1], grid.attribution(values))


# -- the model is borrowed, not owned ------------------------------------------------------


def _users_model(make_bn_net):
    model = make_bn_net().train()
    model.bn.eval()
    model.fc.weight.requires_grad_(False)
    model.conv.register_forward_hook(lambda module, args, out: None)
    return model


def test_model_untouched_after_success(make_bn_net, fingerprint, same_fingerprint):
    model = _users_model(make_bn_net)
    before = fingerprint(model)
    occlusion(model, torch.randn(2, 3, 12, 12), 4, 2, return_outputs=True)
    list(occlusion_outputs(model, torch.randn(3, 12, 12), OcclusionGrid.create((3, 12, 12), 4, 4)))
    same_fingerprint(before, fingerprint(model))


def test_model_untouched_after_an_exception(make_bn_net, fingerprint, same_fingerprint):
    model = _users_model(make_bn_net)
    calls = []

    def fail_on_third_call(module, args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the model broke")

    model.relu.register_forward_pre_hook(fail_on_third_call)
    before = fingerprint(model)
    with pytest.raises(ValueError, match="the model broke"):
        occlusion(model, torch.randn(1, 3, 12, 12), 4, 2, batch_size=2)
    assert len(calls) == 3
    same_fingerprint(before, fingerprint(model))


def test_model_untouched_between_chunks(make_bn_net):
    """The borrow never spans a yield: between chunks the caller sees its own model."""
    model = make_bn_net().train()
    grid = OcclusionGrid.create((3, 12, 12), 4, 2)
    for _ in occlusion_outputs(model, torch.randn(3, 12, 12), grid, batch_size=4):
        assert model.training
        assert not torch.is_inference_mode_enabled()


# -- bad inputs ----------------------------------------------------------------------------


class _NaNWhenOccluded(nn.Module):
    def forward(self, x):
        out = x.flatten(1).mean(1, keepdim=True).repeat(1, 2)
        return torch.where(x.flatten(1).amin(1, keepdim=True) < -50, float("nan"), out)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m: occlusion(m, torch.zeros(16), 4, 2), ValueError, "batch dim"),
        (
            lambda m: occlusion(m, torch.zeros(1, 1, 16, 16, dtype=torch.uint8), 4, 2),
            TypeError,
            r"uint8.*\.float\(\) / 255",
        ),
        (lambda m: occlusion(m, torch.zeros(1, 1, 16, 16).long(), 4, 2), TypeError, r"\.float\(\)"),
        (lambda m: occlusion(m, [[0.0]], 4, 2), TypeError, "torch.Tensor"),
        (
            lambda m: occlusion(m, torch.zeros(1, 3, 16, 16), 4, 2),
            ValueError,
            r"shape \(3, 16, 16\)",
        ),
        (lambda m: occlusion(m, torch.zeros(1, 1, 16, 16), 17, 2), ValueError, "larger than"),
        (lambda m: occlusion(m, torch.zeros(1, 1, 16, 16), 4, 0), ValueError, "positive"),
        (lambda m: occlusion(m, torch.zeros(1, 1, 16, 16), 4, 5), ValueError, "never occluded"),
        (lambda m: occlusion(m, torch.zeros(1, 1, 16, 16), 4.0, 2), TypeError, "int"),
        (lambda m: occlusion(m, torch.zeros(1, 1, 16, 16), (4, 4), (2, True)), TypeError, "int"),
        (
            lambda m: occlusion(m, torch.zeros(1, 1, 16, 16), (1, 1, 4, 4), 2),
            ValueError,
            "does not fit",
        ),
        (lambda m: occlusion(m, torch.zeros(1, 1, 16, 16), 4, 2, target=10), ValueError, "K=10"),
        (lambda m: occlusion(m, torch.zeros(1, 1, 16, 16), 4, 2, target=-1), ValueError, "K=10"),
        (
            lambda m: occlusion(m, torch.zeros(2, 1, 16, 16), 4, 2, target=[1]),
            ValueError,
            "2 inputs",
        ),
        (lambda m: occlusion(m, torch.zeros(1, 1, 16, 16), 4, 2, target=1.0), TypeError, "int"),
        (
            lambda m: occlusion(
                m, torch.zeros(2, 1, 16, 16), 4, 2, baseline=torch.zeros(3, 16, 16)
            ),
            ValueError,
            r"baseline has shape \(3, 16, 16\)",
        ),
        (
            lambda m: occlusion(m, torch.zeros(1, 1, 16, 16), 4, 2, batch_size=0),
            ValueError,
            "batch",
        ),
        (
            lambda m: occlusion(m, torch.zeros(1, 1, 16, 16), 4, 2, memory_budget=0),
            ValueError,
            "memory_budget",
        ),
        (
            lambda m: occlusion(nn.Sequential(m, _Pair()), torch.zeros(1, 1, 16, 16), 4, 2),
            TypeError,
            "output=0",
        ),
        (
            lambda m: occlusion(_NaNWhenOccluded(), torch.zeros(1, 1, 16, 16), 4, 2, baseline=-99),
            ValueError,
            "NaN",
        ),
        (
            lambda m: next(
                occlusion_outputs(
                    m, torch.zeros(1, 12, 16), OcclusionGrid.create((1, 16, 16), 4, 2)
                )
            ),
            ValueError,
            r"x has shape \(1, 12, 16\)",
        ),
    ],
)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call(_seeded(DigitsCNN))


def test_channel_mismatch_chains_the_models_error():
    with pytest.raises(ValueError, match=r"inputs of shape \(3, 16, 16\)") as info:
        occlusion(_seeded(DigitsCNN), torch.zeros(1, 3, 16, 16), 4, 2)
    assert isinstance(info.value.__cause__, RuntimeError)


# -- memory budget on a huge image ---------------------------------------------------------


def test_huge_image_within_the_memory_budget(make_tiny_net):
    model = make_tiny_net()
    batches = []
    model.conv.register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))
    image = torch.rand(1, 3, 4000, 4000)
    copy_bytes = image.numel() * 4
    done = []
    result = occlusion(
        model,
        image,
        1000,
        1000,
        memory_budget=2 * copy_bytes + 1,
        incremental=False,  # counts the model's own forward calls
        progress=lambda d, t: done.append((d, t)),
    )
    assert result.shape == image.shape and bool(torch.isfinite(result).all())
    assert max(batches) * copy_bytes <= 2 * copy_bytes + 1
    assert sum(batches) == 1 + 16 and done[-1] == (16, 16)  # + the unoccluded image
    batches.clear()
    grid = OcclusionGrid.create(image.shape[1:], 1000, 1000)
    list(occlusion_outputs(model, image, grid, incremental=False))
    assert batches == [1] * 16  # the default budget (256 MiB) holds one 192 MB copy


def test_budget_of_one_copy_runs_one_input_at_a_time():
    model = _seeded(ShapesCNN)
    batches = []
    model.conv1.register_forward_pre_hook(lambda module, args: batches.append(len(args[0])))
    inputs = torch.randn(2, 3, 32, 32)
    result = occlusion(model, inputs, 8, 4, memory_budget=3 * 32 * 32 * 4, incremental=False)
    assert set(batches) == {1} and len(batches) == 2 * (1 + 49)
    torch.testing.assert_close(result, occlusion(model, inputs, 8, 4), atol=1e-5, rtol=0)


def test_chunk_sizes_double_while_it_pays():
    from nnwidgets.compute.occlusion import _ChunkSizer

    sizer = _ChunkSizer(2**20, None, None)  # 1 MiB inputs: first chunk of one, 256 at most
    seen = []
    for per_input in (0.05, 0.05, 0.03, 0.02, 0.0199):  # seconds per input at 1, 2, 4, 8, 16
        seen.append(sizer.size)
        sizer.update(sizer.size, per_input * sizer.size)
    assert seen == [1, 2, 4, 8, 16] and sizer.size == 8 and sizer.settled
    capped = _ChunkSizer(2**20, None, 3 * 2**20)
    capped.update(1, 0.001)
    capped.update(2, 0.002)
    assert capped.size == 2 and capped.limit == 3
    fixed = _ChunkSizer(2**20, 5, None)
    fixed.update(5, 0.001)
    assert fixed.size == 5


# -- progress and stopping -----------------------------------------------------------------


def test_progress_is_monotonic_to_the_total():
    model = _seeded(ShapesCNN)
    seen = []
    occlusion(
        model,
        torch.randn(2, 3, 32, 32),
        8,
        4,
        batch_size=7,
        progress=lambda d, t: seen.append((d, t)),
    )
    total = 2 * OcclusionGrid.create((3, 32, 32), 8, 4).__len__()
    assert all(t == total for _, t in seen)
    counts = [d for d, _ in seen]
    assert counts == sorted(counts) and counts[-1] == total and len(set(counts)) == len(counts)


def test_should_stop_ends_the_sweep_early():
    model = _seeded(ShapesCNN)
    grid = OcclusionGrid.create((3, 32, 32), 8, 4)
    chunks = []
    x = torch.randn(3, 32, 32)
    for indices, scores in occlusion_outputs(
        model, x, grid, batch_size=5, should_stop=lambda: len(chunks) >= 2
    ):
        chunks.append((indices, scores))
    assert [len(i) for i, _ in chunks] == [5, 5]
    assert torch.equal(torch.cat([i for i, _ in chunks]), grid.progressive_order()[:10])
    assert chunks[0][1].dtype == torch.float32 and chunks[0][1].shape == (5, 3)
    stopped = occlusion(
        model, x[None], 8, 4, batch_size=grid.coarse_count, should_stop=lambda: True
    )
    assert torch.equal(stopped, torch.zeros_like(stopped))
    calls = []
    partial = occlusion(
        model,
        x[None].repeat(2, 1, 1, 1),
        8,
        4,
        batch_size=grid.coarse_count,
        should_stop=lambda: calls.append(1) or len(calls) > 1,
    )
    assert bool(partial[0].abs().sum() > 0) and bool(torch.isfinite(partial).all())
    assert torch.equal(partial[1], torch.zeros_like(partial[1]))


def test_order_subset():
    model = _seeded(ShapesCNN)
    grid = OcclusionGrid.create((3, 32, 32), 8, 4)
    order = torch.tensor([4, 0, 9])
    ((indices, scores),) = list(occlusion_outputs(model, torch.randn(3, 32, 32), grid, order=order))
    assert torch.equal(indices, order) and scores.shape == (3, 3)
    with pytest.raises(ValueError, match="outside"):
        occlusion_outputs(model, torch.randn(3, 32, 32), grid, order=torch.tensor([len(grid)]))
