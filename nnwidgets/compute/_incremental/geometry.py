"""Geometry of incremental inference: where each activation of an occluded copy can change.

:func:`reach` is the receptive-field arithmetic of one convolution or pooling (kernel,
stride, padding, dilation); a :class:`Layout` holds, per sweep position, the changed box of
one activation and the equal-sized rectangle that carries it; a :class:`Gather` holds the
index arithmetic that takes each copy's window of an activation (clean cells with the copy's
rectangle pasted in) out of a channels-last table.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Chunk",
    "Gather",
    "Layout",
    "Patches",
    "centre",
    "pair",
    "reach",
    "rectangle",
    "runs_as",
    "spatial_geometry",
    "window_boxes",
]


def pair(value: Any) -> tuple[int, int]:
    """Return an int or a pair of ints as a pair."""
    return (value, value) if isinstance(value, int) else tuple(value)  # type: ignore[return-value]


def runs_as(module: nn.Module, cls: type[nn.Module]) -> bool:
    """Whether a module is a ``cls`` that computes as ``cls`` does (no forward of its own)."""
    kind = type(module)
    return (
        isinstance(module, cls)
        and "forward" not in module.__dict__
        and kind.forward is cls.forward
        and getattr(kind, "_conv_forward", None) is getattr(cls, "_conv_forward", None)
    )


def spatial_geometry(module: nn.Module) -> tuple[tuple[int, int], ...] | None:
    """(kernel, stride, padding, dilation) of a supported spatial module, else None."""
    if runs_as(module, nn.Conv2d):
        if isinstance(module.padding, str) or module.padding_mode != "zeros":
            return None  # reflect/circular padding carry a change across the map: run in full
        return tuple(
            pair(v) for v in (module.kernel_size, module.stride, module.padding, module.dilation)
        )
    if runs_as(module, nn.MaxPool2d) and not module.ceil_mode and not module.return_indices:
        stride = module.stride if module.stride is not None else module.kernel_size
        return tuple(pair(v) for v in (module.kernel_size, stride, module.padding, module.dilation))
    if (
        runs_as(module, nn.AvgPool2d)
        and not module.ceil_mode
        and module.count_include_pad
        and module.divisor_override is None
    ):
        stride = module.stride if module.stride is not None else module.kernel_size
        return tuple(pair(v) for v in (module.kernel_size, stride, module.padding, (1, 1)))
    return None


def reach(
    start: torch.Tensor,
    end: torch.Tensor,
    size: int,
    kernel: int,
    stride: int,
    pad: int,
    dilation: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Output range [o0, o1) along one dim that a changed input range [start, end) reaches."""
    span = (kernel - 1) * dilation
    o0 = torch.div(start + pad - span + stride - 1, stride, rounding_mode="floor").clamp(0, size)
    o1 = (torch.div(end - 1 + pad, stride, rounding_mode="floor") + 1).clamp(0, size)
    return o0, torch.where(end > start, torch.maximum(o1, o0), o0)


def rectangle(start: torch.Tensor, end: torch.Tensor, size: int) -> tuple[torch.Tensor, int]:
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
        top, rows = rectangle(box[:, 0], box[:, 1], height)
        left, cols = rectangle(box[:, 2], box[:, 3], width)
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


class Chunk(NamedTuple):
    """The sweep positions of one batch of occluded copies, and index tensors made for them."""

    index: torch.Tensor
    rows: torch.Tensor
    tables: dict[Any, torch.Tensor]


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

    def index(self, chunk: Chunk, pasted: bool) -> torch.Tensor:
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

    def cells(self, table: torch.Tensor, data: torch.Tensor | None, chunk: Chunk) -> torch.Tensor:
        """(n * cells, C): each copy's window cells (or taps), with ``data`` pasted in."""
        channels = table.shape[1]
        if data is not None:
            table = torch.cat([table, data.permute(0, 2, 3, 1).reshape(-1, channels)])
        index = self.index(chunk, data is not None)
        if channels == 1:  # a gather of numbers is quicker than one of rows
            return table.view(-1).index_select(0, index).view(-1, 1)
        return table.index_select(0, index)

    def covered(
        self, chunk: Chunk, origins: torch.Tensor, window: tuple[int, ...], channels: int
    ) -> torch.Tensor:
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


def centre(start: torch.Tensor, end: torch.Tensor, length: int, size: int) -> torch.Tensor:
    """Per-position starts of ``length``-long ranges centred on [start, end) in [0, size)."""
    middle = torch.div(start + end, 2, rounding_mode="floor")
    return (middle - length // 2).clamp(0, max(size - length, 0))


def window_boxes(
    origins: torch.Tensor, window: tuple[int, ...], shape: tuple[int, ...]
) -> torch.Tensor:
    """(n, 4) changed rows and columns of occluded copies, from window origins (n, ndim)."""
    height, width = shape[-2:]
    rows, cols = origins[:, -2], origins[:, -1]
    return torch.stack(
        [rows, (rows + window[-2]).clamp(max=height), cols, (cols + window[-1]).clamp(max=width)], 1
    )
