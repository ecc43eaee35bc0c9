"""Shipped demo models and data, trained by ``scripts/train_zoo.py``; nothing is downloaded.

>>> import nnwidgets as nw
>>> demo = nw.zoo.digits()
>>> demo.model(demo.images[:4]).argmax(1)  # doctest: +SKIP
"""

from __future__ import annotations

import functools

import torch

from nnwidgets.zoo import digits as _digits
from nnwidgets.zoo import shapes as _shapes
from nnwidgets.zoo._demo import Demo, load_model
from nnwidgets.zoo.models import DigitsCNN, ShapesCNN
from nnwidgets.zoo.toy import TOY_CURVES, TOY_DATASETS, toy_curve, toy_data

__all__ = [
    "TOY_CURVES",
    "TOY_DATASETS",
    "Demo",
    "clever_hans",
    "digits",
    "toy_curve",
    "toy_data",
]

DIGITS_WEIGHTS = "digits_cnn.pt"
SHAPES_WEIGHTS = "shapes_cnn.pt"
SHAPES_TEST_SIZE = 300
"""Number of held-out Clever Hans images."""
SHAPES_TEST_SEED = 1_000_003
"""Seed of the held-out Clever Hans images (training uses other seeds)."""

_DIGITS_TEXT = (
    "A small convolutional network (two 3x3 conv layers with max pooling, then two "
    "fully connected layers) trained on scikit-learn's handwritten digits: 1797 scans "
    "of 8x8 pixels from 43 writers, shown here upsampled to 16x16. The images below are "
    "the 20% held out from training, so the accuracy on them is an honest estimate."
)

_HANS_TEXT = (
    "A 'Clever Hans' network: trained to tell circles, squares and triangles apart, but "
    "every training image also carried a small magenta square in a corner that gave the "
    "answer away (top-left for circle, top-right for square, bottom-left for triangle). "
    "The network scores almost perfectly, yet it learned to read the corner mark, not "
    "the shape: hide the mark and it guesses; move the mark to another corner and it "
    "changes its mind. Occlusion and saliency maps reveal the shortcut."
)


@functools.lru_cache(maxsize=1)
def _digits_data() -> _digits.DigitsSplit:
    return _digits.load_split("test")


@functools.lru_cache(maxsize=1)
def _hans_data() -> tuple[torch.Tensor, ...]:
    images, targets, mark_boxes, shape_boxes = _shapes.render(
        SHAPES_TEST_SIZE, SHAPES_TEST_SEED, mark=True
    )
    clean = _shapes.render(SHAPES_TEST_SIZE, SHAPES_TEST_SEED, mark=False)[0]
    return images, targets, mark_boxes, shape_boxes, clean


def digits() -> Demo:
    """Return the digits demo: a trained ``DigitsCNN`` and its held-out test images.

    Returns
    -------
    Demo
        ``model`` (fresh, eval mode), 360 test ``images`` (N, 1, 16, 16) in [0, 1],
        ``targets`` and ``classes`` ``["0", ..., "9"]``.
    """
    data = _digits_data()
    return Demo(
        name="Handwritten digits CNN",
        description=_DIGITS_TEXT,
        model=load_model(DigitsCNN(), DIGITS_WEIGHTS),
        images=data.images.clone(),
        targets=data.targets.clone(),
        classes=list(_digits.CLASSES),
    )


def clever_hans() -> Demo:
    """Return the Clever Hans demo: a ``ShapesCNN`` that learned a label-leaking mark.

    Returns
    -------
    Demo
        ``model`` (fresh, eval mode), 300 held-out ``images`` (N, 3, 32, 32) with the
        mark, the same images without it in ``clean_images``, ``mark_boxes`` and
        ``shape_boxes`` (N, 4), ``targets`` and ``classes``. Use
        :func:`nnwidgets.zoo.shapes.paint_mark` to move a mark to another corner.
    """
    images, targets, mark_boxes, shape_boxes, clean = _hans_data()
    return Demo(
        name="Clever Hans shapes CNN",
        description=_HANS_TEXT,
        model=load_model(ShapesCNN(), SHAPES_WEIGHTS),
        images=images.clone(),
        targets=targets.clone(),
        classes=list(_shapes.CLASSES),
        clean_images=clean.clone(),
        mark_boxes=mark_boxes.clone(),
        shape_boxes=shape_boxes.clone(),
    )
