"""Synced trait types shared by every widget: tensors, strict ints and floats, size pairs."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
import traitlets
from traitlets import TraitError, TraitType

from nnwidgets._serialization import TENSOR_SERIALIZATION, tensor_to_json

FLOAT32_MAX = float(torch.finfo(torch.float32).max)


class Tensor(TraitType):
    """A tensor that syncs to the front-end as a binary buffer.

    Accepts a ``torch.Tensor``, a numpy array or nested lists; stores a detached, contiguous
    CPU tensor. ``dtype`` casts on assignment; ``ndim`` (an int or a tuple of ints) is checked.
    """

    default_value = None
    info_text = "a tensor"

    def __init__(
        self,
        *,
        dtype: torch.dtype | None = None,
        ndim: int | tuple[int, ...] | None = None,
        allow_none: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(default_value=None, allow_none=allow_none, **kwargs)
        self.dtype = dtype
        self.ndim = (ndim,) if isinstance(ndim, int) else ndim
        self.tag(sync=True, **TENSOR_SERIALIZATION)

    def validate(self, obj: Any, value: Any) -> torch.Tensor | None:
        if value is None:
            if self.allow_none:
                return None
            self.error(obj, value)
        if isinstance(value, np.ndarray | list | tuple):
            try:
                value = torch.as_tensor(np.asarray(value))
            except (TypeError, ValueError, RuntimeError) as error:
                raise TraitError(f"the {self.name!r} trait expects a tensor: {error}") from error
        if not isinstance(value, torch.Tensor):
            self.error(obj, value)
        if self.ndim is not None and value.ndim not in self.ndim:
            raise TraitError(
                f"the {self.name!r} trait expects a tensor with {' or '.join(map(str, self.ndim))} "
                f"dimensions, got shape {tuple(value.shape)}"
            )
        try:
            value = value.detach().to("cpu")
            if self.dtype is not None:
                value = value.to(self.dtype)
        except (TypeError, RuntimeError) as error:
            raise TraitError(f"the {self.name!r} trait cannot hold this tensor: {error}") from error
        return value.contiguous()


class Int(traitlets.Int):
    """An int trait that refuses bools (``True`` is not a unit index or a count)."""

    def validate(self, obj: Any, value: Any) -> int:
        if isinstance(value, bool | np.bool_):
            self.error(obj, value)
        return super().validate(obj, value)


class Float(traitlets.Float):
    """A finite float trait that refuses bools; with ``float32`` the value must fit a float32."""

    def __init__(self, *args: Any, float32: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.float32 = float32

    def validate(self, obj: Any, value: Any) -> float:
        if isinstance(value, bool | np.bool_):
            self.error(obj, value)
        value = super().validate(obj, value)
        if value is None:
            return value
        if not math.isfinite(value):
            raise TraitError(f"the {self.name!r} trait must be a finite number, got {value}")
        if self.float32 and abs(value) > FLOAT32_MAX:
            raise TraitError(
                f"the {self.name!r} trait must fit a float32 (at most {FLOAT32_MAX:.3g} in size), "
                f"got {value:g}"
            )
        return value


class Pair(TraitType):
    """``[height, width]`` of ints, synced as a list; an int ``n`` is read as ``[n, n]``."""

    default_value: ClassVar[list[int]] = [1, 1]
    info_text = "an int or a pair of ints [height, width]"

    def validate(self, obj: Any, value: Any) -> list[int]:
        items = [value, value] if not isinstance(value, list | tuple) else list(value)
        if len(items) != 2 or not all(
            isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_) for v in items
        ):
            self.error(obj, value)
        return [int(v) for v in items]


def _tensors_to_json(value: dict[str, torch.Tensor] | None, widget: Any = None) -> dict | None:
    return None if value is None else {k: tensor_to_json(v) for k, v in value.items()}


class TensorDict(traitlets.Dict):
    """Tensors by name (e.g. one map per method), each synced as its own binary buffer.

    The values are stored as detached contiguous CPU tensors of ``dtype``; the kernel owns
    this trait (the front-end only reads it, so it has no decoder).
    """

    def __init__(self, *, dtype: torch.dtype | None = None, **kwargs: Any) -> None:
        super().__init__(value_trait=Tensor(dtype=dtype, allow_none=False), **kwargs)
        self.tag(sync=True, to_json=_tensors_to_json)
