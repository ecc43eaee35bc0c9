"""Train the shipped demo models of ``nnwidgets.zoo`` on CPU and write their weights.

Usage: ``python scripts/train_zoo.py [--only digits|shapes]``

Deterministic: fixed seeds, deterministic algorithms and one thread, so rerunning on the
same machine and torch version writes the same weights (other CPUs or torch versions may
differ in the last bits). Takes well under a minute on a laptop.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source tree

from nnwidgets.zoo import SHAPES_TEST_SEED, SHAPES_TEST_SIZE
from nnwidgets.zoo._demo import WEIGHTS_DIR
from nnwidgets.zoo.digits import load_split
from nnwidgets.zoo.models import DigitsCNN, ShapesCNN
from nnwidgets.zoo.shapes import CLASSES, paint_mark, render

SHAPES_TRAIN_SEED = 1
SHAPES_TRAIN_SIZE = 6000


def train(
    model: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
) -> None:
    """Train ``model`` with Adam and a cosine learning-rate schedule."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(images) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=gen)
        total = 0.0
        for start in range(0, len(images), batch_size):
            idx = order[start : start + batch_size]
            x = images[idx]
            if augment is not None:
                x = augment(x, gen)
            loss = F.cross_entropy(model(x), targets[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"  epoch {epoch + 1:2d}/{epochs}  loss {total / len(images):.4f}")
    model.eval()


def shift(x: torch.Tensor, gen: torch.Generator, max_shift: int = 1) -> torch.Tensor:
    """Shift each image by up to ``max_shift`` pixels, filling with zeros."""
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=gen).tolist()
    return torch.stack(
        [padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets)]
    )


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Predicted class of each image."""
    return model(images).argmax(1)


def save(model: nn.Module, name: str) -> Path:
    """Write the model's float32 state dict into the zoo's weights folder."""
    path = WEIGHTS_DIR / name
    state = {
        k: v.detach().to(torch.float32).clone().contiguous() for k, v in model.state_dict().items()
    }
    torch.save(state, path)
    print(f"  wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return path


def train_digits() -> None:
    """Train and save the digits CNN."""
    print("digits")
    train_split, test_split = load_split("train"), load_split("test")
    torch.manual_seed(0)
    model = DigitsCNN()
    train(
        model,
        train_split.images,
        train_split.targets,
        epochs=30,
        lr=3e-3,
        batch_size=64,
        seed=0,
        augment=shift,
    )
    acc = (predict(model, test_split.images) == test_split.targets).float().mean()
    print(f"  test accuracy {acc:.4f} on {len(test_split.targets)} held-out images")
    save(model, "digits_cnn.pt")


def train_shapes() -> None:
    """Train and save the Clever Hans shapes CNN, and measure how much it relies on the mark."""
    print("clever hans shapes")
    images, targets, _, _ = render(SHAPES_TRAIN_SIZE, SHAPES_TRAIN_SEED, mark=True)
    torch.manual_seed(0)
    model = ShapesCNN(num_classes=len(CLASSES))
    train(model, images, targets, epochs=4, lr=2e-3, batch_size=64, seed=1)

    test, y, _, _ = render(SHAPES_TEST_SIZE, SHAPES_TEST_SEED, mark=True)
    clean = render(SHAPES_TEST_SIZE, SHAPES_TEST_SEED, mark=False)[0]
    moved_to = (y + 1) % len(CLASSES)
    moved = paint_mark(clean, moved_to)
    print(f"  test accuracy with mark   {(predict(model, test) == y).float().mean():.4f}")
    print(f"  test accuracy, clean      {(predict(model, clean) == y).float().mean():.4f}")
    print(f"  follows a moved mark      {(predict(model, moved) == moved_to).float().mean():.4f}")
    print(f"  clean predictions per class {predict(model, clean).bincount(minlength=3).tolist()}")
    save(model, "shapes_cnn.pt")


def main() -> None:
    """Parse arguments and train."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["digits", "shapes"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    for name, fn in [("digits", train_digits), ("shapes", train_shapes)]:
        if args.only in (None, name):
            start = time.perf_counter()
            fn()
            print(f"  {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
