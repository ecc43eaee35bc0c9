"""Whole-layer activation maximization: our batched synthesis vs torch-lucent one unit at a time.

Run:  python benchmarks/synthesis.py [--quick]

Both render the same units at equal settings: image size with no upsampling, steps, a Fourier
parameterization (decorrelated colour for 3 channels), jitter/scale/rotation transforms and
Adam at lr 0.05. Prints, measured side by side in one run: the time of the whole set of units,
the ratio lucent / ours, the time to the first visible image of one unit, and the forward
hooks each leaves on the model.

torch-lucent is a benchmark-only dependency that imports torchvision, which does not import
beside the CPU torch here. Install it without its dependencies:
    pip install --no-deps torch-lucent kornia kornia_rs decorator tqdm pillow
This script gives it a minimal stand-in for the one torchvision name it uses.
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nnwidgets.compute import synthesize
from nnwidgets.testing import ResNet18
from nnwidgets.zoo.models import DigitsCNN


def import_lucent():
    """Import torch-lucent with a stand-in for torchvision (its only use: Normalize).

    Also gives today's kornia the two names lucent 0.1.8 still looks for at the top level.
    """
    if "torchvision" not in sys.modules:

        class Normalize(nn.Module):
            def __init__(self, mean, std):
                super().__init__()
                self.mean = torch.tensor(mean).reshape(-1, 1, 1)
                self.std = torch.tensor(std).reshape(-1, 1, 1)

            def forward(self, x):
                return (x - self.mean) / self.std

        vision = types.ModuleType("torchvision")
        vision.transforms = types.ModuleType("torchvision.transforms")
        vision.transforms.Normalize = Normalize
        vision.models = types.ModuleType("torchvision.models")
        sys.modules.update(
            {
                "torchvision": vision,
                "torchvision.transforms": vision.transforms,
                "torchvision.models": vision.models,
            }
        )
    import kornia
    from kornia.geometry import transform as geometry

    for name in ("get_rotation_matrix2d", "warp_affine"):  # moved in kornia >= 0.7
        if not hasattr(kornia, name):
            setattr(kornia, name, getattr(geometry, name))
    from lucent.optvis import param, render, transform

    return param, render, transform


def hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def lucent_units(model, layer, units, size, channels, steps, lucent) -> tuple[float, int]:
    param, render, transform = lucent
    pad = max(1, round(size * 12 / 224))
    transforms = [
        transform.pad(pad, mode="constant", constant_value=0.5),
        transform.jitter(2 * pad + 1),
        transform.random_scale([1 + (i - 5) / 50 for i in range(11)]),
        transform.random_rotate(list(range(-10, 11))),
    ]
    started = time.perf_counter()
    for unit in units:
        render.render_vis(
            model,
            f"{layer}:{unit}",
            param_f=lambda: param.image(size, channels=None if channels == 3 else channels),
            transforms=transforms,
            thresholds=(steps,),
            preprocess=False,
            progress=False,
            show_image=False,
            fixed_image_size=size,
        )
    return time.perf_counter() - started, hooks(model)


def ours(model, layer, units, size, channels, steps) -> tuple[float, int]:
    started = time.perf_counter()
    synthesize(model, layer, list(units), size=size, channels=channels, steps=steps)
    return time.perf_counter() - started, hooks(model)


def first_image(model, layer, unit, size, channels, steps) -> float:
    started = time.perf_counter()
    seen: list[float] = []

    def progress(step, total, images):
        seen.append(time.perf_counter() - started)
        return True  # the first preview is what we time

    synthesize(model, layer, unit, size=size, channels=channels, steps=steps, progress=progress)
    return seen[0]


def bench(name, make_model, layer, units, size, channels, steps, lucent) -> None:
    print(f"\n{name}: {len(units)} units of {layer}, {size}x{size}x{channels}, {steps} steps")
    model = make_model()
    ours(model, layer, units[:1], size, channels, 2)  # warm up
    ours_s, ours_hooks = ours(model, layer, units, size, channels, steps)
    first = first_image(make_model(), layer, units[0], size, channels, steps)
    model = make_model()
    lucent_s, lucent_hooks = lucent_units(model, layer, units, size, channels, steps, lucent)
    print(f"  ours, batched:        {ours_s:7.2f} s   hooks left: {ours_hooks}")
    print(f"  lucent, one by one:   {lucent_s:7.2f} s   hooks left: {lucent_hooks}")
    print(f"  lucent / ours:        {lucent_s / ours_s:7.1f}x")
    print(f"  first visible image:  {first:7.2f} s (ours, one unit)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and units")
    args = parser.parse_args()
    torch.manual_seed(0)
    lucent = import_lucent()
    steps = 32 if args.quick else 256
    digits = list(range(8 if args.quick else 32))
    bench("DigitsCNN", lambda: DigitsCNN().eval(), "conv2", digits, 16, 1, steps, lucent)
    resnet = list(range(4 if args.quick else 16))
    bench("ResNet-18-shaped", lambda: ResNet18().eval(), "layer3", resnet, 128, 3, steps, lucent)


if __name__ == "__main__":
    main()
