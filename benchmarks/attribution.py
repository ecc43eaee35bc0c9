"""LIME and integrated gradients speed: nnwidgets vs Captum vs the `lime` package, one run.

For each model (the digits CNN; a ResNet-18-shaped model built in plain torch) it times,
on one image, with the same feature mask (a grid of 64 superpixels) and the same number
of perturbed samples:

- ours: ``nw.compute.attribution(model, x, "lime", ...)``, perturbed inputs batched within
  the default memory budget;
- captum: ``captum.attr.Lime(model).attribute(...)``, its default call
  (``perturbations_per_eval=1``: one perturbed input per forward pass);
- lime: the ``lime`` package's ``LimeImageExplainer().explain_instance`` with its defaults
  (``batch_size=10``), our mask as ``segmentation_fn``, one label, ``hide_color=0``;

then integrated gradients, ours (chunked to the memory budget) vs Captum's default call
(all 50 steps in one batch). It prints the times and the ratios (the goal for LIME: ours
at least 5x faster than both). Each time is the best of three runs (of one run where it
takes over 5 s), after a warm-up call of ours.

Run ``python benchmarks/attribution.py`` (a few minutes on 2 CPU cores) or ``--quick``
(ResNet at 112x112, fewer samples).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from captum.attr import IntegratedGradients, Lime
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nnwidgets.compute import attribution
from nnwidgets.compute._timing import best_of
from nnwidgets.compute.attribution.superpixels import grid_segments
from nnwidgets.testing import ResNet18
from nnwidgets.zoo import digits

try:
    from lime.lime_image import LimeImageExplainer
except ImportError:  # pip install lime (needs scikit-image)
    LimeImageExplainer = None


def seconds(fn: Callable[[], object]) -> float:
    """Best of three runs, or the one run if it takes over five seconds (a shared machine)."""

    def quiet() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()

    return best_of(quiet, 3, enough=5)


def lime_package(model: nn.Module, x: torch.Tensor, mask: torch.Tensor, target: int, n: int):
    """The lime package's explain_instance with its defaults, our superpixels."""
    image = x[0].permute(1, 2, 0).double().numpy()
    segments = mask.numpy()

    def classify(batch: np.ndarray) -> np.ndarray:
        inputs = torch.from_numpy(batch).permute(0, 3, 1, 2).float()
        with torch.inference_mode():
            return model(inputs).numpy()

    with contextlib.redirect_stderr(io.StringIO()):  # its progress bar
        return LimeImageExplainer(random_state=0).explain_instance(
            image,
            classify,
            labels=(target,),
            top_labels=None,
            hide_color=0,
            num_samples=n,
            segmentation_fn=lambda _: segments,
        )


def bench(name: str, model: nn.Module, x: torch.Tensor, n_samples: int) -> None:
    with torch.inference_mode():
        target = int(model(x).argmax(1))
    mask = grid_segments(x.shape[-2], x.shape[-1], 64)
    options = dict(feature_mask=mask, n_samples=n_samples)
    print(f"\n{name}: input {tuple(x.shape[1:])}, LIME with {n_samples} samples, 64 superpixels")
    attribution(model, x, "lime", target, **options)  # warm-up
    ours = seconds(lambda: attribution(model, x, "lime", target, **options))
    captum = seconds(
        lambda: Lime(model).attribute(x, target=target, feature_mask=mask, n_samples=n_samples)
    )
    print(f"  ours    {ours:7.2f} s")
    print(f"  captum  {captum:7.2f} s   captum / ours = {captum / ours:5.1f}x")
    if LimeImageExplainer is not None:
        package = seconds(lambda: lime_package(model, x, mask, target, n_samples))
        print(f"  lime    {package:7.2f} s   lime / ours   = {package / ours:5.1f}x")
    else:
        print("  lime    not installed (pip install lime)")
    ig_ours = seconds(lambda: attribution(model, x, "integrated_gradients", target))
    ig_captum = seconds(lambda: IntegratedGradients(model).attribute(x, target=target))
    print(
        f"  integrated gradients (50 steps): ours {ig_ours:.2f} s, captum {ig_captum:.2f} s, "
        f"captum / ours = {ig_captum / ig_ours:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller ResNet input and runs")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    demo = digits()
    bench("digits CNN", demo.model.eval(), demo.images[:1], 300 if args.quick else 1000)
    size, samples = (112, 100) if args.quick else (224, 300)
    bench("ResNet-18-shaped", ResNet18().eval(), torch.rand(1, 3, size, size), samples)


if __name__ == "__main__":
    main()
