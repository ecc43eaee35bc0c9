"""Incremental occlusion equals full recomputation (and Captum) on every supported layer kind."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from captum.attr import Occlusion
from torch import nn

from nnwidgets.compute import OcclusionGrid, borrowed_model, occlusion, occlusion_outputs
from nnwidgets.compute._incremental import runner_for


def seeded(module: nn.Module, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    for parameter in module.parameters():
        nn.init.normal_(parameter, std=0.3)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return module.eval()


class Residual(nn.Module):
    def __init__(self, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.down = nn.Conv2d(channels, channels, 1, stride) if stride > 1 else nn.Identity()

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        y += self.down(x)
        return torch.relu(y)


class Branches(nn.Module):
    """Concatenation along channels of two branches with different receptive fields."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 5, padding=2, dilation=1)
        self.head = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2)

    def forward(self, x):
        return self.head(torch.cat([self.a(x), F.gelu(self.b(x))], dim=1)).mean((2, 3))


class Transpose(nn.Module):
    """Swaps rows and columns mid-network: an op the engine does not know."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 9 * 11, 5)

    def forward(self, x):
        return self.fc(self.conv2(self.conv1(x).transpose(2, 3)).flatten(1))


class Attention(nn.Module):
    """A tiny self-attention over positions: every position sees every other."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.after = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        n, c, h, w = y.shape
        seq = y.flatten(2).transpose(1, 2)
        seq = self.attn(seq, seq, seq, need_weights=False)[0]
        y = seq.transpose(1, 2).reshape(n, c, h, w)
        return self.after(y).amax((2, 3))


class SqueezeExcite(nn.Module):
    """Channel scales computed from the whole map: a change anywhere changes every position."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.squeeze = nn.Conv2d(8, 8, 1)
        self.after = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x):
        y = F.relu(self.conv(x))
        scale = torch.sigmoid(self.squeeze(F.adaptive_avg_pool2d(y, 1)))
        return self.after(y * scale).amax((2, 3))


class InputOps(nn.Module):
    """Normalizes inside, then reuses the raw input beside a convolution and pools it first."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.1, -0.2, 0.3]).view(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.LazyLinear(3)

    def forward(self, x):
        y = torch.cat([self.conv((x - self.mean) * 2.0), x], 1)
        return self.head((self.pool(y) + self.pool(x).mean(1, keepdim=True)).flatten(1))


class InPlace(nn.Module):
    """Writes into its input in place; ``reread`` reads the written input again afterwards."""

    def __init__(self, reread: bool) -> None:
        super().__init__()
        self.reread = reread
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        if self.reread:
            x.add_(1.0)
            return self.conv(x).mean((2, 3))
        return self.conv(x.mul_(2.0)).mean((2, 3))


class PaddedSame(nn.Conv2d):
    """A Conv2d with a forward of its own (as timm's Conv2dSame): pads one side first."""

    def forward(self, x):
        return super().forward(F.pad(x, (0, 1, 0, 1)))


class Scaled(nn.Module):
    """Reads plain attributes in its forward: torch.fx bakes them into the trace."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.factor = 1.0
        self.shift = torch.zeros(())

    def forward(self, x):
        return (self.conv(x) * self.factor + self.shift).mean((2, 3))


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        if y.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            y = y * 2
        return y.mean((2, 3))


MODELS = {
    "conv-stride-padding": lambda: nn.Sequential(
        nn.Conv2d(3, 6, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 5, padding=2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    ),
    "dilation-groups-bias-free": lambda: nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=2, dilation=2, groups=3, bias=False), nn.LeakyReLU(),
        nn.Conv2d(6, 6, 3, padding=1, groups=2), nn.Flatten(), nn.LazyLinear(4),
    ),
    "padding-modes": lambda: nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), nn.Tanh(),
        nn.Conv2d(4, 4, 3, padding=1, padding_mode="replicate"), nn.SiLU(),
        nn.Conv2d(4, 4, 3, padding=2, padding_mode="circular"), nn.Flatten(), nn.LazyLinear(3),
    ),
    "batchnorm-pooling": lambda: nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, padding=1), nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AvgPool2d(2, padding=1), nn.Flatten(), nn.LazyLinear(5),
    ),
    "residual": lambda: nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), Residual(8), Residual(8, stride=2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    ),
    "concatenation": Branches,
    "squeeze-excitation": SqueezeExcite,
    "wide-first-layer": lambda: nn.Sequential(  # oneDNN rather than a matrix product
        nn.Conv2d(3, 40, 3, padding=1), nn.ReLU(), nn.Conv2d(40, 8, 3, padding=1, bias=False),
        nn.MaxPool2d(2), nn.Flatten(), nn.LazyLinear(3),
    ),
    "input-ops": InputOps,
    "conv-subclass": lambda: nn.Sequential(
        PaddedSame(3, 4, 2), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.Flatten(),
        nn.LazyLinear(3),
    ),
    "transpose": Transpose,
    "attention": Attention,
}  # fmt: skip


def materialize(model: nn.Module, shape) -> nn.Module:
    with torch.no_grad():
        model(torch.zeros(1, *shape))  # lazy layers get their shapes
    return seeded(model)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(
    ("shape", "window", "stride"),
    [((3, 11, 9), (3, 3), (2, 2)), ((3, 13, 11), (3, 5), (2, 3)), ((3, 16, 16), (4, 4), (4, 4))],
)
def test_equal_to_full_recomputation(name, shape, window, stride):
    if name == "transpose" and shape[1:] != (11, 9):
        pytest.skip("the transpose model is built for 11 x 9 inputs")
    model = materialize(MODELS[name](), shape)
    torch.manual_seed(1)
    x = torch.randn(shape)
    grid = OcclusionGrid.create(shape, window, stride)
    assert engine_applies(model, x, grid, 0.3)
    torch.testing.assert_close(
        scores(model, x, grid, 0.3, True), scores(model, x, grid, 0.3, False), atol=1e-5, rtol=1e-5
    )


def engine_applies(model, x, grid, baseline) -> bool:
    """Whether the incremental engine runs ``model`` (else a run with incremental=True falls back
    to full runs, and comparing it with full runs would hold by construction)."""
    with borrowed_model(model), torch.inference_mode():
        return runner_for(model, x, grid, baseline) is not None


def scores(model, x, grid, baseline, incremental: bool) -> torch.Tensor:
    """Scores at every position, in order, in chunks of 7 (True: the engine runs even here)."""
    chunks = occlusion_outputs(
        model, x, grid, baseline=baseline, batch_size=7, incremental=incremental
    )
    rows = {}
    for indices, chunk in chunks:
        rows.update(zip(indices.tolist(), chunk, strict=True))
    return torch.stack([rows[i] for i in range(len(grid))])


@pytest.mark.parametrize("name", ["input-ops", "residual", "batchnorm-pooling"])
@pytest.mark.parametrize("kind", ["number", "tensor"])
def test_baselines_windows_over_some_channels_and_cut_at_the_edge(name, kind):
    shape = (3, 12, 10)
    model = materialize(MODELS[name](), shape)
    torch.manual_seed(2)
    x = torch.randn(shape)
    baseline = 0.7 if kind == "number" else torch.randn(shape)
    # channels 0-1, then 1-2; the last row of windows starts at row 10 and is cut at row 12
    grid = OcclusionGrid.create(shape, (2, 3, 4), (1, 2, 3))
    assert engine_applies(model, x, grid, baseline)
    torch.testing.assert_close(
        scores(model, x, grid, baseline, True),
        scores(model, x, grid, baseline, False),
        atol=1e-5,
        rtol=1e-5,
    )


def test_equal_to_captum_on_a_residual_network():
    shape = (3, 15, 15)
    model = materialize(MODELS["residual"](), shape)
    x = torch.randn(2, *shape)
    ours = occlusion(model, x, window=4, stride=3, target=1, incremental=True)
    theirs = Occlusion(model).attribute(
        x, sliding_window_shapes=(3, 4, 4), strides=(3, 3, 3), target=1
    )
    torch.testing.assert_close(ours, theirs.float(), atol=1e-5, rtol=1e-5)


def test_only_changed_regions_are_computed():
    shape = (3, 32, 32)
    model = materialize(MODELS["batchnorm-pooling"](), shape)
    x = torch.randn(shape)
    grid = OcclusionGrid.create(shape, 4, 4)
    with torch.inference_mode():
        run = runner_for(model, x, grid)
        run(torch.arange(len(grid)))
    assert 0.05 < run.counter.fraction < 0.5
    assert run.counter.fraction == pytest.approx(run.plan.fraction)


def test_untraceable_model_falls_back_with_one_warning_and_stays_exact():
    shape = (3, 12, 12)
    model = seeded(Untraceable())
    x = torch.randn(1, *shape)
    with pytest.warns(RuntimeWarning, match="cannot be traced"):
        ours = occlusion(model, x, 3, 3, incremental=True)
    theirs = occlusion(model, x, 3, 3, incremental=False)
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("reread", [True, False])
def test_in_place_writes_into_the_input_stay_exact_and_leave_it_as_it_was(reread):
    shape = (3, 10, 9)
    model = seeded(InPlace(reread))
    x = torch.randn(shape)
    before = x.clone()
    grid = OcclusionGrid.create(shape, 3, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = scores(model, x, grid, 0.3, True)
    # a write into a value read again is beyond the engine: the model runs in full, said once
    assert [str(w.message).count("reads again") for w in caught] == ([1] if reread else [])
    assert engine_applies(model, x, grid, 0.3) is not reread
    assert torch.equal(x, before)
    torch.testing.assert_close(ours, scores(model, x, grid, 0.3, False), atol=1e-5, rtol=1e-5)


def test_changed_attributes_and_geometry_are_followed():
    shape = (3, 8, 8)
    model = seeded(Scaled())
    x = torch.randn(shape)
    grid = OcclusionGrid.create(shape, 3, 2)

    def check() -> torch.Tensor:
        ours = scores(model, x, grid, 0.3, True)
        torch.testing.assert_close(ours, scores(model, x, grid, 0.3, False), atol=1e-5, rtol=1e-5)
        return ours

    first = check()
    model.factor = 3.0  # a number the forward reads
    model.shift = torch.tensor(10.0)  # a plain tensor, not a buffer
    assert not torch.allclose(check(), first)
    model.conv.padding = (0, 0)  # geometry changed in place
    model.conv.forward = lambda y: nn.functional.conv2d(y, model.conv.weight) * -1.0
    check()


def test_float64_inputs_keep_a_numeric_baseline_exact():
    shape = (3, 9, 9)
    model = materialize(MODELS["conv-stride-padding"](), shape).double()
    x = torch.randn(shape, dtype=torch.float64)
    grid = OcclusionGrid.create(shape, 3, 3)
    baseline = 2.0**24 + 1  # not a float32 number
    assert float(grid.occlude(x, torch.arange(1), baseline)[0, 0, 0, 0]) == baseline
    torch.testing.assert_close(
        scores(model, x, grid, baseline, True), scores(model, x, grid, baseline, False)
    )


def test_approximate_mode_computes_less_and_is_opt_in():
    shape = (3, 32, 32)
    model = materialize(MODELS["residual"](), shape)
    x = torch.randn(shape)
    grid = OcclusionGrid.create(shape, 4, 4)
    index = torch.arange(len(grid))
    with torch.inference_mode():
        batch = grid.occlude(x, index, 0.0)
        exact, rough = runner_for(model, x, grid), runner_for(model, x, grid, limit=0.25)
        full, close = exact(index), rough(index)
        truth = model(batch)
    torch.testing.assert_close(full, truth, atol=1e-5, rtol=1e-5)
    assert rough.counter.computed < exact.counter.computed
    assert float((close - truth).abs().max()) < float(truth.abs().max())
    approximate = occlusion(model, x[None], 4, 4, incremental=True, approximate=0.25)
    assert approximate.shape == (1, *shape) and bool(torch.isfinite(approximate).all())
    with pytest.raises(ValueError, match="approximate"):
        occlusion(model, x[None], 4, 4, approximate=0.0)
    with pytest.raises(ValueError, match="incremental=True"):
        occlusion(model, x[None], 4, 4, incremental=False, approximate=0.5)


def test_model_untouched(fingerprint, same_fingerprint):
    shape = (3, 16, 16)
    model = materialize(MODELS["residual"](), shape).train()
    before = fingerprint(model)
    occlusion(model, torch.randn(1, *shape), 4, 2, incremental=True)
    same_fingerprint(before, fingerprint(model))


def test_repeated_sweeps_follow_the_model(fingerprint, same_fingerprint):
    """Plans are kept per model and grid, but follow new weights and replaced layers."""
    shape = (3, 16, 16)
    model = materialize(MODELS["batchnorm-pooling"](), shape)
    x = torch.randn(1, *shape)

    def both() -> tuple[torch.Tensor, torch.Tensor]:
        return (
            occlusion(model, x, 4, 2, incremental=True),
            occlusion(model, x, 4, 2, incremental=False),
        )

    first, _ = both()
    torch.testing.assert_close(occlusion(model, x, 4, 2, incremental=True), first)
    with torch.no_grad():
        model[0].weight.mul_(-1.5)  # new weights, same modules
    ours, theirs = both()
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(ours, first)
    model[4] = seeded(nn.Conv2d(8, 8, 5, padding=1), seed=3)  # a replaced layer
    before = fingerprint(model)
    ours, theirs = both()
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    same_fingerprint(before, fingerprint(model))


def test_chunks_in_any_order_and_size_agree():
    shape = (3, 13, 11)
    model = materialize(MODELS["residual"](), shape)
    x = torch.randn(shape)
    grid = OcclusionGrid.create(shape, 3, 2)
    order = torch.randperm(len(grid), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        run = runner_for(model, x, grid, baseline=0.5)
        whole = run(torch.arange(len(grid)))
        for size in (1, 5, len(grid)):
            for _ in range(2):  # the second time from kept index tensors
                parts = torch.cat([run(order[i : i + size]) for i in range(0, len(grid), size)])
                torch.testing.assert_close(parts, whole[order], atol=1e-5, rtol=1e-5)
        truth = model(grid.occlude(x, torch.arange(len(grid)), 0.5))
    torch.testing.assert_close(whole, truth, atol=1e-5, rtol=1e-5)


def test_plans_and_index_tables_are_bounded_in_bytes(monkeypatch):
    """The plans kept per model, index tables included, stay within their byte budgets."""
    from nnwidgets.compute._incremental import plan as plan_module
    from nnwidgets.compute._incremental import trace as trace_module

    monkeypatch.setattr(trace_module, "_PLAN_BYTES", 2**20)
    monkeypatch.setattr(plan_module, "_CHUNK_BYTES", 2**18)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3)).eval()
    x = torch.randn(3, 16, 16)
    with torch.inference_mode():
        for window in range(1, 7):
            grid = OcclusionGrid.create(x.shape, window, 1)
            runner = runner_for(model, x, grid)
            for start in range(0, len(grid), 16):
                runner(torch.arange(start, min(start + 16, len(grid))))
            assert runner.plan.chunks.nbytes <= 2**18
    plans = trace_module.cached_trace(model).plans
    assert 0 < plans.nbytes <= 2**20 and len(plans) < 6
