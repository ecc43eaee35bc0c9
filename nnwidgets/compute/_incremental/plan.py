"""Compiled plans of the incremental engine, and the runner that sweeps with one.

A :class:`Plan` is made once per traced model, input shape, occlusion grid and mode: for every
sweep position, the rectangle of each activation that can differ from the clean image's, and
the :class:`~nnwidgets.compute._incremental.steps.Step` that computes each input-dependent
node. An :class:`IncrementalRunner` runs a plan on chunks of occluded copies of one clean
input; :func:`runner_for` builds one, reusing the model's cached trace and plans.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from nnwidgets.compute._cache import ByteCache
from nnwidgets.compute._grid import OcclusionGrid
from nnwidgets.compute._incremental.geometry import (
    Chunk,
    Gather,
    Layout,
    centre,
    pair,
    reach,
    rectangle,
    runs_as,
    spatial_geometry,
    window_boxes,
)
from nnwidgets.compute._incremental.steps import Pointwise, Run, Spatial, Step
from nnwidgets.compute._incremental.trace import cached_trace

__all__ = ["Counter", "IncrementalRunner", "Plan", "runner_for"]

#: Every node's value on the clean input.
Values = dict[fx.Node, Any]

_ELEMENTWISE_MODULES = (
    nn.BatchNorm2d,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Mish,
    nn.Dropout,
    nn.Dropout2d,
    nn.Identity,
)
_ELEMENTWISE_FUNCTIONS = {
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.iadd,
    operator.imul,
    torch.add,
    torch.sub,
    torch.mul,
    torch.relu,
    torch.sigmoid,
    torch.tanh,
    F.relu,
    F.relu6,
    F.leaky_relu,
    F.gelu,
    F.silu,
    F.hardswish,
    F.sigmoid,
    F.elu,
    F.dropout,
}
_ELEMENTWISE_METHODS = {
    "relu",
    "relu_",
    "sigmoid",
    "tanh",
    "add",
    "add_",
    "mul",
    "mul_",
    "contiguous",
}

#: A convolution or pooling whose changed rectangle covers more than this share of its map
#: runs on the whole map.
_MOST = 0.75
#: Convolutions with at most this many inputs per output run as a matrix product on gathered
#: cells (see :class:`Spatial`).
_IM2COL = 256
#: Bytes of index tensors kept per plan, per chunk of sweep positions (for sweeps that repeat).
_CHUNK_BYTES = 64 * 2**20
#: Index tensors are kept only for chunks needing at most this many entries (8 MB).
_KEPT_CELLS = 2**20


@dataclass
class Counter:
    """Multiply-adds of the convolutions: computed, and what full recomputation would need."""

    computed: int = 0
    full: int = 0

    @property
    def fraction(self) -> float:
        """Share of the full convolution work that was computed."""
        return self.computed / self.full if self.full else 1.0


def _macs(module: nn.Module) -> int:
    """Multiply-adds of a module per output position (convolutions; 0 for the rest)."""
    if isinstance(module, nn.Conv2d):
        kh, kw = pair(module.kernel_size)
        return module.out_channels * (module.in_channels // module.groups) * kh * kw
    return 0


def _invariant(value: Any) -> bool:
    """Whether a value broadcasts the same over every position of a map."""
    if not isinstance(value, torch.Tensor):
        return isinstance(value, (int, float, bool)) or value is None
    return value.ndim == 0 or tuple(value.shape[-2:]) in ((1,), (1, 1))


class Plan:
    """How one traced model runs incrementally on one input shape over one occlusion grid.

    Parameters
    ----------
    graph : torch.fx.GraphModule
        The traced model.
    clean : dict
        Every node's value on one (clean) input, for shapes.
    grid : OcclusionGrid
        The sweep positions over the (C, H, W) input.
    limit : float, optional
        Approximate mode: the recomputed region of every layer is cut to at most this share of
        the layer's side, centred on the patch; changes outside are dropped (Krypton's
        projective-field thresholding). None (default) is exact.
    """

    def __init__(
        self,
        graph: fx.GraphModule,
        clean: Values,
        grid: OcclusionGrid,
        limit: float | None = None,
    ) -> None:
        self.graph, self.limit = graph, limit
        self.chunks: ByteCache[bytes, dict[Any, torch.Tensor]] = ByteCache(_CHUNK_BYTES)
        self.steps: list[Step] = []
        self.layouts: dict[fx.Node, Layout] = {}
        self.computed = self.full = 0  # convolution multiply-adds per copy
        dynamic: set[fx.Node] = set()
        for node in graph.graph.nodes:
            if node.op == "placeholder":
                self.input = node
                self.layouts[node] = self._input(grid, clean[node].device)
                dynamic.add(node)
            elif node.op == "output":
                self.output = node.args[0]
            elif any(n in dynamic for n in node.all_input_nodes):
                dynamic.add(node)
                self.steps.append(self._step(node, clean, dynamic))
        self.cells_per_copy = sum(  # index entries a copy needs, whole maps included
            len(g.taps) if g.taps is not None else g.rows * g.cols
            for step in self.steps
            for g in step.gathers.values()
        ) + sum(layout.height * layout.width for layout in self.layouts.values())

    def _input(self, grid: OcclusionGrid, device: torch.device) -> Layout:
        """Return the input's layout; also keep where every position's window lies."""
        self.origins = grid.origins(torch.arange(len(grid))).to(device)  # channel, row, column
        self.window = grid.window
        layout = Layout.around(
            window_boxes(self.origins, grid.window, grid.input_shape), *grid.input_shape[-2:]
        )
        self.input_gather = Gather(layout, layout.top, layout.left, layout.rows, layout.cols)
        return layout

    def chunk(self, index: torch.Tensor) -> Chunk:
        """Return a chunk of sweep positions, with index tensors kept for its next sweeps."""
        device = self.origins.device
        rows = torch.arange(len(index), device=device)
        if len(index) * self.cells_per_copy > _KEPT_CELLS:  # big: index tensors are cheap
            return Chunk(index.to(device), rows, {})
        key = index.cpu().numpy().tobytes()
        tables = self.chunks.get_or_make(key, dict)
        return Chunk(index.to(device), rows, tables)

    @property
    def fraction(self) -> float:
        """Share of the convolutions' multiply-adds computed against full recomputation."""
        return self.computed / self.full if self.full else 1.0

    def _step(self, node: fx.Node, clean: Values, dynamic: set[fx.Node]) -> Step:
        patched = [n for n in node.all_input_nodes if n in self.layouts]
        module = self.graph.get_submodule(node.target) if node.op == "call_module" else None
        geometry = None if module is None else spatial_geometry(module)
        if patched and geometry is not None and len(node.args) == 1 and not node.kwargs:
            step = self._spatial(node, module, geometry, clean)
            if step is not None:
                return step
        elif patched and self._elementwise(node, clean, dynamic):
            return self._pointwise(node, clean, patched)
        if isinstance(module, nn.Conv2d):
            cost = _macs(module) * clean[node].shape[-2] * clean[node].shape[-1]
            self.computed, self.full = self.computed + cost, self.full + cost
        return Step(node, self.graph)

    def _spatial(
        self,
        node: fx.Node,
        module: nn.Module,
        geometry: tuple[tuple[int, int], ...],
        clean: Values,
    ) -> Spatial | None:
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = geometry
        source = self.layouts[node.args[0]]
        height, width = clean[node].shape[-2:]
        r0, r1 = reach(source.box[:, 0], source.box[:, 1], height, kh, sh, ph, dh)
        c0, c1 = reach(source.box[:, 2], source.box[:, 3], width, kw, sw, pw, dw)
        if self.limit is not None:
            rows = max(1, min(int((r1 - r0).max()), math.ceil(self.limit * height)))
            cols = max(1, min(int((c1 - c0).max()), math.ceil(self.limit * width)))
            r0, c0 = centre(r0, r1, rows, height), centre(c0, c1, cols, width)
            r1, c1 = torch.minimum(r1, r0 + rows), torch.minimum(c1, c0 + cols)
        layout = Layout.around(torch.stack([r0, r1, c0, c1], 1), height, width)
        if (
            layout.area > _MOST * height * width and self.limit is None
        ):  # most of the map: all of it
            return None
        self.computed += _macs(module) * layout.area
        self.full += _macs(module) * height * width
        span = (
            (layout.rows - 1) * sh + (kh - 1) * dh + 1,
            (layout.cols - 1) * sw + (kw - 1) * dw + 1,
        )
        fill = -math.inf if isinstance(module, nn.MaxPool2d) else 0.0
        taps = None
        if (
            isinstance(module, nn.Conv2d)
            and module.groups == 1
            and (module.in_channels * kh * kw <= _IM2COL)
        ):
            i, j, a, b = (
                torch.arange(k, device=source.top.device)
                for k in (layout.rows, layout.cols, kh, kw)
            )
            rows = i[:, None, None, None] * sh + a[None, None, :, None] * dh
            cols = j[None, :, None, None] * sw + b[None, None, None, :] * dw
            taps = (rows * span[1] + cols).flatten()
        gather = Gather(source, layout.top * sh, layout.left * sw, *span, (ph, pw), fill, taps)
        self.layouts[node] = layout
        return Spatial(node, self.graph, module, gather, layout)

    def _elementwise(self, node: fx.Node, clean: Values, dynamic: set[fx.Node]) -> bool:
        """Whether the node maps each position on its own, given its operands."""
        if node.op == "call_module":
            module = self.graph.get_submodule(node.target)
            known = any(runs_as(module, kind) for kind in _ELEMENTWISE_MODULES)
        elif node.op == "call_function" and node.target is torch.cat:
            dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
            known = dim in (1, -3) and not isinstance(node.args[0], fx.Node)
        elif node.op == "call_function":
            known = node.target in _ELEMENTWISE_FUNCTIONS
        else:
            known = node.op == "call_method" and node.target in _ELEMENTWISE_METHODS
        value = clean[node]
        if not known or not isinstance(value, torch.Tensor) or value.ndim != 4:
            return False
        for operand in node.all_input_nodes:
            if operand in self.layouts:
                layout = self.layouts[operand]
                if (layout.height, layout.width) != tuple(value.shape[-2:]):
                    return False
            elif operand in dynamic:
                return False  # changed everywhere (e.g. squeeze-and-excitation scales)
            elif not _invariant(clean[operand]) and (
                not isinstance(clean[operand], torch.Tensor)
                or clean[operand].ndim != 4
                or clean[operand].shape[-2:] != value.shape[-2:]
            ):
                return False
        return True

    def _pointwise(self, node: fx.Node, clean: Values, patched: list[fx.Node]) -> Pointwise:
        layouts = {n: self.layouts[n] for n in patched}
        first = next(iter(layouts.values()))
        if all(layout is first for layout in layouts.values()):
            layout = first
        else:  # the union of the operands' rectangles
            tops = torch.stack([lay.top for lay in layouts.values()])
            lefts = torch.stack([lay.left for lay in layouts.values()])
            rows = torch.tensor([lay.rows for lay in layouts.values()])[:, None]
            cols = torch.tensor([lay.cols for lay in layouts.values()])[:, None]
            boxes = torch.stack([lay.box for lay in layouts.values()])
            box = torch.stack(
                [
                    boxes[..., 0].amin(0),
                    boxes[..., 1].amax(0),
                    boxes[..., 2].amin(0),
                    boxes[..., 3].amax(0),
                ],
                1,
            )
            top, size_h = rectangle(tops.amin(0), (tops + rows).amax(0), first.height)
            left, size_w = rectangle(lefts.amin(0), (lefts + cols).amax(0), first.width)
            layout = Layout(first.height, first.width, top, left, size_h, size_w, box)
        for operand in node.all_input_nodes:  # whole clean maps: their rectangle of clean values
            value = clean[operand]
            if operand not in layouts and not _invariant(value):
                layouts[operand] = Layout(
                    *value.shape[-2:], layout.top, layout.left, 1, 1, layout.box
                )
        self.layouts[node] = layout
        return Pointwise(node, self.graph, layout, layouts)


class IncrementalRunner:
    """Runs a :class:`Plan` on occluded copies of one clean input, exactly, computing less.

    Activations stay :class:`Patches` (the clean activation but for one small rectangle per
    copy) through convolutions, pooling and elementwise operations; any other operation gets
    the whole batch and runs as usual.

    Parameters
    ----------
    plan : Plan
        The compiled plan.
    clean : dict
        Every node's value on the clean input.
    baseline : float or torch.Tensor
        Fill value of the window: a number or a tensor shaped like one input.
    """

    def __init__(self, plan: Plan, clean: Values, baseline: float | torch.Tensor) -> None:
        self.plan, self.clean, self.baseline = plan, clean, baseline
        self.counter = Counter()
        self.tables: dict[tuple[Gather, fx.Node], torch.Tensor] = {}  # made when first needed
        self.baselines: dict[Gather, torch.Tensor] = {}
        self.matrices = {step: step.matrix() for step in plan.steps if isinstance(step, Spatial)}

    def table(self, gather: Gather, node: fx.Node) -> torch.Tensor:
        """Return the (cells, C) table of ``node``'s clean value that ``gather`` draws on."""
        table = self.tables.get((gather, node))  # nodes on one layout share its whole gather
        if table is None:
            table = self.tables[gather, node] = gather.table(self.clean[node])
        return table

    def baseline_table(self, gather: Gather) -> torch.Tensor:
        """Return the baseline input as ``gather``'s table (for a tensor baseline)."""
        table = self.baselines.get(gather)
        if table is None:
            clean = self.clean[self.plan.input]
            table = self.baselines[gather] = gather.table(self.baseline[None].to(clean))
        return table

    @property
    def output(self) -> Any:
        """The model's output on the clean input."""
        return fx.node.map_arg(self.plan.output, self.clean.__getitem__)

    def __call__(self, indices: torch.Tensor) -> Any:
        """Return the model's output on the occluded copies of sweep positions ``indices``."""
        plan = self.plan
        run = Run(self, plan.chunk(indices))
        for step in plan.steps:
            run.values[step.node] = step.run(run)
        self.counter.computed += len(indices) * plan.computed
        self.counter.full += len(indices) * plan.full
        return fx.node.map_arg(plan.output, run.whole)


def runner_for(
    model: nn.Module,
    x: torch.Tensor,
    grid: OcclusionGrid,
    baseline: float | torch.Tensor = 0.0,
    limit: float | None = None,
) -> IncrementalRunner | None:
    """Build an :class:`IncrementalRunner` for an image (C, H, W) swept over ``grid``.

    The window is filled with ``baseline``. None where no runner applies: not an image, or a
    model that cannot be traced. Call it with the model borrowed (see ``borrowed_model``)
    under inference mode.
    """
    if x.ndim != 3 or tuple(x.shape) != grid.input_shape:
        return None
    traced = cached_trace(model)
    if traced.graph is None or traced.inputs != 1:
        return None
    inputs = x[None].clone() if traced.mutates else x[None]  # in-place ops leave x as it was
    clean = dict(zip(traced.values, traced.every(inputs), strict=True))
    key = (grid, x.dtype, x.device, limit)
    plan = traced.plans.get_or_make(key, lambda: Plan(traced.graph, clean, grid, limit))
    return IncrementalRunner(plan, clean, baseline)
