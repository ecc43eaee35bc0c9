"""Shipped demo models and data, trained by ``scripts/train_zoo.py``; nothing is downloaded.

>>> import nnwidgets as nw
>>> demo = nw.zoo.digits()
>>> demo.model(demo.images[:4]).argmax(1)  # doctest: +SKIP
"""

from __future__ import annotations

import functools

import torch

from nnwidgets.zoo import char_rnn as _char_rnn
from nnwidgets.zoo import digits as _digits
from nnwidgets.zoo import shapes as _shapes
from nnwidgets.zoo._demo import WEIGHTS_DIR, Demo, load_model
from nnwidgets.zoo.char_rnn import CharLSTM, TextDemo
from nnwidgets.zoo.models import DigitsCNN, ShapesCNN
from nnwidgets.zoo.toy import TOY_CURVES, TOY_DATASETS, toy_curve, toy_data

__all__ = [
    "TOY_CURVES",
    "TOY_DATASETS",
    "Demo",
    "TextDemo",
    "char_rnn",
    "clever_hans",
    "digits",
    "toy_curve",
    "toy_data",
]

DIGITS_WEIGHTS = "digits_cnn.pt"
SHAPES_WEIGHTS = "shapes_cnn.pt"
CHAR_RNN_WEIGHTS = "char_rnn.pt"
CHAR_RNN_TEXT = "char_rnn_text.txt"
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


_CHAR_RNN_TEXT = (
    "A character-level language model (an embedding, two stacked LSTM layers of 128 units, "
    "a linear head) trained by scripts/train_char_rnn.py to predict the next character of "
    "Python's own standard-library source, with URLs mixed into comments and strings. Nothing "
    "told it about strings, blocks or links, yet some of its units track whether the text is "
    "inside a quoted string, how deep the indentation is, or whether it is inside a URL. "
    "The text below is from a module it never saw in training."
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


def char_rnn() -> TextDemo:
    """Return the character-level LSTM demo and a held-out piece of Python source.

    The model was trained on the standard-library source of CPython 3.11 (read from the
    interpreter's ``Lib`` folder) with made-up URLs mixed in; the text is an excerpt of a
    module held out from training. That source is © Python Software Foundation, under the
    PSF License Agreement (https://docs.python.org/3/license.html), which allows this
    redistribution with its notice.

    Returns
    -------
    TextDemo
        ``model`` (a :class:`~nnwidgets.zoo.char_rnn.CharLSTM`, fresh, eval mode; float32
        weights stored as float16), ``vocab`` (its 98 characters, index 0 the unknown
        entry) and ``text``.
    """
    return TextDemo(
        name="Character-level LSTM on Python source",
        description=_CHAR_RNN_TEXT,
        model=load_model(CharLSTM(), CHAR_RNN_WEIGHTS),
        vocab=list(_char_rnn.VOCAB),
        text=(WEIGHTS_DIR / CHAR_RNN_TEXT).read_text(encoding="utf-8"),
    )
