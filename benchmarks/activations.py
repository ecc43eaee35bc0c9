"""ActivationExplorer speed: a new input to the payload of a layer's tiles, against the goals.

For each model (the digits CNN; a ResNet-18-shaped model at 224x224 built in plain torch)
and each layer it times, on a new input each run:

- ours: ``nw.compute.activation_grids(model, image, layer)`` (one forward with a hook,
  every channel of the layer as uint8 tiles on one scale, the layer's statistics, the
  prediction) and the tiles serialized for the wire (``tensor_to_json``): end to end
  from a new input to the payload;
- forward: the model alone on the same inputs under ``torch.inference_mode``;

the two alternately, input by input, so that the load of a shared machine falls on both
alike. It prints the median and best of the runs, ours / forward (and the difference of
the best runs: what ours adds to the forward), the payload's size, and ours against the
issue's goal (under 50 ms for the digits CNN, under 300 ms for the ResNet). Also the
digits CNN with every spatial layer at once (the default) and a ResNet layer with
per-channel scaling. Run ``python benchmarks/activations.py`` (one to three minutes on 2
shared CPU cores), ``--quick`` (fewer runs) or ``--device cuda`` (the models on a GPU,
the inputs starting on the CPU as a widget's do).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nnwidgets._serialization import tensor_to_json
from nnwidgets.compute import activation_grids
from nnwidgets.testing import ResNet18
from nnwidgets.zoo import digits


def paired_times(
    ours: Callable[[torch.Tensor], object],
    forward: Callable[[torch.Tensor], object],
    inputs: Sequence[torch.Tensor],
) -> tuple[list[float], list[float]]:
    """Seconds of ``ours`` and ``forward`` on each new input, run alternately (a shared
    machine's load then falls on both alike), after a warm-up of each."""
    ours(inputs[-1])
    forward(inputs[-1])
    spent: tuple[list[float], list[float]] = ([], [])
    for x in inputs:
        for fn, into in ((ours, spent[0]), (forward, spent[1])):
            start = time.perf_counter()
            fn(x)
            into.append(time.perf_counter() - start)
    return spent


def payload(model: nn.Module, layers: str | None, scaling: str) -> Callable[[torch.Tensor], int]:
    """A new input to the wire dicts of every asked layer's tiles; returns their bytes."""

    def run(image: torch.Tensor) -> int:
        grids = activation_grids(model, image, layers, scaling=scaling)
        wire = [tensor_to_json(grid.tiles) for grid in grids.layers.values()]
        return sum(w["buffer"].nbytes for w in wire)

    return run


def plain_forward(model: nn.Module, device: torch.device) -> Callable[[torch.Tensor], None]:
    """The model alone on a new input (moved to its device), finished."""

    def run(image: torch.Tensor) -> None:
        with torch.inference_mode():
            model(image[None].to(device))
        if device.type == "cuda":
            torch.cuda.synchronize()

    return run


def bench(
    name: str,
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    layers: Sequence[str | None],
    goal: float,
    scaling: str = "layer",
) -> None:
    device = next(model.parameters()).device
    print(
        f"\n{name} on {device}: input {tuple(inputs[0].shape)}, {len(inputs)} new inputs per "
        f"layer; goal under {goal * 1e3:.0f} ms; times in ms, median / best"
    )
    forward = plain_forward(model, device)
    for layer in layers:
        grids = activation_grids(model, inputs[0], layer, scaling=scaling)
        shapes = [tuple(g.tiles.shape) for g in grids.layers.values()]
        what = f"{layer} {shapes[0]}" if layer is not None else f"all {len(shapes)} spatial"
        run = payload(model, layer, scaling)
        ours, alone = paired_times(run, forward, inputs)
        median, best = statistics.median(ours), min(ours)
        print(
            f"  {what:<22} {scaling:<7} ours {median * 1e3:6.1f} / {best * 1e3:6.1f}, forward "
            f"{statistics.median(alone) * 1e3:6.1f} / {min(alone) * 1e3:6.1f}; ours / forward "
            f"{median / statistics.median(alone):4.2f}x / {best / min(alone):4.2f}x "
            f"(+{(best - min(alone)) * 1e3:.1f} ms); "
            f"{run(inputs[0]) / 1024:4.0f} KiB; goal: median "
            f"{'meets' if median < goal else 'MISSES'}, best {'meets' if best < goal else 'MISSES'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument(
        "--device", default="cpu", help="where the models run (inputs start on the CPU)"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    demo = digits()
    images = list(demo.images[: 20 if args.quick else 100])
    model = demo.model.eval().to(device)
    bench("digits CNN", model, images, ["conv1", "relu2", "pool2", None], 0.050)
    resnet = ResNet18().eval().to(device)
    photos = [torch.rand(3, 224, 224) for _ in range(3 if args.quick else 10)]
    layers = ["relu", "layer1", "layer2", "layer3", "layer4"]
    bench("ResNet-18-shaped", resnet, photos, layers, 0.300)
    bench("ResNet-18-shaped", resnet, photos, ["layer1"], 0.300, scaling="channel")


if __name__ == "__main__":
    main()
