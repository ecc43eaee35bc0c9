"""The lattice of occluding windows over one input, as captum's Occlusion lays it out."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nnwidgets.compute._cache import ByteCache
from nnwidgets.compute._inputs import int_tuple

__all__ = ["OcclusionGrid"]

Size = int | tuple[int, ...]

_COARSE_FRACTION = 0.1
# Elements of the temporary tensors of the nearest-done search, per block.
_BLOCK_ELEMENTS = 2**22
#: Grids with at most this many (positions x input elements) spread scores with one matrix.
_DENSE_ELEMENTS = 2**20
#: Bytes of worked-out tables (orders, averaging matrices) kept over all shared grids.
_SHARED_GRID_BYTES = 64 * 2**20


def _full(value: Size, shape: tuple[int, ...], name: str, channel: int) -> tuple[int, ...]:
    """Expand a window/stride given as an int or for the trailing dims to all dims."""
    d = len(shape)
    sizes = int_tuple(value, name)
    if not isinstance(value, (tuple, list, torch.Size)):
        return sizes * d if name == "stride" or d == 1 else (channel, *sizes * (d - 1))
    if len(sizes) == d:
        return sizes
    if len(sizes) == d - 1 and d > 1:
        return (channel, *sizes)
    raise ValueError(
        f"{name} {value!r} does not fit an input of shape {shape}: give an int, "
        f"{d - 1} ints (one per dim after the channel dim, all channels occluded together) "
        f"or {d} ints (one per dim)"
    )


@dataclass(frozen=True)
class OcclusionGrid:
    """The positions of a window slid over one input (e.g. C x H x W) with a stride.

    Positions and their averaging match ``captum.attr.Occlusion``: in each dim the
    window starts at 0 and steps by the stride until the whole dim is covered, so
    the last window may hang over the edge and be cut off. Positions are numbered
    in row-major (C) order over :attr:`counts`.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one input, without the batch dim.
    window : tuple of int
        Window size in every dim of ``input_shape``.
    stride : tuple of int
        Step in every dim; at most the window size wherever the window is smaller
        than the input (else some elements would never be occluded).
    """

    input_shape: tuple[int, ...]
    window: tuple[int, ...]
    stride: tuple[int, ...]

    def __post_init__(self) -> None:
        shape = int_tuple(self.input_shape, "input_shape")
        window = int_tuple(self.window, "window")
        stride = int_tuple(self.stride, "stride")
        if not shape or min(shape) < 1:
            raise ValueError(f"input_shape must be non-empty and positive, got {shape}")
        if len(window) != len(shape) or len(stride) != len(shape):
            raise ValueError(
                f"window {window} and stride {stride} need one entry per dim of the "
                f"input shape {shape}"
            )
        if min(window) < 1:
            raise ValueError(f"window sizes must be positive, got {window}")
        if min(stride) < 1:
            raise ValueError(f"strides must be positive, got {stride}")
        if any(w > n for w, n in zip(window, shape, strict=True)):
            raise ValueError(f"window {window} is larger than the input {shape} in some dim")
        if any(s > w < n for s, w, n in zip(stride, window, shape, strict=True)):
            raise ValueError(
                f"stride {stride} is larger than window {window} in a dim the window does "
                "not fill, which would leave elements never occluded"
            )
        # A dim the window fills has one position whatever the stride: store 1 there.
        stride = tuple(1 if w == n else s for s, w, n in zip(stride, window, shape, strict=True))
        object.__setattr__(self, "input_shape", shape)
        object.__setattr__(self, "window", window)
        object.__setattr__(self, "stride", stride)

    @classmethod
    def create(cls, input_shape: Size, window: Size, stride: Size) -> OcclusionGrid:
        """Make a grid from a window and stride given in short or full form.

        Parameters
        ----------
        input_shape : tuple of int
            Shape of one input, e.g. (C, H, W).
        window : int or tuple of int
            An int or one int per dim after the first (e.g. ``(h, w)``): the window
            spans all of the first (channel) dim. Or one int per dim, exactly as
            captum's ``sliding_window_shapes``.
        stride : int or tuple of int
            An int (every dim, as in captum), one int per dim after the first, or
            one per dim.

        Returns
        -------
        OcclusionGrid
            The validated grid.
        """
        shape = int_tuple(input_shape, "input_shape")
        if not shape:
            raise ValueError("input_shape must have at least one dim")
        full_window = _full(window, shape, "window", channel=shape[0])
        full_stride = _full(stride, shape, "stride", channel=1)
        if cls is not OcclusionGrid:
            return cls(shape, full_window, full_stride)
        return _shared_grid(shape, full_window, full_stride)

    @property
    def counts(self) -> tuple[int, ...]:
        """Number of window positions in each dim."""
        return tuple(
            1 + -(-(n - w) // s)
            for n, w, s in zip(self.input_shape, self.window, self.stride, strict=True)
        )

    def __len__(self) -> int:
        return int(torch.Size(self.counts).numel())

    def _grid_index(self, indices: torch.Tensor) -> torch.Tensor:
        indices = torch.as_tensor(indices)
        if indices.dtype != torch.long or indices.ndim != 1:
            raise TypeError("position indices must be a 1-D int64 (long) tensor")
        if len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= len(self)):
            raise IndexError(f"position indices must lie in [0, {len(self)})")
        coords = []
        rest = indices
        for count in reversed(self.counts):
            coords.append(rest % count)
            rest = rest // count
        return torch.stack(coords[::-1], dim=1)

    def origins(self, indices: torch.Tensor) -> torch.Tensor:
        """Return the first (top-left) element covered at each position.

        Parameters
        ----------
        indices : torch.LongTensor
            Flat position indices, shape (n,).

        Returns
        -------
        torch.LongTensor
            Shape (n, ndim): the window at position ``indices[i]`` covers
            ``origins[i, d] : origins[i, d] + window[d]`` (cut off at the edge).
        """
        index = self._grid_index(indices)
        return index * torch.tensor(self.stride, device=index.device)

    def occlude(
        self,
        x: torch.Tensor,
        indices: torch.Tensor,
        baseline: torch.Tensor | float,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return copies of ``x`` with the window at each position set to ``baseline``.

        Parameters
        ----------
        x : torch.Tensor
            One input, shaped ``input_shape``.
        indices : torch.LongTensor
            Flat position indices, shape (n,).
        baseline : float or torch.Tensor
            Fill value: a number, or a tensor shaped like ``x``.
        out : torch.Tensor, optional
            Buffer of shape (m, *input_shape) with m >= n, reused for the result.

        Returns
        -------
        torch.Tensor
            Shape (n, *input_shape); ``out[:n]`` when ``out`` is given.
        """
        if tuple(x.shape) != self.input_shape:
            raise ValueError(f"x has shape {tuple(x.shape)}, the grid is for {self.input_shape}")
        if isinstance(baseline, torch.Tensor) and baseline.ndim and baseline.shape != x.shape:
            raise ValueError(
                f"baseline has shape {tuple(baseline.shape)}; it must be a number or "
                f"shaped like one input {tuple(x.shape)}"
            )
        origins = self.origins(indices).to(x.device)
        n = len(origins)
        mask = torch.ones((n,) + (1,) * x.ndim, dtype=torch.bool, device=x.device)
        for d, (size, w) in enumerate(zip(self.input_shape, self.window, strict=True)):
            if w == size:
                continue
            start = origins[:, d : d + 1]
            steps = torch.arange(size, device=x.device)
            inside = (steps >= start) & (steps < start + w)
            mask = mask & inside.view((n,) + (1,) * d + (size,) + (1,) * (x.ndim - d - 1))
        if out is not None:
            if out.shape[0] < n or tuple(out.shape[1:]) != self.input_shape:
                raise ValueError(
                    f"out has shape {tuple(out.shape)}; it needs at least {n} rows of "
                    f"shape {self.input_shape}"
                )
            out = out[:n]
        else:
            out = torch.empty((n, *self.input_shape), dtype=x.dtype, device=x.device)
        fill = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)  # a number: exactly
        return torch.where(mask, fill, x, out=out)

    # -- progressive order ------------------------------------------------------------

    @functools.cached_property
    def _levels(self) -> list[torch.Tensor]:
        """Position indices by refinement level, coarse lattice first (computed once)."""
        counts = self.counts
        n = len(self)
        spacing = 1
        for k in range(2, max(counts) + 1):
            spacing = k
            size = 1
            for c in counts:
                size *= -(-c // k) + (1 if (c - 1) % k else 0)
            if size <= _COARSE_FRACTION * n:
                break
        spacings = [spacing]
        while spacings[-1] > 1:
            spacings.append(spacings[-1] // 2)
        taken = torch.zeros(counts, dtype=torch.bool)
        levels = []
        for k in spacings:
            member = torch.ones(counts, dtype=torch.bool)
            for d, c in enumerate(counts):
                steps = torch.arange(c)
                on = (steps % k == 0) | (steps == c - 1)
                member &= on.view((1,) * d + (c,) + (1,) * (len(counts) - d - 1))
            new = member & ~taken
            taken |= new
            levels.append(new.flatten().nonzero().flatten())
        return levels

    @property
    def coarse_count(self) -> int:
        """Number of positions in the coarse lattice that opens :meth:`progressive_order`."""
        return len(self._levels[0])

    def progressive_order(self) -> torch.Tensor:
        """Return every position index, coarse to fine.

        First comes a coarse lattice (every k-th position in each dim plus the last
        one, k the smallest that keeps it at most ~10% of the positions; on grids too
        small for that, the corners), then lattices of halved spacing, then the rest.

        Returns
        -------
        torch.LongTensor
            A permutation of ``range(len(self))``.
        """
        return torch.cat(self._levels)

    # -- attribution ------------------------------------------------------------------

    def attribution(self, values: torch.Tensor, done: torch.Tensor | None = None) -> torch.Tensor:
        """Spread per-position scores over the input, averaging overlapping windows.

        Each element gets the mean of ``values`` over all windows that cover it,
        exactly as ``captum.attr.Occlusion`` averages.

        Parameters
        ----------
        values : torch.Tensor
            One score per position, shape (len(self),), e.g. clean minus occluded
            target score.
        done : torch.BoolTensor, optional
            Which positions hold a score. The others first take the score of the
            nearest done position on the position grid, so a partial sweep gives a
            complete, coarser map. If none is done the map is all zeros.

        Returns
        -------
        torch.Tensor
            float32, shaped ``input_shape``, on ``values``' device.
        """
        values = torch.as_tensor(values)
        if values.shape != (len(self),):
            raise ValueError(f"values has shape {tuple(values.shape)}, expected ({len(self)},)")
        if done is not None:
            done = torch.as_tensor(done, device=values.device)
            if done.shape != values.shape or done.dtype != torch.bool:
                raise ValueError(f"done must be a bool tensor of shape ({len(self)},)")
            if not bool(done.all()):
                if not bool(done.any()):
                    return torch.zeros(self.input_shape, dtype=torch.float32, device=values.device)
                values = values[self._nearest_done(done)]
        table = values.to(torch.float64)
        if self._averaging is not None:
            return (table @ self._averaging).to(torch.float32).reshape(self.input_shape)
        return (
            self._spread_all(table.reshape(self.counts))
            .to(torch.float32)
            .expand(self.input_shape)
            .contiguous()
        )

    def _spread_all(self, table: torch.Tensor, lead: int = 0) -> torch.Tensor:
        """Spread a table of positions (after ``lead`` leading dims) over the input."""
        for d, (w, n) in enumerate(zip(self.window, self.input_shape, strict=True)):
            if w < n:
                table = self._spread(table, d, lead)
        return table

    @functools.cached_property
    def _averaging(self) -> torch.Tensor | None:
        """(positions, elements) matrix of :meth:`attribution` for small grids, else None."""
        elements = int(torch.Size(self.input_shape).numel())
        if len(self) * elements > _DENSE_ELEMENTS:
            return None
        eye = torch.eye(len(self), dtype=torch.float64).reshape(len(self), *self.counts)
        spread = self._spread_all(eye, lead=1)
        return spread.expand(len(self), *self.input_shape).reshape(len(self), elements)

    def _spread(self, table: torch.Tensor, d: int, lead: int = 0) -> torch.Tensor:
        """Mean, along dim ``d``, of the table entries whose windows cover each element."""
        size, w, s = self.input_shape[d], self.window[d], self.stride[d]
        d += lead
        moved = table.movedim(d, -1)
        lead = moved.shape[:-1]
        kernel = torch.ones((1, 1, w), dtype=table.dtype, device=table.device)
        flat = moved.reshape(-1, 1, moved.shape[-1])
        total = F.conv_transpose1d(flat, kernel, stride=s)[..., :size]
        ones = torch.ones((1, 1, moved.shape[-1]), dtype=table.dtype, device=table.device)
        cover = F.conv_transpose1d(ones, kernel, stride=s)[..., :size]
        return (total / cover).reshape(*lead, size).movedim(-1, d)

    def _nearest_done(self, done: torch.Tensor) -> torch.Tensor:
        """For each position, the index of the nearest done one (itself if done).

        Exact Euclidean nearest on the position grid, one dim at a time (squared
        distances add over dims); ties go to the lower index.
        """
        counts = self.counts
        dist = torch.full(counts, float("inf"), dtype=torch.float64, device=done.device)
        dist[done.reshape(counts)] = 0.0
        everything = torch.arange(len(self), device=done.device)
        source = torch.where(done, everything, -1).reshape(counts)
        for d, count in enumerate(counts):
            if count > 1:
                dist, source = _nearest_along(dist, source, d)
        return source.flatten()


_shared_grids: ByteCache[tuple[tuple[int, ...], ...], OcclusionGrid] = ByteCache(_SHARED_GRID_BYTES)


def _shared_grid(
    shape: tuple[int, ...], window: tuple[int, ...], stride: tuple[int, ...]
) -> OcclusionGrid:
    """One grid per shape, window and stride, so that what it works out once is kept."""
    return _shared_grids.get_or_make(
        (shape, window, stride), lambda: OcclusionGrid(shape, window, stride)
    )


def _nearest_along(
    dist: torch.Tensor, source: torch.Tensor, d: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold dim ``d`` into the nearest-source search: min over i' of (i - i')^2 + dist[i']."""
    count = dist.shape[d]
    dist_lines = dist.movedim(d, -1).reshape(-1, count)
    source_lines = source.movedim(d, -1).reshape(-1, count)
    steps = torch.arange(count, dtype=torch.float64, device=dist.device)
    gap = (steps[:, None] - steps[None, :]) ** 2  # (to, from)
    rows = max(1, _BLOCK_ELEMENTS // (count * count))
    best_dist, best_source = [], []
    for start in range(0, len(dist_lines), rows):
        block = dist_lines[start : start + rows, None, :] + gap
        value, arg = block.min(dim=2)
        best_dist.append(value)
        best_source.append(source_lines[start : start + rows].gather(1, arg))
    shape = dist.movedim(d, -1).shape
    return (
        torch.cat(best_dist).reshape(shape).movedim(-1, d),
        torch.cat(best_source).reshape(shape).movedim(-1, d),
    )
