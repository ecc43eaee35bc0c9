"""Exact incremental inference for occlusion: recompute convolutions only where a patch reaches.

A patch changes the input only inside its window, so each layer's output changes only inside
the window's growing cone. The model is traced with torch.fx and run on a batch of occluded
copies; every Conv2d, MaxPool2d and AvgPool2d computes just the part of its output that the
changed region of its input reaches (each copy's patch gathered into the batch dimension, as in
Krypton, Nakandala et al. 2019) and pastes it into the clean image's output. Every other node
runs as usual on the whole batch, so results stay exact: an operation that is not known to
act elementwise marks its output as changed everywhere, and later convolutions then run in full.
"""

from __future__ import annotations

import math
import operator
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

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

_untraceable: weakref.WeakSet[nn.Module] = weakref.WeakSet()


@dataclass
class Counter:
    """Multiply-adds of the convolutions: computed, and what full recomputation would need."""

    computed: int = 0
    full: int = 0

    @property
    def fraction(self) -> float:
        """Share of the full convolution work that was computed."""
        return self.computed / self.full if self.full else 1.0


def trace(model: nn.Module) -> fx.GraphModule | None:
    """Trace the model with torch.fx; None (with one warning per model) if it cannot be."""
    try:
        return fx.symbolic_trace(model)
    except Exception as error:  # any tracing failure means: fall back
        if model not in _untraceable:
            _untraceable.add(model)
            warnings.warn(
                f"occlusion: {type(model).__name__} cannot be traced with torch.fx "
                f"({type(error).__name__}: {str(error)[:120]}); every occluded copy is run "
                "through the whole model instead (exact, but slower)",
                RuntimeWarning,
                stacklevel=4,
            )
        return None


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)  # type: ignore[return-value]


def _geometry(module: nn.Module) -> tuple[tuple[int, int], ...] | None:
    """(kernel, stride, padding, dilation) of a supported spatial module, else None."""
    if isinstance(module, nn.Conv2d):
        if isinstance(module.padding, str) or module.padding_mode != "zeros":
            return None  # reflect/circular padding carry a change across the map: run in full
        return tuple(
            _pair(v) for v in (module.kernel_size, module.stride, module.padding, module.dilation)
        )
    if isinstance(module, nn.MaxPool2d) and not module.ceil_mode and not module.return_indices:
        stride = module.stride if module.stride is not None else module.kernel_size
        return tuple(
            _pair(v) for v in (module.kernel_size, stride, module.padding, module.dilation)
        )
    if (
        isinstance(module, nn.AvgPool2d)
        and not module.ceil_mode
        and module.count_include_pad
        and module.divisor_override is None
    ):
        stride = module.stride if module.stride is not None else module.kernel_size
        return tuple(_pair(v) for v in (module.kernel_size, stride, module.padding, (1, 1)))
    return None


def _reach(
    boxes: torch.Tensor, size: int, kernel: int, stride: int, pad: int, dilation: int, dim: int
):
    """Output range [o0, o1) along one dim that a changed input range reaches."""
    i0, i1 = boxes[:, 2 * dim], boxes[:, 2 * dim + 1]
    span = (kernel - 1) * dilation
    o0 = torch.div(i0 + pad - span + stride - 1, stride, rounding_mode="floor").clamp(0, size)
    o1 = (torch.div(i1 - 1 + pad, stride, rounding_mode="floor") + 1).clamp(0, size)
    o1 = torch.where(i1 > i0, torch.maximum(o1, o0), o0)
    return o0, o1


@dataclass
class Patched:
    """A batch of activations equal to the clean one except inside one rectangle per copy."""

    clean: torch.Tensor
    """(1, C, H, W) the clean input's activation."""
    patches: torch.Tensor
    """(n, C, rows, cols) each copy's values on its rectangle."""
    top: list[int]
    left: list[int]
    box: torch.Tensor
    """(n, 4) rows and columns (end excluded) where a copy can differ: inside its rectangle."""

    def region(self, top: list[int], left: list[int], rows: int, cols: int, fill: float = 0.0):
        """Each copy's values on its own rectangle; outside the map, ``fill``."""
        n, channels = len(self.patches), self.clean.shape[1]
        height, width = self.clean.shape[-2:]
        size_h, size_w = self.patches.shape[-2:]
        out = self.clean.new_full((n, channels, rows, cols), fill)
        for i in range(n):
            t, u = top[i], left[i]
            a, b, c, d = max(t, 0), min(t + rows, height), max(u, 0), min(u + cols, width)
            if a < b and c < d:
                out[i, :, a - t : b - t, c - u : d - u] = self.clean[0, :, a:b, c:d]
            pt, pu = self.top[i], self.left[i]
            a, b = max(a, pt), min(b, pt + size_h)
            c, d = max(c, pu), min(d, pu + size_w)
            if a < b and c < d:
                out[i, :, a - t : b - t, c - u : d - u] = self.patches[
                    i, :, a - pt : b - pt, c - pu : d - pu
                ]
        return out

    def full(self) -> torch.Tensor:
        """Return the whole batch (n, C, H, W)."""
        n = len(self.patches)
        height, width = self.clean.shape[-2:]
        return self.region([0] * n, [0] * n, height, width)


def _rectangle(start: torch.Tensor, end: torch.Tensor, size: int) -> tuple[list[int], int]:
    """Per-copy starts of equal-length ranges covering [start, end) inside [0, size)."""
    length = max(1, int((end - start).max()))
    return start.clamp(max=max(size - length, 0)).tolist(), min(length, size)


def _same(value: Any) -> Any:
    return value


def _whole(value: Any) -> Any:
    return value.full() if isinstance(value, Patched) else value


class IncrementalRunner:
    """Runs one traced model on occluded copies of one input, exactly, computing less.

    Activations stay :class:`Patched` (the clean activation plus one small rectangle per copy)
    through convolutions, pooling and elementwise operations; any other operation gets the
    whole batch and runs as usual.

    Parameters
    ----------
    graph : torch.fx.GraphModule
        The traced model (see :func:`trace`).
    x : torch.Tensor
        The clean input (C, H, W) on the model's device.
    limit : float, optional
        Approximate mode: the recomputed region of every layer is cut to at most this share
        of the layer's side, centred on the patch; changes outside are dropped (Krypton's
        projective-field thresholding). None (default) is exact.
    """

    def __init__(self, graph: fx.GraphModule, x: torch.Tensor, limit: float | None = None) -> None:
        self.graph = graph
        self.modules = dict(graph.named_modules())
        self.limit = limit
        self.counter = Counter()
        self.clean: dict[fx.Node, Any] = {}
        values: dict[fx.Node, Any] = {}
        for node in graph.graph.nodes:  # the clean input, every activation kept
            if node.op == "placeholder":
                values[node] = x[None]
            elif node.op != "output":
                values[node] = self._run(node, values)
            value = values.get(node)
            self.clean[node] = value.clone() if isinstance(value, torch.Tensor) else value

    def __call__(self, batch: torch.Tensor, boxes: torch.Tensor) -> Any:
        """Model output for occluded copies ``batch``, whose changes lie in ``boxes`` (n, 4).

        ``boxes[i] = (row0, row1, col0, col1)``: the rows and columns (end excluded) where copy
        ``i`` differs from the clean input.
        """
        values: dict[fx.Node, Any] = {}
        for node in self.graph.graph.nodes:
            if node.op == "placeholder":
                values[node] = self._placeholder(node, batch, boxes)
            elif node.op == "output":
                return fx.node.map_aggregate(
                    fx.node.map_arg(node.args[0], values.__getitem__), _whole
                )
            else:
                values[node] = self._step(node, values)
        raise RuntimeError("the traced graph has no output")

    # -- nodes --------------------------------------------------------------------------
    def _placeholder(self, node: fx.Node, batch: torch.Tensor, boxes: torch.Tensor) -> Patched:
        height, width = batch.shape[-2:]
        top, rows = _rectangle(boxes[:, 0], boxes[:, 1], height)
        left, cols = _rectangle(boxes[:, 2], boxes[:, 3], width)
        patches = torch.stack(
            [
                batch[i, :, t : t + rows, u : u + cols]
                for i, (t, u) in enumerate(zip(top, left, strict=True))
            ]
        )
        return Patched(self.clean[node], patches, top, left, boxes)

    def _run(self, node: fx.Node, values: dict, convert: Callable[[Any], Any] = _same) -> Any:
        """Run a node on its inputs, each passed through ``convert`` first."""
        args = fx.node.map_aggregate(fx.node.map_arg(node.args, values.__getitem__), convert)
        kwargs = fx.node.map_aggregate(fx.node.map_arg(node.kwargs, values.__getitem__), convert)
        if node.op == "get_attr":
            value: Any = self.graph
            for part in node.target.split("."):
                value = getattr(value, part)
            return value
        if node.op == "call_module":
            return self.modules[node.target](*args, **kwargs)
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        return getattr(args[0], node.target)(*args[1:], **kwargs)

    def _step(self, node: fx.Node, values: dict) -> Any:
        inputs = [values[n] for n in node.all_input_nodes]
        patched = [v for v in inputs if isinstance(v, Patched)]
        if not patched:
            return self._run(node, values)
        if node.op == "call_module":
            module = self.modules[node.target]
            geometry = _geometry(module)
            if geometry is not None and len(node.args) == 1 and not node.kwargs:
                return self._spatial(node, module, geometry, values[node.args[0]])
        if self._elementwise(node, values):
            return self._pointwise(node, values, patched)
        return self._run(node, values, _whole)

    def _elementwise(self, node: fx.Node, values: dict) -> bool:
        """Whether the node maps each position on its own (so it can run on rectangles)."""
        if node.op == "call_module":
            known = isinstance(self.modules[node.target], _ELEMENTWISE_MODULES)
        elif node.op == "call_function" and node.target is torch.cat:
            dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
            known = dim in (1, -3) and not isinstance(node.args[0], fx.Node)
        elif node.op == "call_function":
            known = node.target in _ELEMENTWISE_FUNCTIONS
        else:
            known = node.op == "call_method" and node.target in _ELEMENTWISE_METHODS
        clean = self.clean[node]
        if not known or not isinstance(clean, torch.Tensor) or clean.ndim != 4:
            return False
        for value in (values[n] for n in node.all_input_nodes):
            if isinstance(value, torch.Tensor) and value.ndim == 4 and value.shape[-2:] != (1, 1):
                return False  # a whole map beside the rectangles: run it all
        return True

    def _pointwise(self, node: fx.Node, values: dict, patched: list[Patched]) -> Patched:
        clean = self.clean[node]
        height, width = clean.shape[-2:]
        first = patched[0]
        same = all(
            p.top == first.top
            and p.left == first.left
            and p.patches.shape[-2:] == first.patches.shape[-2:]
            for p in patched
        )
        if same:  # one rectangle for all operands: use the patches as they are
            top, left = first.top, first.left
        else:  # the union of the operands' rectangles
            tops = torch.tensor([p.top for p in patched])
            lefts = torch.tensor([p.left for p in patched])
            rows = torch.tensor([p.patches.shape[-2] for p in patched])[:, None]
            cols = torch.tensor([p.patches.shape[-1] for p in patched])[:, None]
            top, size_h = _rectangle(tops.amin(0), (tops + rows).amax(0), height)
            left, size_w = _rectangle(lefts.amin(0), (lefts + cols).amax(0), width)

        def local(value: Any) -> Any:
            if not isinstance(value, Patched):
                return value
            return value.patches if same else value.region(top, left, size_h, size_w)

        out = self._run(node, values, local)
        box = patched[0].box.clone()
        for p in patched[1:]:
            box[:, 0::2] = torch.minimum(box[:, 0::2], p.box[:, 0::2])
            box[:, 1::2] = torch.maximum(box[:, 1::2], p.box[:, 1::2])
        return Patched(clean, out, list(top), list(left), box)

    # -- convolutions and pooling over the changed region only ------------------------------
    def _spatial(self, node, module, geometry, x: Patched) -> Any:
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = geometry
        clean = self.clean[node]
        n = len(x.patches)
        height, width = clean.shape[-2:]
        r0, r1 = _reach(x.box, height, kh, sh, ph, dh, 0)
        c0, c1 = _reach(x.box, width, kw, sw, pw, dw, 1)
        if self.limit is not None:
            rows = max(1, min(int((r1 - r0).max()), math.ceil(self.limit * height)))
            cols = max(1, min(int((c1 - c0).max()), math.ceil(self.limit * width)))
            r0, c0 = self._centre(r0, r1, rows, height), self._centre(c0, c1, cols, width)
            r1, c1 = torch.minimum(r1, r0 + rows), torch.minimum(c1, c0 + cols)
        top, rows = _rectangle(r0, r1, height)
        left, cols = _rectangle(c0, c1, width)
        per_output = self._macs(module)
        self.counter.full += per_output * n * height * width
        if rows * cols * 2 > height * width and self.limit is None:  # most of the map: run it all
            self.counter.computed += per_output * n * height * width
            return module(x.full())
        self.counter.computed += per_output * n * rows * cols
        span_h, span_w = (rows - 1) * sh + (kh - 1) * dh + 1, (cols - 1) * sw + (kw - 1) * dw + 1
        fill = -math.inf if isinstance(module, nn.MaxPool2d) else 0.0
        windows = x.region(
            [t * sh - ph for t in top], [u * sw - pw for u in left], span_h, span_w, fill
        )
        box = torch.stack([r0, r1, c0, c1], 1)
        return Patched(clean, self._apply(module, windows), top, left, box)

    @staticmethod
    def _centre(start: torch.Tensor, end: torch.Tensor, size: int, limit: int) -> torch.Tensor:
        middle = torch.div(start + end, 2, rounding_mode="floor")
        return (middle - size // 2).clamp(0, max(limit - size, 0))

    @staticmethod
    def _macs(module: nn.Module) -> int:
        if isinstance(module, nn.Conv2d):
            kh, kw = _pair(module.kernel_size)
            return module.out_channels * (module.in_channels // module.groups) * kh * kw
        return 0

    @staticmethod
    def _apply(module: nn.Module, windows: torch.Tensor) -> torch.Tensor:
        if isinstance(module, nn.Conv2d):
            return F.conv2d(
                windows,
                module.weight,
                module.bias,
                module.stride,
                0,
                module.dilation,
                module.groups,
            )
        if isinstance(module, nn.MaxPool2d):
            return F.max_pool2d(windows, module.kernel_size, module.stride, 0, module.dilation)
        return F.avg_pool2d(windows, module.kernel_size, module.stride, 0)


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
    model: nn.Module, x: torch.Tensor, limit: float | None = None
) -> Callable[[torch.Tensor, torch.Tensor], Any] | None:
    """Build an :class:`IncrementalRunner` for an image (C, H, W); None where none applies."""
    if x.ndim != 3:
        return None
    graph = trace(model)
    if graph is None or sum(n.op == "placeholder" for n in graph.graph.nodes) != 1:
        return None
    return IncrementalRunner(graph, x, limit)
