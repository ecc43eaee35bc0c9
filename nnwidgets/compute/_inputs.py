"""Checks of what a user passes in: models, numbers, images, batches, datasets, normalizations.

One module on purpose: every argument check in one place, so that compute and widgets agree.

Every public compute function and widget constructor checks its arguments here, before any
work starts, so that one kind of bad argument gets one clear error naming it, wherever it is
passed. :class:`ImageDataset` is the one way to read a dataset (a tensor, a map-style Dataset
or a DataLoader): batches come in index order, so the values computed on them belong to the
items that ``dataset[i]`` returns, also for a shuffled DataLoader.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, default_collate

__all__ = [
    "ImageDataset",
    "Normalization",
    "check_bool",
    "check_image",
    "check_inputs",
    "check_int",
    "check_ints",
    "check_model",
    "check_number",
    "check_tensor",
    "conv_channels",
    "int_tuple",
]

#: Channel counts an image usually has; a last dim of this size on a (C, H, W) tensor whose
#: first dim is larger is read as a channels-last (H, W, C) image.
_IMAGE_CHANNELS = (1, 3, 4)
_FLOAT32_MAX = float(torch.finfo(torch.float32).max)


# -- models -------------------------------------------------------------------------------
def check_model(model: Any, name: str = "model") -> nn.Module:
    """Return ``model`` if it is an ``nn.Module`` with real weights, else raise.

    Raises
    ------
    TypeError
        If it is not an ``nn.Module`` (e.g. a function).
    ValueError
        If a parameter or buffer is on the ``meta`` device (shapes without values).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"{name} must be a torch.nn.Module, got {type(model).__name__}; wrap a function "
            "in an nn.Module whose forward calls it"
        )
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_meta:
            raise ValueError(
                f"{name} has weights on the 'meta' device (shapes without values), so it "
                "cannot compute: load its weights first, e.g. model.to_empty(device='cpu') "
                "then model.load_state_dict(...)"
            )
    return model


def conv_channels(model: nn.Module) -> int | None:
    """Return the input channels of the model's first Conv2d, or None if it has none."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return int(module.in_channels)
    return None


# -- numbers ------------------------------------------------------------------------------
def check_int(value: Any, name: str, *, low: int | None = 1, high: int | None = None) -> int:
    """Return ``value`` as an int in [low, high]; bools, floats and strings are rejected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (
            f"at least {low}"
            if high is None
            else f"at most {high}"
            if low is None
            else f"in [{low}, {high}]"
        )
        raise ValueError(f"{name} must be {bounds}, got {value}")
    return value


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    float32: bool = False,
) -> float:
    """Return ``value`` as a finite float in the given range; bools and strings are rejected.

    With ``float32`` the value must also fit a float32 (it fills a float32 tensor).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if float32 and abs(value) > _FLOAT32_MAX:
        raise ValueError(
            f"{name} {value:g} does not fit a float32 (at most {_FLOAT32_MAX:.3g} in size)"
        )
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "-inf" if low is None else f"{low:g}"
        right = "inf" if high is None else f"{high:g}"
        brackets = (
            "(" if low_open or low is None else "[",
            ")" if high_open or high is None else "]",
        )
        raise ValueError(
            f"{name} must be in {brackets[0]}{left}, {right}{brackets[1]}, got {value:g}"
        )
    return value


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` if it is a bool (numpy's too), else raise TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def int_tuple(value: Any, name: str) -> tuple[int, ...]:
    """Return an int or a sequence of ints as a tuple of ints (bools and floats rejected)."""
    items = value if isinstance(value, (tuple, list, torch.Size)) else (value,)
    out = []
    for item in items:
        if isinstance(item, bool):
            raise TypeError(f"{name} must hold ints, got {value!r}")
        try:
            out.append(operator.index(item))
        except TypeError:
            raise TypeError(f"{name} must be an int or a tuple of ints, got {value!r}") from None
    return tuple(out)


# -- tensors, images and batches ----------------------------------------------------------
def check_tensor(x: Any, name: str, *, finite: bool = True, floating: bool = True) -> torch.Tensor:
    """Check a tensor with at least one element: floating point and finite unless told not."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not floating:
        pass
    elif x.dtype == torch.uint8:
        raise TypeError(
            f"{name} has dtype uint8; convert it to floating point first, e.g. {name}.float() / 255"
        )
    elif not x.is_floating_point():
        raise TypeError(
            f"{name} has dtype {x.dtype}; it must be floating point, e.g. {name}.float()"
        )
    if x.is_meta:
        raise ValueError(f"{name} is on the 'meta' device: it has a shape but no values")
    if x.numel() == 0:
        raise ValueError(
            f"{name} is empty (shape {tuple(x.shape)}): every dim needs a size of 1 or more"
        )
    if finite and x.is_floating_point() and not bool(torch.isfinite(x).all()):
        what = "NaN" if bool(torch.isnan(x).any()) else "infinite"
        raise ValueError(f"{name} contains {what} values")
    return x


def _check_layout(
    image_shape: tuple[int, ...], name: str, channels: int | None, batched: bool = False
) -> None:
    """Raise if a (C, H, W) shape looks like a channels-last (H, W, C) image."""
    first, last = image_shape[0], image_shape[-1]
    usual = last in _IMAGE_CHANNELS and first > max(_IMAGE_CHANNELS)
    hwc = usual if channels is None else first != channels and (last == channels or usual)
    if hwc:
        wanted = f" with C = {channels}" if channels is not None else ""
        fix = f"{name}.permute(0, 3, 1, 2)" if batched else f"{name}.permute(2, 0, 1)"
        what = "images" if batched else "image"
        raise ValueError(
            f"{name} has {what} of shape {image_shape}, which looks channels-last (H, W, C); "
            f"the model takes channels first, (C, H, W){wanted}: pass {fix}"
        )


def check_image(
    x: Any, name: str = "image", *, channels: int | None = None, finite: bool = True
) -> torch.Tensor:
    """Check one image, (C, H, W) or (1, C, H, W), and return it as (C, H, W).

    ``channels`` is what the model takes (see :func:`conv_channels`), used to tell a
    channels-last image from a channels-first one; None guesses from the usual 1, 3 or 4.
    The tensor itself is returned (a view), on its own device and dtype.
    """
    if isinstance(x, (tuple, list)) and x and isinstance(x[0], torch.Tensor):
        x = x[0]  # an (image, label, ...) item
    x = check_tensor(x, name, finite=finite)
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3:
        raise ValueError(
            f"{name} must be one image of shape (C, H, W) or (1, C, H, W), got {tuple(x.shape)}"
        )
    _check_layout(tuple(x.shape), name, channels)
    return x


def check_inputs(
    x: Any,
    name: str = "inputs",
    *,
    channels: int | None = None,
    finite: bool = True,
    floating: bool = True,
    guess_layout: bool = True,
) -> torch.Tensor:
    """Check a batch of inputs, batch dim first, with at least one input.

    Images (N, C, H, W) are also checked for a channels-last layout (see :func:`check_image`);
    with ``guess_layout`` False only when ``channels`` is known (inputs that may not be images).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, batch dim first, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(
            f"{name} has shape {tuple(x.shape)}; it needs a batch dim first, e.g. (N, C, H, W); "
            "for one image pass x[None]"
        )
    if x.shape[0] == 0:
        raise ValueError(
            f"{name} is an empty batch (shape {tuple(x.shape)}): give at least one input"
        )
    x = check_tensor(x, name, finite=finite, floating=floating)
    if x.ndim == 4 and (guess_layout or channels is not None):
        _check_layout(tuple(x.shape[1:]), name, channels, batched=True)
    return x


# -- normalization ------------------------------------------------------------------------
class Normalization:
    """A ``(mean, std)`` pair: model inputs are ``(image - mean) / std`` of [0, 1] images.

    Parameters
    ----------
    pair : (mean, std)
        One number or one per channel each; every std positive.
    name : str
        Argument name for errors.
    channels : int, optional
        Channels of the images, to check the number of values.
    """

    def __init__(self, pair: Any, name: str = "normalize", channels: int | None = None) -> None:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"{name} must be a pair (mean, std), got {pair!r}")
        values = []
        for part, what in zip(pair, ("mean", "std"), strict=True):
            try:
                tensor = torch.as_tensor(part, dtype=torch.float32).flatten()
            except (TypeError, ValueError, RuntimeError) as error:
                raise TypeError(
                    f"{name} {what} must be a number or one number per channel, got {part!r}"
                ) from error
            if tensor.numel() == 0 or (
                channels is not None and tensor.numel() not in (1, channels)
            ):
                wanted = "1" if channels is None else f"1 or {channels}"
                raise ValueError(f"{name} {what} needs {wanted} values, got {tensor.numel()}")
            if not bool(torch.isfinite(tensor).all()):
                raise ValueError(f"{name} {what} must be finite, got {tensor.tolist()}")
            values.append(tensor)
        if values[0].numel() != values[1].numel() and 1 not in (
            values[0].numel(),
            values[1].numel(),
        ):
            raise ValueError(
                f"{name} mean and std need as many values, got "
                f"{len(values[0])} and {len(values[1])}"
            )
        if bool((values[1] <= 0).any()):
            raise ValueError(f"{name} std must be positive, got {values[1].tolist()}")
        self.mean, self.std = (v.reshape(-1, 1, 1) for v in values)

    @classmethod
    def create(
        cls, pair: Any, name: str = "normalize", channels: int | None = None
    ) -> Normalization | None:
        """Make a normalization, or return None for ``pair`` None."""
        return None if pair is None else cls(pair, name, channels)

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """Map [0, 1] images (..., C, H, W) to model inputs."""
        return (images - self.mean.to(images.device)) / self.std.to(images.device)

    def undo(self, inputs: torch.Tensor) -> torch.Tensor:
        """Map model inputs (..., C, H, W) back to [0, 1] images."""
        return inputs * self.std.to(inputs.device) + self.mean.to(inputs.device)


# -- datasets -----------------------------------------------------------------------------
def _first_tensor(item: Any) -> Any:
    if isinstance(item, (tuple, list)) and item:
        return item[0]
    return item


class ImageDataset:
    """Images of a tensor (N, C, H, W), a map-style Dataset or a DataLoader: by index, in batches.

    A Dataset may give images or (image, label, ...) items. :meth:`batches` reads the items in
    index order, also from a DataLoader (its dataset is read in order, with the loader's batch
    size, collate function and workers; a shuffled loader gives the same items unshuffled), so
    row ``i`` of anything computed from the batches belongs to ``self[i]``. A DataLoader over
    an IterableDataset is read as it iterates and has no random access.

    Parameters
    ----------
    data : tensor, Dataset, DataLoader or ImageDataset
        The images (an ImageDataset is taken as it is).
    name : str
        Argument name for errors.
    channels : int, optional
        Channels the model takes, to recognize channels-last images.
    """

    def __init__(self, data: Any, name: str = "dataset", *, channels: int | None = None) -> None:
        if isinstance(data, ImageDataset):  # already checked
            self.__dict__.update(data.__dict__)
            return
        self.source = data
        self.name = name
        self._channels = channels
        self._loader: DataLoader | None = None
        self._items: Any = None
        if isinstance(data, torch.Tensor):
            if data.ndim == 3:
                data = data[None]
            if data.ndim != 4:
                raise ValueError(
                    f"{name} must be images (N, C, H, W) or one image (C, H, W), got shape "
                    f"{tuple(data.shape)}"
                )
            self._items = check_inputs(data, name, channels=channels)
        elif isinstance(data, DataLoader):
            self._loader = data
            if not isinstance(data.dataset, IterableDataset):
                self._items = data.dataset
        elif isinstance(data, IterableDataset):
            raise TypeError(
                f"{name} is an IterableDataset; wrap it in a DataLoader, or pass a map-style "
                "Dataset (one with __getitem__ and __len__)"
            )
        elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
            self._items = data
        else:
            raise TypeError(
                f"{name} must be a tensor (N, C, H, W), a map-style torch Dataset or a DataLoader, "
                f"got {type(data).__name__}"
            )
        if self._items is not None:
            try:
                length = len(self._items)
            except TypeError as error:
                raise TypeError(f"{name} has no length: {error}") from error
            if length == 0:
                raise ValueError(f"{name} is empty: give at least one image")
        self.sample = self[0] if self._items is not None else None

    @property
    def random_access(self) -> bool:
        """Whether items can be read by index (False for a loader over an IterableDataset)."""
        return self._items is not None

    def __len__(self) -> int:
        if self._items is None:
            raise TypeError(f"{self.name} iterates an IterableDataset: its length is unknown")
        return len(self._items)

    def __getitem__(self, index: int) -> torch.Tensor:
        """Image ``index`` as float32 (C, H, W) on the CPU."""
        if self._items is None:
            raise TypeError(
                f"{self.name} iterates an IterableDataset, which has no random access; pass a "
                "map-style Dataset"
            )
        where = f"{self.name} item {index}"
        image = check_image(_first_tensor(self._items[index]), where, channels=self._channels)
        return image.detach().to("cpu", torch.float32)

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        """Yield (n, C, H, W) batches of every image, in index order."""
        batch_size = check_int(batch_size, "batch_size")
        if isinstance(self._items, torch.Tensor):
            yield from self._items.split(batch_size)
            return
        done = 0
        for batch in self._ordered(batch_size):
            yield self._check_batch(batch, done)
            done += len(batch)

    def _ordered(self, batch_size: int) -> Iterator[torch.Tensor]:
        loader = self._loader
        if loader is not None:
            if self._items is None:  # an IterableDataset: as it comes
                batches: Any = loader
            else:
                batched = loader.batch_size is not None
                batches = DataLoader(
                    self._items,
                    batch_size=loader.batch_size if batched else batch_size,
                    shuffle=False,
                    num_workers=loader.num_workers,
                    collate_fn=loader.collate_fn if batched else default_collate,
                    pin_memory=loader.pin_memory,
                )
            for batch in batches:
                yield _first_tensor(batch)
            return
        for start in range(0, len(self._items), batch_size):
            stop = min(start + batch_size, len(self._items))
            items = [self[i] for i in range(start, stop)]
            shapes = {tuple(item.shape) for item in items}
            if len(shapes) > 1:
                raise ValueError(
                    f"{self.name} items {start} to {stop - 1} have different shapes "
                    f"{sorted(shapes)}; give images of one size"
                )
            yield torch.stack(items)

    def _check_batch(self, batch: Any, start: int) -> torch.Tensor:
        where = f"{self.name} batch from item {start}"
        if not isinstance(batch, torch.Tensor) or batch.ndim != 4:
            what = tuple(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__
            raise ValueError(
                f"{where} should be images (N, C, H, W) (or tuples starting with them), got {what}"
            )
        return check_inputs(batch, where, channels=self._channels)


def check_ints(value: Any, name: str, *, low: int | None = 0) -> list[int]:
    """Return a sequence of ints (not a string, no bools) as a list, each at least ``low``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, torch.Tensor, range)):
        raise TypeError(f"{name} must be a sequence of ints, got {value!r}")
    items = value.tolist() if isinstance(value, torch.Tensor) else list(value)
    return [check_int(v, f"{name}[{i}]", low=low) for i, v in enumerate(items)]
