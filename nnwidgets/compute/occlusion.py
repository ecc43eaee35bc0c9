"""Occlusion sensitivity: slide a window of baseline values over an input, watch the scores."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from nnwidgets.compute._grid import OcclusionGrid, Size
from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._incremental import IncrementalRunner, runner_for
from nnwidgets.compute._inputs import (
    check_bool,
    check_image,
    check_inputs,
    check_int,
    check_model,
    check_number,
    check_tensor,
    conv_channels,
)
from nnwidgets.compute._outputs import OutputSelector, check_selector, run_model, select_output
from nnwidgets.compute._progress import Progress, ShouldStop

__all__ = ["DEFAULT_MEMORY_BUDGET", "OcclusionGrid", "occlusion", "occlusion_outputs"]

#: Default bound, in bytes, on the occluded copies of the input held at once.
DEFAULT_MEMORY_BUDGET = 256 * 2**20
# Without an explicit batch size, chunks start at about this many bytes of copies and
# double while they are quick or while doubling makes each input faster (see
# _ChunkSizer): progress arrives several times a second, at the model's best speed.
_FIRST_CHUNK_BYTES = 2**20
_MIN_CHUNK_SECONDS = 0.2
_MAX_CHUNK_SECONDS = 1.0

Baseline = float | torch.Tensor
Target = int | Sequence[int] | torch.Tensor | None


def _one_baseline(baseline: object, shape: tuple[int, ...], dtype: torch.dtype) -> Baseline:
    """Check a baseline: a finite number that fits the input's dtype, or a tensor like one input."""
    if isinstance(baseline, torch.Tensor) and baseline.ndim == 0:
        baseline = float(baseline)
    if not isinstance(baseline, torch.Tensor):
        if isinstance(baseline, bool) or not isinstance(baseline, (int, float)):
            raise TypeError(
                f"baseline must be a number or a tensor, got {baseline!r} "
                f"({type(baseline).__name__})"
            )
        limit = float(torch.finfo(dtype).max)
        return check_number(baseline, "baseline", low=-limit, high=limit)
    check_tensor(baseline, "baseline")
    if tuple(baseline.shape) == (1, *shape):
        baseline = baseline[0]
    if tuple(baseline.shape) != shape:
        raise ValueError(
            f"baseline has shape {tuple(baseline.shape)}; it must be a number or shaped "
            f"like one input {shape}"
        )
    return baseline


class _ChunkSizer:
    """Batch sizes for a sweep: fixed, or found by doubling, within the memory budget.

    From a small first chunk the size doubles while chunks take under
    _MIN_CHUNK_SECONDS, then keeps doubling only while that makes each input faster
    (and a chunk stays under _MAX_CHUNK_SECONDS); then it settles.
    """

    def __init__(self, example_bytes: int, batch_size: int | None, budget: int | None) -> None:
        budget = DEFAULT_MEMORY_BUDGET if budget is None else check_int(budget, "memory_budget")
        self.limit = max(1, budget // max(1, example_bytes))
        self.settled = batch_size is not None
        self.per_input: dict[int, float] = {}
        if batch_size is not None:
            self.size = check_int(batch_size, "batch_size")
            self.limit = self.size + 1  # room for the unoccluded input in a first chunk
        else:
            self.size = min(self.limit, max(1, _FIRST_CHUNK_BYTES // max(1, example_bytes)))

    def update(self, n: int, seconds: float) -> None:
        if n < self.size or n == 0:  # a last, short chunk says little
            return
        if self.settled:
            if seconds > 4 * _MAX_CHUNK_SECONDS and self.per_input:  # the machine got slower
                self.size = max(1, self.size // 2)
            return
        per_input = self.per_input[self.size] = seconds / n
        before = self.per_input.get(self.size // 2)
        if seconds >= _MIN_CHUNK_SECONDS and before is not None and per_input > 0.95 * before:
            self.size //= 2  # doubling did not pay
            self.settled = True
        elif seconds < _MAX_CHUNK_SECONDS and 2 * self.size <= self.limit:
            self.size *= 2
        else:
            self.settled = True


def occlusion_outputs(
    model: nn.Module,
    x: torch.Tensor,
    grid: OcclusionGrid,
    baseline: Baseline = 0.0,
    *,
    order: torch.Tensor | None = None,
    batch_size: int | None = None,
    memory_budget: int | None = None,
    output: OutputSelector = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    incremental: bool | None = None,
    approximate: float | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Run the model on occluded copies of one input, chunk by chunk.

    The model runs in eval mode under :func:`torch.inference_mode` on its own
    device and is handed back untouched between chunks (see :func:`borrowed_model`).
    Arguments are checked at the call; the sweep runs as the iterator is consumed.

    Parameters
    ----------
    model : torch.nn.Module
        The user's model.
    x : torch.Tensor
        One input, shaped ``grid.input_shape`` or ``(1, *grid.input_shape)``.
    grid : OcclusionGrid
        Where the window goes.
    baseline : float or torch.Tensor, default 0.0
        Fill value of the window: a number or a tensor shaped like one input.
    order : torch.LongTensor, optional
        Position indices to sweep, in order; default ``grid.progressive_order()``.
    batch_size : int, optional
        Occluded copies per forward pass. By default chunks start small and double
        while that makes each copy faster (chunks of about 0.2-1 s), within
        ``memory_budget``.
    memory_budget : int, optional
        Most bytes of occluded copies held at once (default
        :data:`DEFAULT_MEMORY_BUDGET`, 256 MiB); at least one copy is always made.
        It does not count the model's own activations.
    output : int, str, callable or None
        Output selector, see :func:`select_output`.
    progress : callable, optional
        Called as ``progress(done, total)`` after each chunk.
    should_stop : callable, optional
        Called before each chunk; when it returns True the iterator ends.
    incremental : bool, optional
        For images (C, H, W): run the model incrementally, recomputing each convolution and
        pooling layer only where the window's change reaches it (exact; the model is traced
        with torch.fx once, and one that cannot be traced runs in full, with a warning). None
        (the default) does so where it pays: where it computes at most 60% of the
        convolutions' multiply-adds. True always, False never (every occluded copy runs
        through the model's own forward, e.g. when it has side effects or hooks).
    approximate : float, optional
        Opt-in approximation of the incremental run: recompute at most this share (0-1] of
        each layer's side around the window and drop changes farther away. None is exact.

    Yields
    ------
    indices : torch.LongTensor
        Position indices of the chunk, shape (n,).
    scores : torch.Tensor
        The model's raw scores on the occluded copies, float32 on the CPU, (n, K).

    Raises
    ------
    ValueError
        If ``x`` or ``baseline`` does not fit the grid, or the scores contain NaN.
    """
    model = check_model(model)
    if not isinstance(grid, OcclusionGrid):
        raise TypeError(
            f"grid must be an OcclusionGrid, e.g. OcclusionGrid.create(x.shape, window, stride), "
            f"got {type(grid).__name__}"
        )
    shape = grid.input_shape
    if isinstance(x, torch.Tensor) and x.ndim == len(shape) + 1 and len(x) == 1:
        x = x[0]
    if len(shape) == 3:
        x = check_image(x, "x", channels=conv_channels(model))
    else:
        x = check_tensor(x, "x")
    if tuple(x.shape) == (1, *shape):
        x = x[0]
    if tuple(x.shape) != shape:
        raise ValueError(
            f"x has shape {tuple(x.shape)}; the grid is for inputs of shape {shape} "
            f"(or {(1, *shape)})"
        )
    base = _one_baseline(baseline, shape, x.dtype)
    if order is None:
        order = grid.progressive_order()
    else:
        order = torch.as_tensor(order)
        if order.dtype != torch.long or order.ndim != 1:
            raise TypeError("order must be a 1-D int64 (long) tensor of position indices")
        if len(order) and (int(order.min()) < 0 or int(order.max()) >= len(grid)):
            raise ValueError(f"order holds position indices outside [0, {len(grid)})")
        order = order.cpu()
    sizer = _ChunkSizer(x.numel() * x.element_size(), batch_size, memory_budget)
    method = _Method(incremental, approximate)
    check_selector(output)
    sweep = _sweep(model, x, grid, base, order, sizer, output, progress, should_stop, method)
    return ((indices, scores) for indices, scores, _ in sweep)


#: By default the incremental engine runs where it computes at most this share of the
#: convolutions' multiply-adds (elsewhere the cones cover most of the maps).
WORTHWHILE = 0.6


@dataclass
class _Method:
    """How occluded copies are run: in full, or incrementally (exact or approximate)."""

    incremental: bool | None
    approximate: float | None

    def __post_init__(self) -> None:
        if self.incremental is not None:
            check_bool(self.incremental, "incremental")
        if self.approximate is not None:
            if self.incremental is False:
                raise ValueError("approximate needs incremental=True")
            check_number(self.approximate, "approximate", low=0, high=1, low_open=True)

    def runner(
        self, model: nn.Module, x: torch.Tensor, grid: OcclusionGrid, baseline: Baseline
    ) -> IncrementalRunner | None:
        """Build the incremental runner for one input; None to run the model in full.

        Call it with the model borrowed, under inference mode.
        """
        if self.incremental is False or x.ndim != 3:
            return None
        try:
            runner = runner_for(model, x, grid, baseline, self.approximate)
        except RuntimeError:  # the model fails on x: the full run reports it clearly
            return None
        if runner is not None and self.incremental is None and runner.plan.fraction > WORTHWHILE:
            return None  # the cones cover most of the maps: full runs are as quick
        return runner


def _run_at(runner: IncrementalRunner, indices: torch.Tensor, _: torch.Tensor) -> object:
    return runner(indices)


def _sweep(
    model: nn.Module,
    x: torch.Tensor,
    grid: OcclusionGrid,
    baseline: Baseline,
    order: torch.Tensor,
    sizer: _ChunkSizer,
    output: OutputSelector,
    progress: Progress | None,
    should_stop: ShouldStop | None,
    method: _Method,
    with_clean: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    """Yield (indices, scores, clean scores or None); with_clean adds ``x`` to the first chunk."""
    device = model_device(model) or x.device
    x = x.to(device)
    if isinstance(baseline, torch.Tensor):
        baseline = baseline.to(device=device, dtype=x.dtype)
    runner: IncrementalRunner | bool | None = method.incremental is not False  # True: to build
    buffer: torch.Tensor | None = None
    total, done = len(order), 0
    while done < total or with_clean:
        if should_stop is not None and should_stop():
            return
        clean_rows = int(with_clean)
        start = time.perf_counter()
        # Borrow per chunk, never across a yield: between chunks the model is the
        # user's again, and inference mode does not leak into the caller's code.
        with borrowed_model(model), torch.inference_mode():
            if runner is True:
                runner = method.runner(model, x, grid, baseline)
                if runner is not None and not sizer.settled:  # copies cost less: start bigger
                    sizer.size = max(sizer.size, grid.coarse_count)
            incremental = isinstance(runner, IncrementalRunner)
            # The incremental runner knows the clean output already: it needs no copy for it,
            # so even a budget of one copy leaves room for one occluded copy per chunk.
            n = min(sizer.size, total - done, sizer.limit - (0 if incremental else clean_rows))
            indices = order[done : done + n]
            if incremental:
                copies = x.expand(n, *x.shape)  # stands for the occluded copies in errors
                scores = run_model(functools.partial(_run_at, runner, indices), copies, output)
                if clean_rows:
                    scores = torch.cat([select_output(runner.output, output), scores])
            else:
                if buffer is None or len(buffer) < clean_rows + n:
                    shape = (clean_rows + n, *grid.input_shape)
                    buffer = torch.empty(shape, dtype=x.dtype, device=device)
                grid.occlude(x, indices, baseline, out=buffer[clean_rows:])
                if clean_rows:
                    buffer[0] = x
                scores = run_model(model, buffer[: clean_rows + n], output)
        scores = scores.to("cpu", torch.float32, copy=True)  # a normal tensor, not an inference one
        clean = scores[0] if with_clean else None
        scores, with_clean = scores[clean_rows:], False
        sizer.update(clean_rows + n, time.perf_counter() - start)
        done += n
        if progress is not None and n:
            progress(done, total)
        yield indices, scores, clean


def _check_target(target: Target, n: int) -> list[int] | None:
    """One target per input (None: each input's predicted class)."""
    if target is None:
        return None
    if isinstance(target, torch.Tensor) and target.ndim == 0:
        target = target.item()
    if isinstance(target, (bool, float)):
        raise TypeError(f"target must be an int or one int per input, got {target!r}")
    if isinstance(target, int):
        return [target] * n
    if isinstance(target, torch.Tensor):
        if target.is_floating_point() or target.dtype == torch.bool or target.ndim != 1:
            raise TypeError("a target tensor must be 1-D with one int per input")
        targets = [int(t) for t in target.tolist()]
    else:
        targets = list(target)
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in targets):
            raise TypeError(f"target must be an int or one int per input, got {target!r}")
    if len(targets) != n:
        raise ValueError(f"got {len(targets)} targets for {n} inputs; give one per input")
    return targets


def _resolve_target(targets: list[int] | None, i: int, clean: torch.Tensor) -> int:
    k = len(clean)
    if targets is None:
        return int(clean.argmax())
    if not 0 <= targets[i] < k:
        raise ValueError(
            f"target {targets[i]} is out of range: the model gives K={k} scores per input, "
            f"so targets must lie in 0..{k - 1}"
        )
    return targets[i]


def occlusion(
    model: nn.Module,
    inputs: torch.Tensor,
    window: Size,
    stride: Size,
    baseline: Baseline = 0.0,
    target: Target = None,
    *,
    batch_size: int | None = None,
    memory_budget: int | None = None,
    output: OutputSelector = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    return_outputs: bool = False,
    incremental: bool | None = None,
    approximate: float | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Occlusion attribution: how much each input element's window lowers the target score.

    Gives the same numbers as ``captum.attr.Occlusion(model).attribute(inputs,
    sliding_window_shapes=..., strides=..., baselines=baseline, target=target)``
    for the equivalent full window and stride, with the model in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
        The user's model; handed back untouched (see :func:`borrowed_model`).
    inputs : torch.Tensor
        A batch of float inputs, batch dim first: (N, C, H, W) for images. For one
        image pass ``x[None]``.
    window : int or tuple of int
        Window size: an int or ``(h, w)`` (all channels occluded together), or one
        int per dim of an input, as captum's ``sliding_window_shapes``.
    stride : int or tuple of int
        Step of the window, in the same forms (an int applies to every dim).
    baseline : float or torch.Tensor, default 0.0
        Fill value: a number, or a tensor shaped like one input or like ``inputs``.
    target : int, sequence of int or torch.Tensor, optional
        Score to explain: one index for all inputs, or one per input. Default: each
        input's predicted class (argmax of its clean scores).
    batch_size, memory_budget, output, progress, should_stop
        As in :func:`occlusion_outputs`; ``progress(done, total)`` counts positions
        over all inputs. If stopped early, positions not swept take the score of
        the nearest swept one, and inputs not reached get zeros.
    return_outputs : bool, default False
        Also return the raw scores at every position.
    incremental, approximate
        As in :func:`occlusion_outputs`: exact incremental inference for images (default),
        and its opt-in approximation.

    Returns
    -------
    attributions : torch.Tensor
        float32, shaped like ``inputs``, on its device.
    outputs : torch.Tensor
        Only with ``return_outputs``: raw scores (N, n_positions, K), positions in
        row-major order over ``OcclusionGrid.counts``.
    """
    model = check_model(model)
    inputs = check_inputs(inputs, "inputs", channels=conv_channels(model))
    n_inputs, shape = inputs.shape[0], tuple(inputs.shape[1:])
    grid = OcclusionGrid.create(shape, window, stride)
    if isinstance(baseline, torch.Tensor) and tuple(baseline.shape) == tuple(inputs.shape):
        baselines = [_one_baseline(b, shape, inputs.dtype) for b in baseline]
    else:
        baselines = [_one_baseline(baseline, shape, inputs.dtype)] * n_inputs
    targets = _check_target(target, n_inputs)
    check_bool(return_outputs, "return_outputs")
    check_selector(output)
    example_bytes = inputs[0].numel() * inputs.element_size()
    positions = len(grid)
    sizer = _ChunkSizer(example_bytes, batch_size, memory_budget)  # learns across inputs
    method = _Method(incremental, approximate)
    order = torch.arange(positions) if sizer.size > positions else grid.progressive_order()
    attributions = torch.zeros((n_inputs, *shape), dtype=torch.float32)
    outputs: torch.Tensor | None = None
    for i in range(n_inputs):
        values = torch.zeros(positions)
        swept: list[torch.Tensor] = []  # indices of the chunks swept
        report = None
        if progress is not None:
            report = _offset_progress(progress, i * positions, n_inputs * positions)
        sweep = _sweep(
            model,
            inputs[i],
            grid,
            baselines[i],
            order,
            sizer,
            output,
            report,
            should_stop,
            method,
            True,
        )
        for indices, scores, clean in sweep:
            if clean is not None:  # the first chunk also ran the unoccluded input
                reference, t = clean, _resolve_target(targets, i, clean)
                if return_outputs and outputs is None:
                    outputs = torch.zeros((n_inputs, positions, len(clean)))
            values[indices] = reference[t] - scores[:, t]
            swept.append(indices)
            if outputs is not None:
                outputs[i, indices] = scores
        if sum(map(len, swept)) == positions:  # the order visits each position once
            attributions[i] = grid.attribution(values)
            continue
        done = torch.zeros(positions, dtype=torch.bool)
        if swept:
            done[torch.cat(swept)] = True
        attributions[i] = grid.attribution(values, done)
        break
    attributions = attributions.to(inputs.device)
    if not return_outputs:
        return attributions
    if outputs is None:  # stopped before the first chunk
        outputs = torch.zeros((n_inputs, positions, 0))
    return attributions, outputs.to(inputs.device)


def _offset_progress(progress: Progress, offset: int, total: int) -> Progress:
    def report(done: int, _: int) -> None:
        progress(offset + done, total)

    return report
