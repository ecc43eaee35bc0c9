"""Random access to the images of a dataset: a tensor, a Dataset or a DataLoader."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader


def as_input(value: Any, name: str) -> torch.Tensor:
    """Check one image (C, H, W) (or (1, C, H, W)) and return it as float32 on the CPU."""
    if isinstance(value, tuple | list) and value and isinstance(value[0], torch.Tensor):
        value = value[0]  # a (image, label, ...) item
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a tensor (C, H, W), got {type(value).__name__}")
    if value.ndim == 4 and value.shape[0] == 1:
        value = value[0]
    if value.ndim != 3:
        raise ValueError(f"{name} must be an image of shape (C, H, W), got {tuple(value.shape)}")
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must be floating point, got {value.dtype}; e.g. use x.float() / 255"
        )
    return value.detach().to("cpu", torch.float32)


class DatasetView:
    """Random access to the images of a tensor (N, C, H, W), a map-style Dataset or its DataLoader.

    ``source`` is what was passed (for the compute functions, which iterate it in batches);
    ``view[i]`` is image ``i`` as float32 (C, H, W); ``sample`` is the first one.
    """

    def __init__(self, dataset: Any) -> None:
        self.source = dataset
        if isinstance(dataset, torch.Tensor):
            if dataset.ndim != 4:
                raise ValueError(
                    f"a dataset tensor must have shape (N, C, H, W), got {tuple(dataset.shape)}"
                )
            self._items = dataset
        elif isinstance(dataset, DataLoader):
            self._items = dataset.dataset
        elif hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__"):
            self._items = dataset
        else:
            raise TypeError(
                "dataset must be a tensor (N, C, H, W), a map-style torch Dataset or a DataLoader "
                f"over one, got {type(dataset).__name__}"
            )
        if not hasattr(self._items, "__len__") or len(self._items) == 0:
            raise ValueError("the dataset is empty (or has no length)")
        self.sample = self[0]

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> torch.Tensor:
        return as_input(self._items[index], f"dataset item {index}")
