"""Scikit-learn's handwritten digits as 1x16x16 float images, with a fixed train/test split.

The 8x8 images (grey levels 0..16) ship with scikit-learn, so nothing is downloaded.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

CLASSES: list[str] = [str(d) for d in range(10)]
"""Class names of the digits demo, in label order."""

SPLIT_SEED = 0
"""Seed of the stratified train/test split."""

TEST_FRACTION = 0.2
"""Fraction of the 1797 images held out for testing."""


class DigitsSplit(NamedTuple):
    """Images and labels of one split of the digits data."""

    images: torch.Tensor
    """float32, shape (N, 1, 16, 16), values in [0, 1]."""
    targets: torch.Tensor
    """int64, shape (N,), values 0..9."""


def upsample(images8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Turn 8x8 digits with grey levels 0..16 into 1x16x16 float32 images in [0, 1].

    Parameters
    ----------
    images8
        Array of shape (N, 8, 8) or (N, 64), grey levels 0..16 as in
        :func:`sklearn.datasets.load_digits`.

    Returns
    -------
    torch.Tensor
        float32 tensor of shape (N, 1, 16, 16) with values in [0, 1].
    """
    x = torch.as_tensor(np.asarray(images8, dtype=np.float32)).reshape(-1, 1, 8, 8) / 16.0
    x = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
    return x.clamp_(0.0, 1.0).contiguous()


def load_split(split: str = "test") -> DigitsSplit:
    """Return the ``"train"`` or ``"test"`` split of the digits data.

    The split is stratified by class and fixed (80/20, seed :data:`SPLIT_SEED`), so the
    test images are never seen in training.

    Parameters
    ----------
    split
        ``"train"`` (1437 images) or ``"test"`` (360 images).

    Returns
    -------
    DigitsSplit
        Images of shape (N, 1, 16, 16) in [0, 1] and int64 labels of shape (N,).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    indices = np.arange(len(bunch.target))
    train_idx, test_idx = train_test_split(
        indices, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=bunch.target
    )
    idx = np.sort(train_idx if split == "train" else test_idx)
    images = upsample(bunch.images[idx])
    targets = torch.as_tensor(bunch.target[idx], dtype=torch.int64)
    return DigitsSplit(images, targets)
