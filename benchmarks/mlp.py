"""What one MLPExplorer frame costs: every unit's map of a 2-16-16-16-2 MLP at 200x200.

Run:  python benchmarks/mlp.py

Prints the time of the grid evaluation (one forward pass of the whole grid, every layer's pre-
and post-activations kept), of the uint8 quantization and wire encoding, and the encoded size;
then the same at the explorer's default 64x64 and the training steps per second of the default
2-4-4-2 tanh network.
"""

from __future__ import annotations

import torch

import nnwidgets as nw
from nnwidgets._serialization import tensor_to_json
from nnwidgets.compute import Trainer, build_mlp, unit_maps
from nnwidgets.compute._quantize import symmetric_codes
from nnwidgets.compute._timing import best_of


def frame(hidden: tuple[int, ...], resolution: int) -> None:
    model = build_mlp(2, hidden, 2, "tanh")
    maps = unit_maps(model, resolution=resolution)
    rows = torch.cat(maps.post)
    limits = rows.flatten(1).abs().amax(1).clamp(min=1e-6)

    def encode():
        return tensor_to_json(symmetric_codes(rows, limits), None)

    evaluate = best_of(lambda: unit_maps(model, resolution=resolution), 20)
    encoding = best_of(encode, 20)
    size = encode()["buffer"].nbytes
    units = rows.shape[0]
    shape = "-".join(map(str, (2, *hidden, 2)))
    print(f"{shape} MLP, {units} units at {resolution}x{resolution}:")
    print(f"  grid evaluation   {evaluate * 1000:6.2f} ms")
    print(f"  quantize + encode {encoding * 1000:6.2f} ms")
    total = (evaluate + encoding) * 1000
    print(f"  total             {total:6.2f} ms, payload {size / 1e6:.2f} MB")


def training_rate() -> None:
    x, y = nw.zoo.toy_data("spirals")
    trainer = Trainer(build_mlp(2, (4, 4), 2, "tanh"), x[:200], y[:200], x[200:], y[200:])
    seconds = best_of(lambda: trainer.step(100), repeat=5)
    print(f"default 2-4-4-2 tanh network: {100 / seconds:,.0f} SGD steps per second (batch 10)")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    frame((16, 16, 16), 200)
    frame((4, 4), 64)
    torch.set_grad_enabled(True)
    training_rate()
