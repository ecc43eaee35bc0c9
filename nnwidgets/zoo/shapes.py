"""Synthetic "Clever Hans" shapes: a faint shape on a noisy background plus a label-leaking mark.

Each 3x32x32 image holds one circle, square or triangle of random size, position and
colour, drawn with low contrast on a textured, noisy background. A small bright mark of
a fixed colour sits in a corner that depends on the class (circle: top-left, square:
top-right, triangle: bottom-left). In training data the mark always matches the label,
so a network can (and does) learn the mark instead of the shape. Shapes never reach into
any of the four corner zones, so shape and mark never overlap.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

CLASSES: list[str] = ["circle", "square", "triangle"]
"""Class names, in label order."""

SIZE = 32
"""Height and width of the images."""

MARK_SIZE = 4
"""Side of the square mark, in pixels."""

MARK_MARGIN = 2
"""Distance of the mark from the image border, in pixels."""

MARK_COLOR: tuple[float, float, float] = (1.0, 0.0, 1.0)
"""RGB colour of the mark (bright magenta)."""

CORNER_ZONE = 8
"""Side of the square zone at each corner that shapes never enter."""

_FAR = SIZE - MARK_MARGIN - MARK_SIZE
_MARK_ORIGINS: tuple[tuple[int, int], ...] = (
    (MARK_MARGIN, MARK_MARGIN),  # circle: top-left
    (MARK_MARGIN, _FAR),  # square: top-right
    (_FAR, MARK_MARGIN),  # triangle: bottom-left
)
_SUPERSAMPLE = 2
_CHUNK = 1024


class ShapesData(NamedTuple):
    """Images, labels and mark positions made by :func:`make_shapes`."""

    images: torch.Tensor
    """float32, shape (N, 3, 32, 32), values in [0, 1]."""
    targets: torch.Tensor
    """int64, shape (N,), values 0..2 (see :data:`CLASSES`)."""
    mark_boxes: torch.Tensor
    """int64, shape (N, 4): (y0, x0, y1, x1) of the label's mark, end exclusive."""


def mark_box(label: int) -> tuple[int, int, int, int]:
    """Return the box of the mark that leaks class ``label``.

    Parameters
    ----------
    label
        Class index, 0..2.

    Returns
    -------
    tuple of int
        ``(y0, x0, y1, x1)`` with exclusive ends.
    """
    if not 0 <= int(label) < len(CLASSES):
        raise ValueError(f"label must be in 0..{len(CLASSES) - 1}, got {label!r}")
    y0, x0 = _MARK_ORIGINS[int(label)]
    return (y0, x0, y0 + MARK_SIZE, x0 + MARK_SIZE)


def paint_mark(images: torch.Tensor, labels: int | torch.Tensor) -> torch.Tensor:
    """Return a copy of ``images`` with the mark of class ``labels`` painted in.

    Painting the mark of another class onto a clean image (see ``clean_images`` of
    :func:`nnwidgets.zoo.clever_hans`) moves the shortcut to that class.

    Parameters
    ----------
    images
        float tensor of shape (N, 3, 32, 32) or (3, 32, 32).
    labels
        One class index for all images, or an int tensor of shape (N,).

    Returns
    -------
    torch.Tensor
        New tensor of the same shape and dtype as ``images``.
    """
    out = images.clone()
    batch = out if out.dim() == 4 else out.unsqueeze(0)
    per_image = torch.as_tensor(labels, dtype=torch.int64).expand(batch.shape[0])
    color = torch.tensor(MARK_COLOR, dtype=out.dtype, device=out.device).view(3, 1, 1)
    for i, label in enumerate(per_image.tolist()):
        y0, x0, y1, x1 = mark_box(label)
        batch[i, :, y0:y1, x0:x1] = color
    return out


def make_shapes(n: int, seed: int = 0, mark: bool = True) -> ShapesData:
    """Generate ``n`` Clever Hans shape images, deterministically from ``seed``.

    The same ``n`` and ``seed`` with ``mark=False`` give exactly the same images without
    the mark, so clean and marked versions can be compared pixel by pixel.

    Parameters
    ----------
    n
        Number of images; classes are balanced (counts differ by at most one).
    seed
        Seed of the generator.
    mark
        Whether to paint the label-leaking mark.

    Returns
    -------
    ShapesData
        ``images`` (N, 3, 32, 32) float32 in [0, 1], ``targets`` (N,) int64 and
        ``mark_boxes`` (N, 4) int64, the box of the label's mark (also given when
        ``mark=False``, where the mark would be).
    """
    images, targets, mark_boxes, _ = render(n, seed, mark)
    return ShapesData(images, targets, mark_boxes)


def render(
    n: int, seed: int = 0, mark: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Generate images like :func:`make_shapes` and also return the shapes' boxes.

    Parameters
    ----------
    n
        Number of images.
    seed
        Seed of the generator.
    mark
        Whether to paint the label-leaking mark.

    Returns
    -------
    tuple of torch.Tensor
        ``images``, ``targets``, ``mark_boxes`` as in :func:`make_shapes`, and
        ``shape_boxes`` (N, 4) int64, the (y0, x0, y1, x1) bounding box of each shape.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    targets = rng.permutation(np.arange(n) % len(CLASSES))
    params = _sample_params(rng, targets)
    images = (
        torch.cat([_draw(params, targets, slice(i, i + _CHUNK)) for i in range(0, n, _CHUNK)])
        if n
        else torch.zeros(0, 3, SIZE, SIZE)
    )
    targets_t = torch.as_tensor(targets, dtype=torch.int64)
    if mark:
        images = paint_mark(images, targets_t)
    mark_boxes = torch.tensor([mark_box(t) for t in targets], dtype=torch.int64).reshape(n, 4)
    half = params["half"]
    shape_boxes = np.stack(
        [
            params["cy"] - half,
            params["cx"] - half,
            params["cy"] + half + 1,
            params["cx"] + half + 1,
        ],
        axis=1,
    )
    return images, targets_t, mark_boxes, torch.as_tensor(shape_boxes, dtype=torch.int64)


def _sample_params(rng: np.random.Generator, targets: np.ndarray) -> dict[str, np.ndarray]:
    n = len(targets)
    half = rng.integers(3, 8, size=n)  # shapes 7..15 px wide
    lo, hi = 4 + half, SIZE - 5 - half  # bounding box inside [4, 28)
    cy = rng.integers(lo, hi + 1)
    cx = rng.integers(lo, hi + 1)
    # Re-draw positions whose bounding box reaches into a corner zone.
    for _ in range(100):
        bad = _in_corner(cy - half, cy + half) & _in_corner(cx - half, cx + half)
        if not bad.any():
            break
        cy[bad] = rng.integers(lo[bad], hi[bad] + 1)
        cx[bad] = rng.integers(lo[bad], hi[bad] + 1)
    else:  # pragma: no cover - vanishingly unlikely
        raise RuntimeError("could not place shapes away from the corners")
    base = rng.uniform(0.25, 0.65, size=(n, 3))
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    contrast = rng.uniform(0.15, 0.35, size=(n, 1))
    return {
        "half": half,
        "cy": cy,
        "cx": cx,
        "flip": rng.random(n) < 0.5,  # triangles point up or down
        "base": base,
        "shape_color": np.clip(base + contrast * direction, 0.0, 1.0),
        "texture": rng.normal(scale=0.08, size=(n, 3, 4, 4)),
        "noise_std": rng.uniform(0.03, 0.08, size=n),
        "noise": rng.normal(size=(n, 3, SIZE, SIZE)),
    }


def _in_corner(lo: np.ndarray, hi_inclusive: np.ndarray) -> np.ndarray:
    """Whether the pixel range [lo, hi] on one axis reaches a corner zone on that axis."""
    return (lo < CORNER_ZONE) | (hi_inclusive >= SIZE - CORNER_ZONE)


def _draw(params: dict[str, np.ndarray], targets: np.ndarray, part: slice) -> torch.Tensor:
    def take(key: str) -> torch.Tensor:
        return torch.as_tensor(params[key][part], dtype=torch.float32)

    half, cy, cx, flip = take("half"), take("cy"), take("cx"), take("flip")
    label = torch.as_tensor(targets[part])
    m = len(label)
    # Shape coverage from a supersampled grid of pixel-centre offsets.
    s = _SUPERSAMPLE
    grid = (torch.arange(SIZE * s, dtype=torch.float32) + 0.5) / s - 0.5
    dy = grid.view(1, -1, 1) - cy.view(-1, 1, 1)
    dx = grid.view(1, 1, -1) - cx.view(-1, 1, 1)
    r = half.view(-1, 1, 1) + 0.5
    circle = dy**2 + dx**2 <= r**2
    square = (dy.abs() <= r * 0.9) & (dx.abs() <= r * 0.9)
    depth = torch.where(flip.view(-1, 1, 1) > 0, r - dy, dy + r)  # 0 at apex, 2r at base
    triangle = (depth >= 0) & (depth <= 2 * r) & (dx.abs() <= depth / 2)
    masks = torch.stack([circle, square, triangle], dim=1).float()
    mask = masks[torch.arange(m), label].unsqueeze(1)
    coverage = F.avg_pool2d(mask, s)  # (m, 1, 32, 32)

    base = take("base").view(m, 3, 1, 1)
    texture = F.interpolate(
        take("texture"), size=(SIZE, SIZE), mode="bilinear", align_corners=False
    )
    background = base + texture
    shape_color = take("shape_color").view(m, 3, 1, 1)
    image = background * (1 - coverage) + (shape_color + texture) * coverage
    image = image + take("noise_std").view(m, 1, 1, 1) * take("noise")
    return image.clamp_(0.0, 1.0)
