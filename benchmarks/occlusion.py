"""Occlusion sweep speed: nnwidgets vs captum vs the floor, side by side in one run.

For each model it times, on the same input:

- ours: ``nnwidgets.compute.occlusion`` (clean forward, sweep, attribution), default
  chunking and the exact incremental engine (on by default); also when the first complete
  coarse map was available (the progressive order puts the coarse lattice first);
- ours, full: the same with ``incremental=False`` (every occluded copy through the model);
- the share of the convolutions' multiply-adds the incremental engine computed, and its
  opt-in approximate mode (``approximate=0.5``) with its error against the exact map;
- captum: ``captum.attr.Occlusion(model).attribute`` with ``perturbations_per_eval=1``
  (its default), then at a few larger values, keeping the best;
- floor: forwards of all occluded copies, built beforehand, at the best batch size
  (probed on a slice first): the model's own time, nothing else.

Ours and the floor are timed alternately (min of several runs); captum's ResNet runs
once each. Run ``python benchmarks/occlusion.py`` (about 4 minutes on 2 CPU cores) or
with ``--quick`` (ResNet at 96x96, about a minute).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from captum.attr import Occlusion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nnwidgets.compute import OcclusionGrid, occlusion
from nnwidgets.compute._incremental import runner_for
from nnwidgets.compute._timing import best_of
from nnwidgets.testing import ResNet18
from nnwidgets.zoo.models import DigitsCNN


def run_ours(model, x, window, stride, target, coarse, **options):
    """Full sweep time and time to the first complete coarse map."""
    marks = []
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        marks.append((done, time.perf_counter() - start))

    occlusion(model, x, window, stride, target=target, progress=progress, **options)
    total = time.perf_counter() - start
    first_coarse = next(t for done, t in marks if done >= coarse)
    return total, first_coarse, len(marks)


def conv_fraction(model, x, grid):
    """Share of the convolutions' multiply-adds the incremental engine computes in a sweep."""
    with torch.inference_mode():
        return runner_for(model, x[0], grid).plan.fraction


def approximate(model, x, window, stride, target, limit=0.5):
    """Time and largest error (relative to the map's largest value) of the approximate mode."""
    exact = occlusion(model, x, window, stride, target=target)
    start = time.perf_counter()
    rough = occlusion(model, x, window, stride, target=target, approximate=limit)
    seconds = time.perf_counter() - start
    return seconds, float((rough - exact).abs().max() / exact.abs().max().clamp(min=1e-12))


def floor(model, x, grid, baseline, sizes, repeat):
    """Best batch size (probed on a slice) and the time to run all copies at it."""
    with torch.inference_mode():
        copies = grid.occlude(x[0], torch.arange(len(grid)), baseline)
        probe = copies[: max(sizes) * 2]

        def run(batch: torch.Tensor, size: int) -> None:
            for start in range(0, len(batch), size):
                model(batch[start : start + size])

        run(probe, max(sizes))  # warm up
        per_copy = {s: best_of(lambda s=s: run(probe, s), 1) / len(probe) for s in sizes}
        best = min(per_copy, key=per_copy.get)
        return best, best_of(lambda: run(copies, best), repeat)


def bench(name, model, x, window, stride, ppes, sizes, repeat, captum_repeat):
    model.eval()
    grid = OcclusionGrid.create(tuple(x.shape[1:]), window, stride)
    with torch.inference_mode():
        target = int(model(x).argmax())
    occlusion(model, x, tuple(x.shape[2:]), 1, target=target)  # warm up (one position)
    # Ours and the floor alternate, so that drifting load on a shared machine hits both.
    best_size, floor_time, ours_runs, full_runs = None, float("inf"), [], []
    for _ in range(repeat):
        ours_runs.append(run_ours(model, x, window, stride, target, grid.coarse_count))
        full_runs.append(
            run_ours(model, x, window, stride, target, grid.coarse_count, incremental=False)[0]
        )
        best_size, once = floor(model, x, grid, 0.0, (best_size,) if best_size else sizes, 1)
        floor_time = min(floor_time, once)
    ours, first, chunks = min(ours_runs, key=lambda r: r[0])
    rough_time, rough_error = approximate(model, x, window, stride, target)

    def captum(ppe: int) -> float:
        def call() -> None:
            Occlusion(model).attribute(
                x,
                sliding_window_shapes=grid.window,
                strides=grid.stride,
                target=target,
                perturbations_per_eval=ppe,
            )

        return best_of(call, captum_repeat)

    captum_default = captum(1)
    captum_by_ppe = {ppe: captum(ppe) for ppe in ppes}
    best_ppe = min(captum_by_ppe, key=captum_by_ppe.get)
    return {
        "case": name,
        "positions": len(grid),
        "ours": ours,
        "chunks": chunks,
        "coarse": first,
        "coarse_n": grid.coarse_count,
        "captum_1": captum_default,
        "captum_best": captum_by_ppe[best_ppe],
        "best_ppe": best_ppe,
        "floor": floor_time,
        "floor_batch": best_size,
        "ours_full": min(full_runs),
        "conv_fraction": conv_fraction(model, x, grid),
        "approximate": rough_time,
        "approximate_error": rough_error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="ResNet at 96x96 instead of 224")
    args = parser.parse_args()
    torch.manual_seed(0)
    side = 96 if args.quick else 224
    rows = [
        bench(
            "DigitsCNN 1x16x16 w4 s2",
            DigitsCNN(),
            torch.rand(1, 1, 16, 16),
            4,
            2,
            ppes=(7, 49),
            sizes=(7, 16, 49),
            repeat=20,
            captum_repeat=5,
        ),
        bench(
            f"ResNet-18 3x{side}x{side} w16 s8",
            ResNet18(),
            torch.rand(1, 3, side, side),
            16,
            8,
            ppes=(8, 32),
            sizes=(1, 2, 4, 8, 16, 32),
            repeat=3 if args.quick else 2,
            captum_repeat=3 if args.quick else 1,
        ),
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    header = (
        f"{'case':<30} {'pos':>5} {'ours ms':>9} {'captum(1) ms':>12} {'captum best ms':>14} "
        f"{'floor ms':>9} {'captum(1)/ours':>14} {'captum best/ours':>16} {'ours/floor':>10} "
        f"{'coarse map':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['case']:<30} {r['positions']:>5} {1e3 * r['ours']:>9.2f} "
            f"{1e3 * r['captum_1']:>12.2f} {1e3 * r['captum_best']:>14.2f} "
            f"{1e3 * r['floor']:>9.2f} {r['captum_1'] / r['ours']:>14.2f} "
            f"{r['captum_best'] / r['ours']:>16.2f} {r['ours'] / r['floor']:>10.3f} "
            f"{r['coarse'] / r['ours']:>10.1%}"
        )
    print()
    for r in rows:
        print(
            f"{r['case']}: captum best at perturbations_per_eval={r['best_ppe']}, floor at "
            f"batch {r['floor_batch']}, ours in {r['chunks']} chunks; first complete coarse "
            f"map ({r['coarse_n']} of {r['positions']} positions) after {1e3 * r['coarse']:.2f} ms"
        )
    print()
    for r in rows:
        print(
            f"{r['case']}: incremental {1e3 * r['ours']:.2f} ms vs full recomputation "
            f"{1e3 * r['ours_full']:.2f} ms (ours) / floor {1e3 * r['floor']:.2f} ms / captum(1) "
            f"{1e3 * r['captum_1']:.2f} ms: floor/incremental {r['floor'] / r['ours']:.2f}x, "
            f"captum(1)/incremental {r['captum_1'] / r['ours']:.2f}x; conv multiply-adds "
            f"computed {r['conv_fraction']:.1%} of full recomputation; approximate=0.5 "
            f"{1e3 * r['approximate']:.2f} ms, largest error {r['approximate_error']:.1%} "
            "of the peak"
        )


if __name__ == "__main__":
    main()
