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

#: Changed everywhere: later layers run in full.
FULL = "full"

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


class IncrementalRunner:
    """Runs one traced model on occluded copies of one input, exactly, computing less.

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
        self.clean: dict[fx.Node, torch.Tensor] = {}
        self._interpret(x[None], None)

    def __call__(self, batch: torch.Tensor, boxes: torch.Tensor) -> Any:
        """Model output for occluded copies ``batch``, whose changes lie in ``boxes`` (n, 4).

        ``boxes[i] = (row0, row1, col0, col1)``: the rows and columns (end excluded) where copy
        ``i`` differs from the clean input.
        """
        return self._interpret(batch, boxes)[0]

    # -- the interpreter ------------------------------------------------------------------
    def _interpret(self, x: torch.Tensor, boxes: torch.Tensor | None) -> tuple[Any, dict]:
        """Run the graph; without ``boxes`` (the clean input) keep the spatial layers' outputs."""
        values: dict[fx.Node, Any] = {}
        changed: dict[fx.Node, Any] = {}
        result = None
        for node in self.graph.graph.nodes:
            args = fx.node.map_arg(node.args, values.__getitem__)
            kwargs = fx.node.map_arg(node.kwargs, values.__getitem__)
            if node.op == "placeholder":
                values[node], changed[node] = x, boxes
                continue
            if node.op == "output":
                result = args[0]
                break
            box = self._input_box(node, changed) if boxes is not None else None
            if node.op == "get_attr":
                value = self._attribute(node.target)
            elif node.op == "call_module":
                module = self.modules[node.target]
                geometry = _geometry(module)
                incremental = box is not None and box is not FULL and not kwargs
                if geometry is not None and incremental and len(args) == 1:
                    value, box = self._spatial(node, module, geometry, args[0], box)
                else:
                    value = module(*args, **kwargs)
                    if boxes is None and geometry is not None:
                        self.clean[node] = value.clone()  # a later in-place op must not touch it
                    if not isinstance(module, _ELEMENTWISE_MODULES):
                        box = FULL if box is not None else None
            else:
                fn = node.target if node.op == "call_function" else getattr(args[0], node.target)
                value = (
                    fn(*args, **kwargs) if node.op == "call_function" else fn(*args[1:], **kwargs)
                )
                if not self._elementwise(node, value, args):
                    box = FULL if box is not None else None
            values[node], changed[node] = value, box
        return result, values

    def _attribute(self, target: str) -> Any:
        value: Any = self.graph
        for part in target.split("."):
            value = getattr(value, part)
        return value

    def _input_box(self, node: fx.Node, changed: dict) -> Any:
        """Union of the changed boxes of the node's inputs (None: unchanged; FULL: all)."""
        boxes = [changed[n] for n in node.all_input_nodes if changed.get(n) is not None]
        if not boxes:
            return None
        if any(b is FULL for b in boxes):
            return FULL
        union = boxes[0].clone()
        for other in boxes[1:]:
            if other.shape != union.shape:
                return FULL
            union[:, 0::2] = torch.minimum(union[:, 0::2], other[:, 0::2])
            union[:, 1::2] = torch.maximum(union[:, 1::2], other[:, 1::2])
        return union

    def _elementwise(self, node: fx.Node, value: Any, args: tuple) -> bool:
        """Whether the node keeps positions where they are (so its changed box carries over)."""
        if not isinstance(value, torch.Tensor) or value.ndim != 4:
            return False
        shape = value.shape[-2:]
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if any(t.ndim == 4 and t.shape[-2:] != shape for t in tensors):
            return False  # broadcasting from a pooled tensor mixes positions
        if node.op == "call_function":
            if node.target is torch.cat:
                dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
                return dim in (1, -3)
            return node.target in _ELEMENTWISE_FUNCTIONS
        return node.op == "call_method" and node.target in _ELEMENTWISE_METHODS

    # -- convolutions and pooling over the changed region only ------------------------------
    def _spatial(self, node, module, geometry, x, boxes):
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = geometry
        clean = self.clean[node]
        n = len(x)
        height, width = clean.shape[-2:]
        r0, r1 = _reach(boxes, height, kh, sh, ph, dh, 0)
        c0, c1 = _reach(boxes, width, kw, sw, pw, dw, 1)
        rows = int((r1 - r0).max())
        cols = int((c1 - c0).max())
        if self.limit is not None:
            rows = min(rows, max(1, math.ceil(self.limit * height)))
            cols = min(cols, max(1, math.ceil(self.limit * width)))
            r0, c0 = self._centre(r0, r1, rows, height), self._centre(c0, c1, cols, width)
            r1, c1 = torch.minimum(r1, r0 + rows), torch.minimum(c1, c0 + cols)
        per_output = self._macs(module, clean)
        self.counter.full += per_output * n * height * width
        new_boxes = torch.stack([r0, r1, c0, c1], 1)
        if rows == 0 or cols == 0:
            return clean.expand(n, *clean.shape[1:]).clone(), new_boxes
        if rows * cols * 2 > height * width and self.limit is None:  # most of the map: run it all
            self.counter.computed += per_output * n * height * width
            return module(x), new_boxes
        self.counter.computed += per_output * n * rows * cols
        top = r0.clamp(max=height - rows).tolist()
        left = c0.clamp(max=width - cols).tolist()
        span_h, span_w = (rows - 1) * sh + (kh - 1) * dh + 1, (cols - 1) * sw + (kw - 1) * dw + 1
        patches = self._gather(module, x, top, left, (sh, sw), (ph, pw), (span_h, span_w))
        computed = self._apply(module, patches)
        out = clean.expand(n, *clean.shape[1:]).clone()
        for i, (t, u) in enumerate(zip(top, left, strict=True)):
            out[i, :, t : t + rows, u : u + cols] = computed[i]
        return out, new_boxes

    @staticmethod
    def _centre(start: torch.Tensor, end: torch.Tensor, size: int, limit: int) -> torch.Tensor:
        middle = torch.div(start + end, 2, rounding_mode="floor")
        return (middle - size // 2).clamp(0, max(limit - size, 0))

    @staticmethod
    def _macs(module: nn.Module, clean: torch.Tensor) -> int:
        if isinstance(module, nn.Conv2d):
            kh, kw = _pair(module.kernel_size)
            return module.out_channels * (module.in_channels // module.groups) * kh * kw
        return 0

    @staticmethod
    def _gather(module, x, top, left, stride, pad, span) -> torch.Tensor:
        """Gather the padded input windows (n, C, *span) that the output patches read."""
        (sh, sw), (ph, pw), (span_h, span_w) = stride, pad, span
        height, width = x.shape[-2:]
        fill = -math.inf if isinstance(module, nn.MaxPool2d) else 0.0
        patches = x.new_full((len(x), x.shape[1], span_h, span_w), fill)
        for i, (t, u) in enumerate(zip(top, left, strict=True)):
            y0, x0 = t * sh - ph, u * sw - pw  # first input row and column read, maybe < 0
            a, b = max(y0, 0), min(y0 + span_h, height)
            c, d = max(x0, 0), min(x0 + span_w, width)
            patches[i, :, a - y0 : b - y0, c - x0 : d - x0] = x[i, :, a:b, c:d]
        return patches

    @staticmethod
    def _apply(module: nn.Module, patches: torch.Tensor) -> torch.Tensor:
        if isinstance(module, nn.Conv2d):
            return F.conv2d(
                patches,
                module.weight,
                module.bias,
                module.stride,
                0,
                module.dilation,
                module.groups,
            )
        if isinstance(module, nn.MaxPool2d):
            return F.max_pool2d(patches, module.kernel_size, module.stride, 0, module.dilation)
        return F.avg_pool2d(patches, module.kernel_size, module.stride, 0)


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
