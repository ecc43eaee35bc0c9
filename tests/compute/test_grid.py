"""The occlusion grid: positions, occluded copies, progressive order and attribution."""

from __future__ import annotations

import itertools

import pytest
import torch

from nnwidgets.compute import OcclusionGrid
from nnwidgets.compute import _grid as grid_module


def _naive_attribution(grid, values):
    """Captum's way: add each window's value to its elements, divide by coverage."""
    total = torch.zeros(grid.input_shape, dtype=torch.float64)
    cover = torch.zeros(grid.input_shape, dtype=torch.float64)
    for index, origin in enumerate(grid.origins(torch.arange(len(grid))).tolist()):
        region = tuple(slice(o, o + w) for o, w in zip(origin, grid.window, strict=True))
        total[region] += float(values[index])
        cover[region] += 1
    return (total / cover).float()


GRIDS = [
    ((1, 16, 16), 4, 2),
    ((3, 13, 17), (4, 5), (3, 2)),
    ((2, 17), (1, 4), (1, 3)),
    ((17,), 5, 4),
    ((2, 5, 6, 7), (1, 2, 3, 2), (1, 1, 3, 2)),
    ((3, 9, 9), (9, 9), 1),
]


@pytest.mark.parametrize(("shape", "window", "stride"), GRIDS)
def test_grid_attribution_is_captums_average(shape, window, stride):
    grid = OcclusionGrid.create(shape, window, stride)
    torch.manual_seed(7)
    values = torch.randn(len(grid))
    torch.testing.assert_close(grid.attribution(values), _naive_attribution(grid, values))


def test_grid_counts_and_cut_off_windows():
    grid = OcclusionGrid.create((3, 10, 7), 4, 3)
    assert grid.window == (3, 4, 4) and grid.stride == (1, 3, 3)
    assert grid.counts == (1, 3, 2) and len(grid) == 6  # windows at 0, 3, 6 (cut off at 10)
    assert grid.origins(torch.tensor([0, 5])).tolist() == [[0, 0, 0], [0, 6, 3]]
    full = OcclusionGrid.create((3, 8, 8), (1, 2, 2), (1, 2, 2))
    assert full.counts == (3, 4, 4)
    with pytest.raises(IndexError):
        grid.origins(torch.tensor([6]))


def test_occlude_by_hand():
    grid = OcclusionGrid.create((2, 9, 11), (3, 4), (2, 3))
    torch.manual_seed(8)
    x, baseline = torch.randn(2, 9, 11), torch.randn(2, 9, 11)
    indices = torch.tensor([0, 5, len(grid) - 1, 5])
    buffer = torch.empty(6, 2, 9, 11)
    for fill in (baseline, -2.0):
        out = grid.occlude(x, indices, fill, out=buffer)
        assert out.data_ptr() == buffer.data_ptr() and out.shape == (4, 2, 9, 11)
        for row, (_, y, x0) in zip(out, grid.origins(indices).tolist(), strict=True):
            expected = x.clone()
            value = fill[:, y : y + 3, x0 : x0 + 4] if isinstance(fill, torch.Tensor) else fill
            expected[:, y : y + 3, x0 : x0 + 4] = value
            assert torch.equal(row, expected)
    assert grid.occlude(x, indices[:1], 0.0).shape == (1, 2, 9, 11)


@pytest.mark.parametrize(
    "shape",
    [(3, 224, 224), (1, 16, 16), (3, 32, 48), (1, 100, 37), (2, 9, 9), (3, 1000, 600), (1, 40)],
)
def test_progressive_order(shape):
    window, stride = (8, 4) if shape[-1] > 16 else (4, 2)
    grid = OcclusionGrid.create(shape, window, stride)
    order = grid.progressive_order()
    assert torch.equal(order.sort().values, torch.arange(len(grid)))
    coarse = grid.coarse_count
    assert coarse <= max(0.1 * len(grid), 2 ** sum(c > 1 for c in grid.counts))
    corners = [list(c) for c in itertools.product(*[(0, n - 1) for n in grid.counts])]
    coarse_index = grid._grid_index(order[:coarse]).tolist()
    assert all(corner in coarse_index for corner in corners)  # spans the whole input
    values = torch.randn(len(grid))
    done = torch.zeros(len(grid), dtype=torch.bool)
    done[order[:coarse]] = True
    partial = grid.attribution(values, done)
    assert partial.shape == shape and bool(torch.isfinite(partial).all())
    assert torch.equal(grid.attribution(values, torch.ones_like(done)), grid.attribution(values))


@pytest.mark.parametrize("block", [2**22, 50])
@pytest.mark.parametrize(("shape", "fraction"), [((1, 40, 60), 0.03), ((4, 9, 7, 11), 0.01)])
def test_partial_map_takes_the_nearest_done_position(monkeypatch, block, shape, fraction):
    monkeypatch.setattr(grid_module, "_BLOCK_ELEMENTS", block)
    grid = OcclusionGrid.create(shape, 1, 1)
    torch.manual_seed(9)
    done = torch.rand(len(grid)) < fraction
    done[0] = True
    source = grid._nearest_done(done)
    assert bool(done[source].all()) and torch.equal(source[done], torch.nonzero(done).flatten())
    coords = grid._grid_index(torch.arange(len(grid))).double()
    nearest = torch.cdist(coords, coords[done]).min(1).values
    torch.testing.assert_close((coords - coords[source]).norm(dim=1), nearest)
    values = torch.randn(len(grid))
    torch.testing.assert_close(grid.attribution(values, done), grid.attribution(values[source]))
    nothing = grid.attribution(values, torch.zeros_like(done))
    assert torch.equal(nothing, torch.zeros(shape))


def test_shared_grids_are_bounded_in_bytes(monkeypatch):
    """Grids are shared while their worked-out tables fit the cache's byte budget."""
    cache = grid_module.ByteCache(budget=3 * 2**20)
    monkeypatch.setattr(grid_module, "_shared_grids", cache)
    grid = OcclusionGrid.create((1, 32, 32), 4, 2)
    assert OcclusionGrid.create((1, 32, 32), (4, 4), 2) is grid
    for size in range(16, 25):  # dense averaging matrices of 0.4 to 2.4 MiB
        other = OcclusionGrid.create((1, size, size), 2, 1)
        other.attribution(torch.zeros(len(other)))
    OcclusionGrid.create((1, 8, 8), 2, 1)  # a store measures what the others have grown to
    assert 2**20 < cache.nbytes <= 3 * 2**20
    assert ((1, 24, 24), (1, 2, 2), (1, 1, 1)) in cache
    assert ((1, 16, 16), (1, 2, 2), (1, 1, 1)) not in cache
