"""Occlusion of a 4000x4000 image within a memory budget of two copies, against its floor.

Run:  python benchmarks/huge_image.py

Prints the time of ``occlusion`` on 16 positions of a 4000x4000 RGB image with room for two
occluded copies at once, the time of the same 17 forwards (the unoccluded image and 16 copies,
two at a time) run by hand, and their ratio (tests/compute/test_occlusion.py checks the budget
is kept; this says what it costs).
"""

from __future__ import annotations

import torch

from nnwidgets.compute import OcclusionGrid, occlusion
from nnwidgets.compute._timing import best_of
from nnwidgets.testing import tiny_pool_net


def main() -> None:
    model = tiny_pool_net()
    image = torch.rand(1, 3, 4000, 4000)
    budget = 2 * image.numel() * 4 + 1
    ours = best_of(
        lambda: occlusion(model, image, 1000, 1000, memory_budget=budget, incremental=False)
    )
    grid = OcclusionGrid.create(image.shape[1:], 1000, 1000)

    def by_hand() -> None:
        with torch.inference_mode():
            model(image)
            for start in range(0, len(grid), 2):
                model(grid.occlude(image[0], torch.arange(start, start + 2), 0.0))

    floor = best_of(by_hand)
    print(f"occlusion() {ours:.2f} s, the same forwards by hand {floor:.2f} s")
    print(f"ratio ours / by hand: {ours / floor:.2f}")


if __name__ == "__main__":
    main()
