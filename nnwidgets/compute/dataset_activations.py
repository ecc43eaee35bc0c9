"""Activations of a layer's units on a dataset, and the inputs that excite each unit most."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nnwidgets.compute._guard import borrowed_model, model_device
from nnwidgets.compute._inputs import ImageDataset, check_int, conv_channels
from nnwidgets.compute._outputs import check_selector
from nnwidgets.compute.layers import (
    OBJECTIVES,
    check_position,
    find_layer,
    resolve_objective,
    run_layer,
    unit_values,
)

__all__ = ["TopActivations", "layer_activations", "top_activations"]


def layer_activations(
    model: nn.Module,
    layer: str | None,
    inputs: Any,
    *,
    objective: str = "auto",
    position: tuple[int, int] | None = None,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    output: Any = None,
) -> torch.Tensor:
    """Every unit's objective value on every input, as :func:`synthesize` maximizes it.

    Parameters
    ----------
    model : torch.nn.Module
        The model (borrowed).
    layer : str or None
        Layer name; None or ``"output"`` for the model's output.
    inputs : tensor, Dataset or DataLoader
        Floating-point images (N, C, H, W) or one (C, H, W); a Dataset of images or
        (image, label) items; a DataLoader, whose dataset is read in index order (row ``i`` of
        the result is item ``i``, also when the loader shuffles).
    objective, position, output
        As for :func:`synthesize`.
    batch_size : int
        Inputs per forward pass (tensors, Datasets, and DataLoaders without a batch size).
    progress : callable, optional
        ``progress(done, total)`` after each batch (total is None for a DataLoader over an
        IterableDataset).
    should_stop : callable, optional
        Polled between batches; True stops early with the values so far.

    Returns
    -------
    torch.Tensor
        (N, units) float32 on the CPU.
    """
    find_layer(model, layer)
    batch_size = check_int(batch_size, "batch_size")
    position = check_position(position)
    check_selector(output)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    data = ImageDataset(inputs, "inputs", channels=conv_channels(model))
    device = model_device(model) or torch.device("cpu")
    total = len(data) if data.random_access else None
    rows: list[torch.Tensor] = []
    done = 0
    resolved = None
    for batch in data.batches(batch_size):
        if should_stop is not None and should_stop():
            break
        with borrowed_model(model) as borrowed, torch.inference_mode():
            try:
                value = run_layer(borrowed, layer, batch.to(device, torch.float32))
            except (RuntimeError, ValueError) as error:
                raise ValueError(
                    f"the model fails on dataset images of shape {tuple(batch.shape[1:])}: {error}"
                ) from error
            if resolved is None:
                shape = value.shape[1:] if isinstance(value, torch.Tensor) else ()
                resolved = resolve_objective(objective, layer, shape)
            rows.append(unit_values(value, resolved, position, output).float().cpu())
        done += len(batch)
        if progress is not None:
            progress(done, total)
    if not rows:
        raise ValueError("the dataset is empty")
    return torch.cat(rows)


@dataclass
class TopActivations:
    """The inputs that excite each unit most."""

    indices: torch.Tensor
    """(units, k) int64 input indices, highest activation first."""
    values: torch.Tensor
    """(units, k) their activations."""
    activations: torch.Tensor
    """(N, units) every unit's activation on every input."""


def top_activations(
    model: nn.Module,
    layer: str | None,
    dataset: Any,
    *,
    k: int = 9,
    largest: bool = True,
    **kwargs: Any,
) -> TopActivations:
    """Find the ``k`` inputs of ``dataset`` that excite each unit of ``layer`` most.

    With ``largest=False``, the ``k`` that drive it lowest, lowest first. Other keyword
    arguments are those of :func:`layer_activations`. Row ``i`` of ``activations`` and
    index ``i`` in ``indices`` are item ``i`` of ``dataset`` (also of a shuffled DataLoader's
    dataset: see :class:`~nnwidgets.compute._inputs.ImageDataset`).
    """
    k = check_int(k, "k")
    activations = layer_activations(model, layer, dataset, **kwargs)
    values, indices = activations.topk(min(k, len(activations)), dim=0, largest=largest)
    return TopActivations(indices.T.contiguous(), values.T.contiguous(), activations)
