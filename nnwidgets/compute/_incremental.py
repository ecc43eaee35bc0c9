"""Exact incremental inference for occlusion: recompute convolutions only where a patch reaches.

A patch changes the input only inside its window, so each layer's output changes only inside
the window's growing cone. The model is traced once with torch.fx; for an input shape and an
occlusion grid a :class:`Plan` is compiled once: for every sweep position, the rectangle where
each activation can differ from the clean image's (receptive-field arithmetic through
convolutions, pooling, strides, padding and dilation), and the gather and scatter indices that
move those rectangles from layer to layer. A sweep then runs a few batched tensor operations
per layer: every Conv2d, MaxPool2d and AvgPool2d computes just its output rectangle, from a
window of clean values with the copy's patch pasted in (each copy's window gathered into the
batch dimension, as in Krypton, Nakandala et al. 2019). Any operation not known to act
elementwise gets the whole batch and runs as written, so results stay exact.
"""

from __future__ import annotations

import math
import operator
import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.utils._pytree import tree_map

from nnwidgets.compute._grid import OcclusionGrid

_ELEMENTWISE_MODULES = (
    nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid,
    nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.Dropout, nn.Dropout2d, nn.Identity,
)  # fmt: skip
_ELEMENTWISE_FUNCTIONS = {
    operator.add, operator.sub, operator.mul, operator.truediv, operator.iadd, operator.imul,
    torch.add, torch.sub, torch.mul, torch.relu, torch.sigmoid, torch.tanh, F.relu, F.relu6,
    F.leaky_relu, F.gelu, F.silu, F.hardswish, F.sigmoid, F.elu, F.dropout,
}  # fmt: skip
_ELEMENTWISE_METHODS = {
    "relu", "relu_", "sigmoid", "tanh", "add", "add_", "mul", "mul_", "contiguous",
}  # fmt: skip

#: A convolution or pooling whose changed rectangle covers more than this share of its map
#: runs on the whole map.
_MOST = 0.75
#: Convolutions with at most this many inputs per output run as a matrix product on gathered
#: cells (see :class:`_Spatial`).
_IM2COL = 256
#: Compiled plans kept per model (one per input shape, grid and mode), and chunks of sweep
#: positions per plan whose index tensors are kept (for sweeps that repeat).
_PLANS_PER_MODEL = 8
_CHUNKS_PER_PLAN = 16
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


# -- tracing, once per model --------------------------------------------------------------
def _snapshot(value: Any) -> Any:
    """Copy a node's value, safe from later in-place operations."""
    return tree_map(lambda v: v.clone() if isinstance(v, torch.Tensor) else v, value)


def _mutates(node: fx.Node, graph: fx.GraphModule) -> bool:
    """Whether a node may write into one of its inputs (an in-place operation)."""
    if node.op == "call_module":
        return bool(getattr(graph.get_submodule(node.target), "inplace", False))
    if node.op == "call_method":
        return node.target.endswith("_")
    if node.op == "call_function":
        name = getattr(node.target, "__name__", "")
        return (
            name.endswith("_")
            or node.target is operator.setitem
            or (name.startswith("i") and getattr(operator, name, None) is node.target)
            or node.kwargs.get("inplace", False) is True
            or any(arg is True for arg in node.args[1:])
        )
    return False


def _rereads_mutated(graph: fx.GraphModule) -> fx.Node | None:
    """Return an in-place operation whose operand is read again after it, if there is one.

    The engine gives each node its own value, so it cannot follow such a write.
    """
    order = {node: i for i, node in enumerate(graph.graph.nodes)}
    for node in graph.graph.nodes:
        target = node.args[0] if node.args else None
        if (
            isinstance(target, fx.Node)
            and _mutates(node, graph)
            and any(order[user] > order[node] for user in target.users if user is not node)
        ):
            return node
    return None


def _every_value(graph: fx.GraphModule, snapshot: bool) -> fx.GraphModule:
    """Make a module that runs the traced graph and returns every node's value.

    With ``snapshot`` each value is copied as it is made, safe from later in-place operations.
    """
    every = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    outs = []
    for node in graph.graph.nodes:
        if node.op == "output":
            continue
        env[node] = every.node_copy(node, env.__getitem__)
        outs.append(every.call_function(_snapshot, (env[node],)) if snapshot else env[node])
    every.output(tuple(outs))
    return fx.GraphModule(graph, every)


#: What every nn.Module keeps in its ``__dict__`` (parameters, buffers, hooks, ...).
_MODULE_STATE = frozenset(vars(nn.Module()))
_PLAIN = (int, float, complex, str, bytes, type(None), torch.dtype, torch.device)


def _plain(value: Any) -> bool:
    return isinstance(value, _PLAIN) or (
        isinstance(value, tuple) and all(isinstance(v, _PLAIN) for v in value)
    )


def _fingerprint(model: nn.Module) -> tuple:
    """Return what a trace depends on.

    Per submodule: its class, forward and object, its parameter and buffer objects, and its own
    attributes (a replaced ``forward``, ``padding``, a factor or tensor the forward reads): by
    value where they are plain numbers, strings or tuples of them, else by object.
    """
    return tuple(
        (name, type(module), type(module).forward, id(module),
         *map(id, module._parameters.values()), None,
         *map(id, module._buffers.values()), None,
         *((key, value if _plain(value) else id(value))
           for key, value in module.__dict__.items() if key not in _MODULE_STATE))
        for name, module in model.named_modules()
    )  # fmt: skip


class _Traced:
    """A model's torch.fx trace (None if it cannot be traced) and its compiled plans."""

    def __init__(self, model: nn.Module) -> None:
        self.fingerprint = _fingerprint(model)
        self.graph = trace(model)
        nodes = [] if self.graph is None else list(self.graph.graph.nodes)
        self.mutates = any(_mutates(node, self.graph) for node in nodes)
        self.every = None if self.graph is None else _every_value(self.graph, self.mutates)
        self.values = [node for node in nodes if node.op != "output"]  # what ``every`` returns
        self.inputs = sum(node.op == "placeholder" for node in nodes)
        self.plans: OrderedDict[tuple, Plan | None] = OrderedDict()


_lock = threading.Lock()
_traces: weakref.WeakKeyDictionary[nn.Module, _Traced] = weakref.WeakKeyDictionary()
_fallen_back: weakref.WeakSet[nn.Module] = weakref.WeakSet()  # warned once each


def trace(model: nn.Module) -> fx.GraphModule | None:
    """Trace the model with torch.fx; None (with one warning per model) where that fails.

    It fails where the model cannot be traced, or writes in place into a value it reads again.
    """
    try:
        graph = fx.symbolic_trace(model)
    except Exception as error:  # any tracing failure means: fall back
        _fall_back(model, f"cannot be traced with torch.fx ({type(error).__name__}: "
                          f"{str(error)[:120]})")  # fmt: skip
        return None
    node = _rereads_mutated(graph)
    if node is not None:
        _fall_back(model, f"writes in place into a value it reads again (at {node.name!r})")
        return None
    return graph


def _fall_back(model: nn.Module, why: str) -> None:
    """Warn, once per model, that its occluded copies run through the whole model."""
    if model not in _fallen_back:
        _fallen_back.add(model)
        warnings.warn(
            f"occlusion: {type(model).__name__} {why}; every occluded copy is run through the "
            "whole model instead (exact, but slower)",
            RuntimeWarning,
            stacklevel=6,
        )


def _traced(model: nn.Module) -> _Traced:
    """Return the model's cached trace, made anew when its forward or submodules change."""
    fingerprint = _fingerprint(model)
    with _lock:
        traced = _traces.get(model)
        if traced is None or traced.fingerprint != fingerprint:
            traced = _traces[model] = _Traced(model)
        return traced


# -- geometry -----------------------------------------------------------------------------
def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)  # type: ignore[return-value]


def _runs_as(module: nn.Module, cls: type[nn.Module]) -> bool:
    """Whether a module is a ``cls`` that computes as ``cls`` does (no forward of its own)."""
    kind = type(module)
    return (
        isinstance(module, cls)
        and "forward" not in module.__dict__
        and kind.forward is cls.forward
        and getattr(kind, "_conv_forward", None) is getattr(cls, "_conv_forward", None)
    )


def _geometry(module: nn.Module) -> tuple[tuple[int, int], ...] | None:
    """(kernel, stride, padding, dilation) of a supported spatial module, else None."""
    if _runs_as(module, nn.Conv2d):
        if isinstance(module.padding, str) or module.padding_mode != "zeros":
            return None  # reflect/circular padding carry a change across the map: run in full
        return tuple(
            _pair(v) for v in (module.kernel_size, module.stride, module.padding, module.dilation)
        )
    if _runs_as(module, nn.MaxPool2d) and not module.ceil_mode and not module.return_indices:
        stride = module.stride if module.stride is not None else module.kernel_size
        return tuple(
            _pair(v) for v in (module.kernel_size, stride, module.padding, module.dilation)
        )
    if (
        _runs_as(module, nn.AvgPool2d)
        and not module.ceil_mode
        and module.count_include_pad
        and module.divisor_override is None
    ):
        stride = module.stride if module.stride is not None else module.kernel_size
        return tuple(_pair(v) for v in (module.kernel_size, stride, module.padding, (1, 1)))
    return None


def _reach(start: torch.Tensor, end: torch.Tensor, size: int, kernel: int, stride: int,
           pad: int, dilation: int) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Output range [o0, o1) along one dim that a changed input range [start, end) reaches."""
    span = (kernel - 1) * dilation
    o0 = torch.div(start + pad - span + stride - 1, stride, rounding_mode="floor").clamp(0, size)
    o1 = (torch.div(end - 1 + pad, stride, rounding_mode="floor") + 1).clamp(0, size)
    return o0, torch.where(end > start, torch.maximum(o1, o0), o0)


def _rectangle(start: torch.Tensor, end: torch.Tensor, size: int) -> tuple[torch.Tensor, int]:
    """Per-position starts of equal-length ranges covering [start, end) inside [0, size)."""
    length = min(max(1, int((end - start).max())), size)
    return start.clamp(max=size - length), length


@dataclass(eq=False)
class Layout:
    """Where, at every sweep position, a batch of activations can differ from the clean one.

    Position ``p``'s copy equals the clean activation outside rows ``box[p, 0]:box[p, 1]`` and
    columns ``box[p, 2]:box[p, 3]``; its values are carried on the equal-sized rectangle of
    ``rows`` x ``cols`` cells at ``(top[p], left[p])``, which holds the box.
    """

    height: int
    width: int
    top: torch.Tensor
    left: torch.Tensor
    rows: int
    cols: int
    box: torch.Tensor

    @classmethod
    def around(cls, box: torch.Tensor, height: int, width: int) -> Layout:
        """Make the layout of changed boxes (P, 4) on a height x width map."""
        top, rows = _rectangle(box[:, 0], box[:, 1], height)
        left, cols = _rectangle(box[:, 2], box[:, 3], width)
        return cls(height, width, top, left, rows, cols, box)

    @property
    def area(self) -> int:
        """Cells of one position's rectangle."""
        return self.rows * self.cols

    @cached_property
    def whole(self) -> Gather:
        """Gather of the whole map."""
        zeros = torch.zeros_like(self.top)
        return Gather(self, zeros, zeros, self.height, self.width)


class Patches(NamedTuple):
    """A chunk's activations: the clean one, but for ``data`` (n, C, rows, cols) at ``layout``."""

    layout: Layout
    data: torch.Tensor


class _Chunk(NamedTuple):
    """The sweep positions of one batch of occluded copies, and index tensors made for them."""

    index: torch.Tensor
    rows: torch.Tensor
    tables: dict


@dataclass(eq=False)
class Gather:
    """Per position, a window of an activation: clean values with the copy's changes pasted in.

    The window is ``rows`` x ``cols`` cells at ``(top[p], left[p])`` of the clean activation
    padded by ``pad`` with ``fill``. Windows are gathered channels-last, as rows of a
    (cells, channels) table holding the clean cells and then the copies' rectangles: one
    ``index_select`` a window, and pooling runs several times faster on channels-last maps.
    """

    source: Layout
    top: torch.Tensor
    left: torch.Tensor
    rows: int
    cols: int
    pad: tuple[int, int] = (0, 0)
    fill: float = 0.0
    taps: torch.Tensor | None = None
    """Optional window cells to take, in order (e.g. a convolution's im2col), instead of all."""

    def __post_init__(self) -> None:
        ph, pw = self.pad
        width = self.source.width + 2 * pw
        self.clean_cells = (self.source.height + 2 * ph) * width
        self.start = self.top * width + self.left
        self.row_steps = torch.arange(self.rows, device=self.top.device)
        self.col_steps = torch.arange(self.cols, device=self.top.device)
        self.offsets = (self.row_steps[:, None] * width + self.col_steps).flatten()
        self.row_shift = self.top - ph - self.source.top  # window row 0 in rectangle rows
        self.col_shift = self.left - pw - self.source.left

    def table(self, clean: torch.Tensor) -> torch.Tensor:
        """Return the padded clean activation (1, C, H, W) as a (cells, C) table."""
        ph, pw = self.pad
        if ph or pw:
            clean = F.pad(clean, (pw, pw, ph, ph), value=self.fill)
        return clean[0].permute(1, 2, 0).reshape(-1, clean.shape[1]).contiguous()

    def index(self, chunk: _Chunk, pasted: bool) -> torch.Tensor:
        """(n * rows * cols,) rows of the table (and of the rectangles after it, if pasted)."""
        index = chunk.tables.get((self, pasted))
        if index is None:
            index = chunk.tables[self, pasted] = self._index(chunk.index, chunk.rows, pasted)
        return index

    def _index(self, positions: torch.Tensor, rows: torch.Tensor, pasted: bool) -> torch.Tensor:
        clean = self.start[positions][:, None] + self.offsets
        if not pasted:
            return (clean if self.taps is None else clean[:, self.taps]).flatten()
        source, n = self.source, len(positions)
        r = self.row_shift[positions][:, None] + self.row_steps
        c = self.col_shift[positions][:, None] + self.col_steps
        inside = ((r >= 0) & (r < source.rows))[:, :, None] & ((c >= 0) & (c < source.cols))[
            :, None, :
        ]
        first = self.clean_cells + rows * source.area
        cells = first[:, None, None] + r[:, :, None] * source.cols + c[:, None, :]
        cells = torch.where(inside, cells, clean.view(n, self.rows, self.cols)).flatten(1)
        return (cells if self.taps is None else cells[:, self.taps]).flatten()

    def cells(self, table: torch.Tensor, data: torch.Tensor | None, chunk: _Chunk):
        """(n * cells, C): each copy's window cells (or taps), with ``data`` pasted in."""
        channels = table.shape[1]
        if data is not None:
            table = torch.cat([table, data.permute(0, 2, 3, 1).reshape(-1, channels)])
        index = self.index(chunk, data is not None)
        if channels == 1:  # a gather of numbers is quicker than one of rows
            return table.view(-1).index_select(0, index).view(-1, 1)
        return table.index_select(0, index)

    def covered(self, chunk: _Chunk, origins: torch.Tensor, window: tuple[int, ...],
                channels: int) -> torch.Tensor:  # fmt: skip
        """(n * cells, C) bool: which window cells (or taps) of the input are occluded.

        For gathers on the model's input; ``origins`` (P, 3) holds every position's window
        origin (channel, row, column).
        """
        key = (self, "covered")
        covered = chunk.tables.get(key)
        if covered is not None:
            return covered
        n, (ph, pw) = len(chunk.index), self.pad
        cells = self.index(chunk, False).view(n, -1)
        padded = self.source.width + 2 * pw
        origin = origins[chunk.index][:, :, None]
        rows, cols = torch.div(cells, padded, rounding_mode="floor") - ph, cells % padded - pw
        height, width = self.source.height, self.source.width  # windows at the edge are cut
        spatial = (rows >= origin[:, 1]) & (rows < (origin[:, 1] + window[1]).clamp(max=height))
        spatial &= (cols >= origin[:, 2]) & (cols < (origin[:, 2] + window[2]).clamp(max=width))
        steps = torch.arange(channels, device=cells.device)
        channel = (steps >= origin[:, 0]) & (steps < origin[:, 0] + window[0])
        covered = (spatial[:, :, None] & channel[:, None, :]).view(-1, channels)
        chunk.tables[key] = covered
        return covered

    def windows(self, cells: torch.Tensor) -> torch.Tensor:
        """View cells (n * rows * cols, C) of whole windows as windows (n, C, rows, cols)."""
        return cells.view(-1, self.rows, self.cols, cells.shape[1]).permute(0, 3, 1, 2)


# -- steps of a plan ----------------------------------------------------------------------
def _callable(node: fx.Node, graph: fx.GraphModule) -> Callable[..., Any]:
    """Return what a call node calls, with its arguments as written."""
    if node.op == "call_module":
        return graph.get_submodule(node.target)
    if node.op == "call_function":
        return node.target
    name = node.target
    return lambda self, *args, **kwargs: getattr(self, name)(*args, **kwargs)


class _Run:
    """One chunk's pass through a plan: node values, and the windows they draw on.

    The model's input is never pasted: its windows are the clean input's, with the cells under
    each copy's occluder set to the baseline.
    """

    def __init__(self, runner: IncrementalRunner, chunk: _Chunk) -> None:
        self.runner, self.chunk = runner, chunk
        self.values = dict(runner.clean)
        del self.values[runner.plan.input]  # see cells()
        self.wholes: dict[fx.Node, torch.Tensor] = {}

    def cells(self, gather: Gather, node: fx.Node) -> torch.Tensor:
        """Return the chunk's window cells (or taps) of ``gather`` on ``node``'s copies."""
        runner, chunk = self.runner, self.chunk
        table = runner.table(gather, node)
        if node is not runner.plan.input:
            value = self.values[node]
            return gather.cells(table, value.data if isinstance(value, Patches) else None, chunk)
        plan, cells = runner.plan, gather.cells(table, None, chunk)
        covered = gather.covered(chunk, plan.origins, plan.window, table.shape[1])
        if isinstance(runner.baseline, torch.Tensor):
            return torch.where(covered, gather.cells(runner.baseline_table(gather), None, chunk),
                               cells)  # fmt: skip
        return cells.masked_fill_(covered, runner.baseline)

    def gather(self, gather: Gather, node: fx.Node) -> torch.Tensor:
        """Return the chunk's windows (n, C, rows, cols) of ``gather`` on ``node``'s copies."""
        return gather.windows(self.cells(gather, node))

    def whole(self, node: fx.Node) -> Any:
        """Return a node's value for the whole batch (n, ...), made once per chunk."""
        if node not in self.values or isinstance(self.values[node], Patches):
            if node not in self.wholes:
                self.wholes[node] = self.gather(self.runner.plan.layouts[node].whole, node)
            return self.wholes[node]
        return self.values[node]


class _Step:
    """Computes one input-dependent node of the traced graph for a chunk of copies."""

    def __init__(self, node: fx.Node, graph: fx.GraphModule) -> None:
        self.node = node
        self.call = _callable(node, graph)
        self.gathers: dict[fx.Node, Gather] = {}  # windows of a clean activation, per node

    def run(self, run: _Run) -> Any:
        """Run on the whole batch: changed activations are made whole first."""
        args = fx.node.map_arg(self.node.args, run.whole)
        kwargs = fx.node.map_arg(self.node.kwargs, run.whole)
        return self.call(*args, **kwargs)


class _Spatial(_Step):
    """A convolution or pooling that computes its output rectangle only.

    Convolutions with few inputs per output (``in_channels * kh * kw`` up to :data:`_IM2COL`)
    multiply each output's gathered inputs by the weight matrix, which beats oneDNN's cost
    per call on small layers; other convolutions and pooling run on gathered windows.
    """

    def __init__(self, node, graph, module, gather: Gather, layout: Layout) -> None:
        super().__init__(node, graph)
        self.module, self.layout, self.source = module, layout, node.args[0]
        self.gathers[self.source] = gather

    def matrix(self) -> torch.Tensor | None:
        """Return the weights as an (inputs, out_channels) matrix, where the step uses one."""
        if self.gathers[self.source].taps is None:
            return None
        weight = self.module.weight
        return weight.permute(2, 3, 1, 0).reshape(-1, weight.shape[0]).contiguous()

    def run(self, run: _Run) -> Patches:
        gather, module, layout = self.gathers[self.source], self.module, self.layout
        if gather.taps is None:
            return Patches(layout, _unpadded(module, run.gather(gather, self.source)))
        inputs = run.cells(gather, self.source).view(len(run.chunk.index) * layout.area, -1)
        matrix = run.runner.matrices[self]
        bias = module.bias
        out = inputs @ matrix if bias is None else torch.addmm(bias, inputs, matrix)
        out = out.view(-1, layout.rows, layout.cols, out.shape[1])
        return Patches(layout, out.permute(0, 3, 1, 2))


class _Pointwise(_Step):
    """An elementwise operation (or concatenation along channels) on rectangles only."""

    def __init__(self, node, graph, layout: Layout, layouts: dict) -> None:
        super().__init__(node, graph)
        self.layout = layout
        for operand, own in layouts.items():  # operands on other rectangles are gathered
            if own is not layout:
                self.gathers[operand] = Gather(own, layout.top, layout.left, layout.rows,
                                               layout.cols)  # fmt: skip

    def run(self, run: _Run) -> Patches:
        def local(node: fx.Node) -> Any:
            gather = self.gathers.get(node)
            if gather is None and node is run.runner.plan.input:
                gather = run.runner.plan.input_gather
            if gather is not None:
                return run.gather(gather, node)
            value = run.values[node]
            return value.data if isinstance(value, Patches) else value

        args = fx.node.map_arg(self.node.args, local)
        kwargs = fx.node.map_arg(self.node.kwargs, local)
        return Patches(self.layout, self.call(*args, **kwargs))


def _unpadded(module: nn.Module, windows: torch.Tensor) -> torch.Tensor:
    """Apply a supported spatial module to windows that already hold its padding."""
    if isinstance(module, nn.Conv2d):
        return F.conv2d(
            windows, module.weight, module.bias, module.stride, 0, module.dilation, module.groups
        )
    if isinstance(module, nn.MaxPool2d):
        return F.max_pool2d(windows, module.kernel_size, module.stride, 0, module.dilation)
    return F.avg_pool2d(windows, module.kernel_size, module.stride, 0)


def _macs(module: nn.Module) -> int:
    """Multiply-adds of a module per output position (convolutions; 0 for the rest)."""
    if isinstance(module, nn.Conv2d):
        kh, kw = _pair(module.kernel_size)
        return module.out_channels * (module.in_channels // module.groups) * kh * kw
    return 0


def _invariant(value: Any) -> bool:
    """Whether a value broadcasts the same over every position of a map."""
    if not isinstance(value, torch.Tensor):
        return isinstance(value, (int, float, bool)) or value is None
    return value.ndim == 0 or tuple(value.shape[-2:]) in ((1,), (1, 1))


def _centre(start: torch.Tensor, end: torch.Tensor, length: int, size: int) -> torch.Tensor:
    middle = torch.div(start + end, 2, rounding_mode="floor")
    return (middle - length // 2).clamp(0, max(size - length, 0))


class Plan:
    """How one traced model runs incrementally on one input shape over one occlusion grid.

    Parameters
    ----------
    graph : torch.fx.GraphModule
        The traced model.
    clean : dict
        Every node's value on one (clean) input, for shapes.
    boxes : torch.Tensor
        (P, 4) where each sweep position's copy differs from the clean input: rows and columns,
        end excluded.
    limit : float, optional
        Approximate mode: the recomputed region of every layer is cut to at most this share of
        the layer's side, centred on the patch; changes outside are dropped (Krypton's
        projective-field thresholding). None (default) is exact.
    """

    def __init__(self, graph: fx.GraphModule, clean: dict, grid: OcclusionGrid,
                 limit: float | None = None) -> None:  # fmt: skip
        self.graph, self.limit = graph, limit
        self.chunks: OrderedDict[bytes, dict] = OrderedDict()
        self.steps: list[_Step] = []
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
        layout = Layout.around(window_boxes(self.origins, grid.window, grid.input_shape),
                               *grid.input_shape[-2:])  # fmt: skip
        self.input_gather = Gather(layout, layout.top, layout.left, layout.rows, layout.cols)
        return layout

    def chunk(self, index: torch.Tensor) -> _Chunk:
        """Return a chunk of sweep positions, with index tensors kept for its next sweeps."""
        device = self.origins.device
        rows = torch.arange(len(index), device=device)
        if len(index) * self.cells_per_copy > _KEPT_CELLS:  # big: index tensors are cheap
            return _Chunk(index.to(device), rows, {})
        key = index.cpu().numpy().tobytes()
        with _lock:
            tables = self.chunks.pop(key, None)
            tables = {} if tables is None else tables
            self.chunks[key] = tables
            while len(self.chunks) > _CHUNKS_PER_PLAN:
                self.chunks.popitem(last=False)
        return _Chunk(index.to(device), rows, tables)

    @property
    def fraction(self) -> float:
        """Share of the convolutions' multiply-adds computed against full recomputation."""
        return self.computed / self.full if self.full else 1.0

    def _step(self, node: fx.Node, clean: dict, dynamic: set[fx.Node]) -> _Step:
        patched = [n for n in node.all_input_nodes if n in self.layouts]
        module = self.graph.get_submodule(node.target) if node.op == "call_module" else None
        geometry = None if module is None else _geometry(module)
        if patched and geometry is not None and len(node.args) == 1 and not node.kwargs:
            step = self._spatial(node, module, geometry, clean)
            if step is not None:
                return step
        elif patched and self._elementwise(node, clean, dynamic):
            return self._pointwise(node, clean, patched)
        if isinstance(module, nn.Conv2d):
            cost = _macs(module) * clean[node].shape[-2] * clean[node].shape[-1]
            self.computed, self.full = self.computed + cost, self.full + cost
        return _Step(node, self.graph)

    def _spatial(self, node, module, geometry, clean) -> _Spatial | None:
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = geometry
        source = self.layouts[node.args[0]]
        height, width = clean[node].shape[-2:]
        r0, r1 = _reach(source.box[:, 0], source.box[:, 1], height, kh, sh, ph, dh)
        c0, c1 = _reach(source.box[:, 2], source.box[:, 3], width, kw, sw, pw, dw)
        if self.limit is not None:
            rows = max(1, min(int((r1 - r0).max()), math.ceil(self.limit * height)))
            cols = max(1, min(int((c1 - c0).max()), math.ceil(self.limit * width)))
            r0, c0 = _centre(r0, r1, rows, height), _centre(c0, c1, cols, width)
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
        return _Spatial(node, self.graph, module, gather, layout)

    def _elementwise(self, node: fx.Node, clean: dict, dynamic: set[fx.Node]) -> bool:
        """Whether the node maps each position on its own, given its operands."""
        if node.op == "call_module":
            module = self.graph.get_submodule(node.target)
            known = any(_runs_as(module, kind) for kind in _ELEMENTWISE_MODULES)
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

    def _pointwise(self, node: fx.Node, clean: dict, patched: list[fx.Node]) -> _Pointwise:
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
                [boxes[..., 0].amin(0), boxes[..., 1].amax(0), boxes[..., 2].amin(0),
                 boxes[..., 3].amax(0)], 1,
            )  # fmt: skip
            top, size_h = _rectangle(tops.amin(0), (tops + rows).amax(0), first.height)
            left, size_w = _rectangle(lefts.amin(0), (lefts + cols).amax(0), first.width)
            layout = Layout(first.height, first.width, top, left, size_h, size_w, box)
        for operand in node.all_input_nodes:  # whole clean maps: their rectangle of clean values
            value = clean[operand]
            if operand not in layouts and not _invariant(value):
                layouts[operand] = Layout(*value.shape[-2:], layout.top, layout.left, 1, 1,
                                          layout.box)  # fmt: skip
        self.layouts[node] = layout
        return _Pointwise(node, self.graph, layout, layouts)


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

    def __init__(self, plan: Plan, clean: dict, baseline: float | torch.Tensor) -> None:
        self.plan, self.clean, self.baseline = plan, clean, baseline
        self.counter = Counter()
        self.tables: dict[tuple[Gather, fx.Node], torch.Tensor] = {}  # made when first needed
        self.baselines: dict[Gather, torch.Tensor] = {}
        self.matrices = {step: step.matrix() for step in plan.steps if isinstance(step, _Spatial)}

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
        run = _Run(self, plan.chunk(indices))
        for step in plan.steps:
            run.values[step.node] = step.run(run)
        self.counter.computed += len(indices) * plan.computed
        self.counter.full += len(indices) * plan.full
        return fx.node.map_arg(plan.output, run.whole)


def window_boxes(
    origins: torch.Tensor, window: tuple[int, ...], shape: tuple[int, ...]
) -> torch.Tensor:
    """(n, 4) changed rows and columns of occluded copies, from window origins (n, ndim)."""
    height, width = shape[-2:]
    rows, cols = origins[:, -2], origins[:, -1]
    return torch.stack(
        [rows, (rows + window[-2]).clamp(max=height), cols, (cols + window[-1]).clamp(max=width)], 1
    )


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
    traced = _traced(model)
    if traced.graph is None or traced.inputs != 1:
        return None
    inputs = x[None].clone() if traced.mutates else x[None]  # in-place ops leave x as it was
    clean = dict(zip(traced.values, traced.every(inputs), strict=True))
    key = (grid, x.dtype, x.device, limit)
    with _lock:
        plan = traced.plans.pop(key, None)
    if plan is None:
        plan = Plan(traced.graph, clean, grid, limit)
    with _lock:
        traced.plans[key] = plan
        while len(traced.plans) > _PLANS_PER_MODEL:
            traced.plans.popitem(last=False)
    return IncrementalRunner(plan, clean, baseline)
