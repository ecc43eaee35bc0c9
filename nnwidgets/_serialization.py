"""The wire: tensors cross between kernel and browser as binary buffers.

A tensor is sent as ``{"dtype": str, "shape": [int, ...], "buffer": memoryview}``; ipywidgets
carries the memoryview as a binary buffer and the front-end receives a ``DataView`` at the same
path, which ``js/lib/wire.js`` turns back into a typed array. Nothing else in the package
encodes tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

#: dtypes that have a JavaScript typed array; others are cast to the nearest of these.
WIRE_DTYPES = ("uint8", "int8", "uint16", "int16", "int32", "uint32", "float32", "float64")

_CASTS = {
    torch.float64: torch.float32,
    torch.float16: torch.float32,
    torch.bfloat16: torch.float32,
    torch.int64: torch.int32,
    torch.bool: torch.uint8,
}


def to_wire_array(tensor: torch.Tensor) -> np.ndarray:
    """Return a C-contiguous little-endian numpy array with a wire dtype for ``tensor``."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(tensor).__name__}")
    if tensor.is_complex():
        raise TypeError("complex tensors cannot be sent to the browser")
    tensor = tensor.detach().to("cpu")
    tensor = tensor.to(_CASTS.get(tensor.dtype, tensor.dtype))
    array = np.ascontiguousarray(tensor.numpy())
    if str(array.dtype) not in WIRE_DTYPES:
        raise TypeError(f"dtype {array.dtype} has no JavaScript typed array")
    return array.astype(array.dtype.newbyteorder("<"), copy=False)


def tensor_to_json(value: torch.Tensor | None, widget: Any = None) -> dict[str, Any] | None:
    """Serialize a tensor trait value for the front-end (``to_json`` of ipywidgets)."""
    if value is None:
        return None
    array = to_wire_array(value)
    return {"dtype": str(array.dtype), "shape": list(array.shape), "buffer": memoryview(array)}


def tensor_from_json(value: dict[str, Any] | None, widget: Any = None) -> torch.Tensor | None:
    """Deserialize a wire dict (from the front-end or a saved state) to a CPU tensor."""
    if value is None:
        return None
    try:
        dtype = np.dtype(value["dtype"]).newbyteorder("<")
        shape = tuple(int(n) for n in value["shape"])
        raw = value["buffer"]
    except (KeyError, TypeError) as error:
        raise ValueError(f"malformed tensor on the wire: {error}") from error
    if dtype.name not in WIRE_DTYPES:
        raise ValueError(f"unsupported wire dtype {dtype.name!r}")
    array = np.frombuffer(bytes(raw), dtype=dtype)
    if array.size != int(np.prod(shape, dtype=np.int64)):
        raise ValueError(
            f"buffer holds {array.size} values, shape {list(shape)} needs more or fewer"
        )
    return torch.from_numpy(array.reshape(shape).copy())


TENSOR_SERIALIZATION = {"to_json": tensor_to_json, "from_json": tensor_from_json}
