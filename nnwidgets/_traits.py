"""Synced trait types shared by every widget."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from traitlets import TraitError, TraitType

from nnwidgets._serialization import TENSOR_SERIALIZATION


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
            value = torch.as_tensor(np.asarray(value))
        if not isinstance(value, torch.Tensor):
            self.error(obj, value)
        if self.ndim is not None and value.ndim not in self.ndim:
            raise TraitError(
                f"the {self.name!r} trait expects a tensor with {' or '.join(map(str, self.ndim))} "
                f"dimensions, got shape {tuple(value.shape)}"
            )
        value = value.detach().to("cpu")
        if self.dtype is not None:
            value = value.to(self.dtype)
        return value.contiguous()
