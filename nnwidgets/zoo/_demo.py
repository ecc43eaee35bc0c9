"""The :class:`Demo` bundle of a trained model with its held-out data, and weight loading."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

WEIGHTS_DIR = Path(__file__).parent / "weights"
"""Folder of the shipped state dicts."""


@dataclass(repr=False)
class Demo:
    """A trained demo model with held-out images it was not trained on.

    Attributes
    ----------
    name
        Short title.
    description
        One paragraph a lecturer can show.
    model
        The trained model, in eval mode; a fresh copy on every call of the zoo function.
    images
        float32 tensor (N, C, H, W) with values in [0, 1].
    targets
        int64 tensor (N,) of true labels.
    classes
        Class names in label order.
    clean_images
        Clever Hans only: ``images`` without the label-leaking mark, else ``None``.
    mark_boxes
        Clever Hans only: int64 (N, 4) ``(y0, x0, y1, x1)`` of each image's mark
        (exclusive end), else ``None``.
    shape_boxes
        Clever Hans only: int64 (N, 4) bounding box of each image's shape, else ``None``.
    """

    name: str
    description: str
    model: nn.Module
    images: torch.Tensor
    targets: torch.Tensor
    classes: list[str]
    clean_images: torch.Tensor | None = None
    mark_boxes: torch.Tensor | None = None
    shape_boxes: torch.Tensor | None = None

    def __repr__(self) -> str:
        shape = tuple(self.images.shape)
        return (
            f"Demo(name={self.name!r}, model={type(self.model).__name__}, "
            f"images={shape}, classes={self.classes!r})"
        )


@functools.cache
def _state_dict(filename: str) -> dict[str, torch.Tensor]:
    return torch.load(WEIGHTS_DIR / filename, map_location="cpu", weights_only=True)


def load_model(model: nn.Module, filename: str) -> nn.Module:
    """Load the shipped weights ``filename`` into ``model`` and put it in eval mode.

    Parameters
    ----------
    model
        A freshly built model of the matching architecture.
    filename
        Name of a state dict in :data:`WEIGHTS_DIR`.

    Returns
    -------
    torch.nn.Module
        ``model`` itself, with its weights loaded, in eval mode.
    """
    model.load_state_dict(_state_dict(filename))  # copies, so the cache stays untouched
    return model.eval()
