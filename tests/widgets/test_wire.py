"""The wire: one serializer pair, binary buffers, round trips through widget state."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from traitlets import HasTraits, TraitError

from nnwidgets._serialization import tensor_from_json, tensor_to_json
from nnwidgets._traits import Tensor


@pytest.mark.parametrize(
    ("tensor", "dtype"),
    [
        (torch.arange(24, dtype=torch.uint8).reshape(2, 3, 4), "uint8"),
        (torch.randn(5, 7), "float32"),
        (torch.randn(3, dtype=torch.float64), "float32"),
        (torch.randn(3, dtype=torch.float16), "float32"),
        (torch.arange(6), "int32"),
        (torch.tensor([True, False]), "uint8"),
    ],
)
def test_round_trip_as_memoryview(tensor, dtype):
    wire = tensor_to_json(tensor)
    assert wire["dtype"] == dtype
    assert wire["shape"] == list(tensor.shape)
    assert isinstance(wire["buffer"], memoryview)
    assert wire["buffer"].nbytes == tensor.numel() * np.dtype(dtype).itemsize
    back = tensor_from_json(wire)
    torch.testing.assert_close(back, tensor.to(back.dtype), atol=1e-3, rtol=1e-3)


def test_non_contiguous_and_nan_values_survive():
    t = torch.randn(4, 6).t()
    t[0, 0] = float("nan")
    back = tensor_from_json(tensor_to_json(t))
    assert torch.equal(back.isnan(), t.isnan())
    torch.testing.assert_close(back.nan_to_num(), t.nan_to_num())


def test_none_and_bad_payloads():
    assert tensor_to_json(None) is None and tensor_from_json(None) is None
    with pytest.raises(TypeError, match="complex"):
        tensor_to_json(torch.zeros(2, dtype=torch.complex64))
    with pytest.raises(ValueError, match="malformed"):
        tensor_from_json({"dtype": "float32"})
    with pytest.raises(ValueError, match="unsupported"):
        tensor_from_json({"dtype": "float16", "shape": [1], "buffer": b"\0\0"})
    with pytest.raises(ValueError, match="shape"):
        tensor_from_json({"dtype": "float32", "shape": [3], "buffer": b"\0" * 8})


class Holder(HasTraits):
    image = Tensor(dtype=torch.uint8, ndim=3)
    values = Tensor(ndim=(1, 2))


def test_tensor_trait_normalizes_and_checks_rank():
    h = Holder()
    h.image = np.zeros((2, 2, 3), dtype=np.float64)
    assert h.image.dtype == torch.uint8
    h.values = [[1.0, 2.0]]
    assert isinstance(h.values, torch.Tensor)
    with pytest.raises(TraitError, match="3 dimensions"):
        h.image = torch.zeros(2, 2)
    with pytest.raises(TraitError):
        h.values = "not a tensor"
    assert Holder.image.metadata["sync"] is True
