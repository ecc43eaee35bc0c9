"""How fast an exact digits sweep can be in eager PyTorch: the incremental sweep written by hand.

The digits CNN's floor (all 49 occluded copies through the model at once) takes a few
milliseconds, so a sweep there is bound by how many tensor operations it runs, not by its
multiply-adds. This script writes DigitsCNN's exact incremental sweep (window 4, stride 2) as
straight-line code: every index tensor is made beforehand and not timed; what is timed is one
clean pass (11 modules) and about two dozen tensor operations, with no plan, no checks and no
attribution. That is about as little as eager PyTorch can do for it, so ``floor / by hand``
bounds what ``nnwidgets.compute.occlusion`` can reach on this machine.

It checks the hand-written scores against the model on every occluded copy, then times the
floor, the hand-written sweep and ``occlusion`` alternately (min of 200 runs each). Run
``python benchmarks/occlusion_by_hand.py`` (about 10 s).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nnwidgets.compute import OcclusionGrid, occlusion
from nnwidgets.zoo.models import DigitsCNN

WINDOW, STRIDE = 4, 2


def pasted(rows, cols, width, clean_cells, top, left, size):
    """Rows of a table [clean map's cells; each copy's size x size patch] for cells (P, ...).

    ``rows`` and ``cols`` are cells of a map ``width`` wide; a cell inside copy p's patch at
    (top[p], left[p]) is taken from the patch, any other from the clean map.
    """
    shape = (-1,) + (1,) * (rows.ndim - 1)
    r, c = rows - top.view(shape), cols - left.view(shape)
    inside = (r >= 0) & (r < size) & (c >= 0) & (c < size)
    copy = torch.arange(len(top)).view(shape)
    patch = clean_cells + (copy * size + r.clamp(0, size - 1)) * size + c.clamp(0, size - 1)
    return torch.where(inside, patch, rows * width + cols).flatten()


def plan(grid: OcclusionGrid) -> dict[str, torch.Tensor]:
    """Index tensors of the hand-written sweep (made once, not timed)."""
    origin = grid.origins(torch.arange(len(grid)))
    r0, c0 = origin[:, 1], origin[:, 2]
    six, three, eight = torch.arange(6), torch.arange(3), torch.arange(8)

    def taps(top, left):  # (P, 6, 6, 3, 3) rows and columns of a 3x3 convolution's inputs
        rows = top.view(-1, 1, 1, 1, 1) + six.view(1, 6, 1, 1, 1) + three.view(1, 1, 1, 3, 1)
        cols = left.view(-1, 1, 1, 1, 1) + six.view(1, 1, 6, 1, 1) + three.view(1, 1, 1, 1, 3)
        return rows, cols

    # conv1 (padding 1) changes a 6x6 rectangle of its 16x16 output around the window
    t1, l1 = (r0 - 1).clamp(0, 10), (c0 - 1).clamp(0, 10)
    rows, cols = taps(t1, l1)  # on the 18x18 padded image

    def under(cells, start):  # padded cells under the window [start, start + 4)
        start = start.view(-1, 1, 1, 1, 1)
        return (cells - 1 >= start) & (cells - 1 < start + WINDOW)

    # pool1 changes a 4x4 rectangle of its 8x8 output; it reads an 8x8 window of conv1's
    tp = torch.div(r0 - 1, 2, rounding_mode="floor").clamp(0, 4)
    lp = torch.div(c0 - 1, 2, rounding_mode="floor").clamp(0, 4)
    pool_rows, pool_cols = (2 * tp)[:, None, None] + eight[:, None], (2 * lp)[:, None, None] + eight
    # conv2 (padding 1) changes a 6x6 rectangle of its 8x8 output
    t2, l2 = (tp - 1).clamp(0, 2), (lp - 1).clamp(0, 2)
    rows2, cols2 = taps(t2, l2)  # on pool1's 10x10 padded output
    whole = torch.arange(64)
    return {
        "conv1": (rows * 18 + cols).flatten(),
        "occluded": (under(rows, r0) & under(cols, c0)).flatten(),
        "pool1": pasted(pool_rows, pool_cols, 16, 256, t1, l1, 6),
        "conv2": pasted(rows2, cols2, 10, 100, tp + 1, lp + 1, 4),
        "pool2": pasted((whole // 8).expand(len(grid), 64), whole % 8, 8, 64, t2, l2, 6),
    }


def by_hand(model: DigitsCNN, x: torch.Tensor, index: dict, w1, w2) -> torch.Tensor:
    """Scores of all occluded copies (zero baseline): a clean pass, then the changed cells."""
    m, n = model, len(index["pool2"]) // 64
    c1 = m.relu1(m.conv1(x))
    p1 = m.pool1(c1)
    c2 = m.relu2(m.conv2(p1))
    m.fc2(m.relu3(m.fc1(m.flatten(m.pool2(c2)))))  # the clean scores
    taps = F.pad(x, (1, 1, 1, 1)).view(-1)[index["conv1"]].masked_fill_(index["occluded"], 0.0)
    o1 = torch.addmm(m.conv1.bias, taps.view(-1, 9), w1).relu_()
    t1 = torch.cat([c1[0].permute(1, 2, 0).reshape(-1, 16), o1])
    q1 = F.max_pool2d(t1[index["pool1"]].view(n, 8, 8, 16).permute(0, 3, 1, 2), 2)
    t2 = torch.cat([F.pad(p1, (1, 1, 1, 1))[0].permute(1, 2, 0).reshape(-1, 16),
                    q1.permute(0, 2, 3, 1).reshape(-1, 16)])  # fmt: skip
    o2 = torch.addmm(m.conv2.bias, t2[index["conv2"]].view(-1, 144), w2).relu_()
    t3 = torch.cat([c2[0].permute(1, 2, 0).reshape(-1, 32), o2])
    q2 = F.max_pool2d(t3[index["pool2"]].view(n, 8, 8, 32).permute(0, 3, 1, 2), 2)
    return m.fc2(m.fc1(q2.flatten(1)).relu_())


def main() -> None:
    torch.manual_seed(0)
    model, x = DigitsCNN().eval(), torch.rand(1, 1, 16, 16)
    grid = OcclusionGrid.create((1, 16, 16), WINDOW, STRIDE)
    index = plan(grid)
    copies = grid.occlude(x[0], torch.arange(len(grid)), 0.0)
    with torch.inference_mode():
        target = int(model(x).argmax())
        w1 = model.conv1.weight.permute(2, 3, 1, 0).reshape(9, 16).contiguous()
        w2 = model.conv2.weight.permute(2, 3, 1, 0).reshape(144, 32).contiguous()
        error = (by_hand(model, x, index, w1, w2) - model(copies)).abs().max()

    def floor() -> None:
        with torch.inference_mode():
            model(copies)

    def hand() -> None:
        with torch.inference_mode():
            by_hand(model, x, index, w1, w2)

    def ours() -> None:
        occlusion(model, x, WINDOW, STRIDE, target=target)

    best = {f: float("inf") for f in (floor, hand, ours)}
    for _ in range(200):
        for f in best:
            start = time.perf_counter()
            f()
            best[f] = min(best[f], time.perf_counter() - start)
    floor_time, hand_time, ours_time = best[floor], best[hand], best[ours]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        f"DigitsCNN 1x16x16 w{WINDOW} s{STRIDE}, {len(grid)} positions; by hand equals the "
        f"model to {error:.1e}"
    )
    print(
        f"floor {1e3 * floor_time:.2f} ms, by hand {1e3 * hand_time:.2f} ms, "
        f"nnwidgets {1e3 * ours_time:.2f} ms"
    )
    print(
        f"floor/by hand {floor_time / hand_time:.2f}x, floor/nnwidgets "
        f"{floor_time / ours_time:.2f}x, nnwidgets/by hand {ours_time / hand_time:.2f}x"
    )


if __name__ == "__main__":
    main()
