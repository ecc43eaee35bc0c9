"""Inputs of an explorer that takes one image and, optionally, a dataset to pick from."""

from __future__ import annotations

from typing import Any

import torch

from nnwidgets.compute._inputs import ImageDataset, check_image


def first_input(
    image: Any, dataset: Any, channels: int | None
) -> tuple[torch.Tensor, ImageDataset | None, str]:
    """Check ``image`` and ``dataset`` and return the first input, the dataset and its source.

    Parameters
    ----------
    image
        One image (C, H, W) or (1, C, H, W), or None for the dataset's first image.
    dataset
        None, or images (N, C, H, W), a map-style Dataset or a DataLoader over one, of the
        image's shape (an index slider picks among them).
    channels
        Channels the model takes (to recognize channels-last images), or None.

    Returns
    -------
    (x, data, source)
        ``x`` (C, H, W) float32 on the CPU, the checked dataset (None without one) and
        where ``x`` comes from ("your image" or "dataset #0").
    """
    data = None if dataset is None else ImageDataset(dataset, "dataset", channels=channels)
    if data is not None and not data.random_access:
        raise TypeError(
            "dataset iterates an IterableDataset; the slider picks images by index: pass "
            "a map-style Dataset (or a DataLoader over one)"
        )
    source = "your image" if image is not None else "dataset #0"
    if image is None:
        if data is None:
            raise ValueError("image is None and there is no dataset: give an image")
        image = data.sample
    x = check_image(image, "image", channels=channels).detach().to("cpu", torch.float32)
    if data is not None and tuple(data.sample.shape) != tuple(x.shape):
        raise ValueError(
            f"dataset images have shape {tuple(data.sample.shape)} but image has shape "
            f"{tuple(x.shape)}: the explorer needs one input size"
        )
    return x, data, source


def next_input(image: Any, like: torch.Tensor) -> torch.Tensor:
    """Check a new input for an explorer whose inputs are shaped like ``like`` (C, H, W)."""
    x = check_image(image, "image", channels=like.shape[0]).detach().to("cpu", torch.float32)
    if tuple(x.shape) != tuple(like.shape):
        raise ValueError(f"image has shape {tuple(x.shape)}, expected {tuple(like.shape)}")
    return x


def dataset_input(data: ImageDataset | None, index: int) -> tuple[torch.Tensor, str]:
    """Return the dataset's image at ``index`` and its source; an error without a dataset."""
    if data is None:
        raise ValueError("this explorer has no dataset to pick an image from")
    return data[index], f"dataset #{index}"
