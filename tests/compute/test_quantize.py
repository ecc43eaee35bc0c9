"""uint8 codecs (compute/_quantize.py): each code within half a step of its value."""

from __future__ import annotations

import torch

from nnwidgets.compute._quantize import (
    centred_codes,
    fraction_codes,
    linear_codes,
    symmetric_codes,
    uncentred,
)


def test_quantize_keeps_zero_and_the_limits():
    values = torch.tensor([[0.0, 0.0], [0.5, -2.0], [-1.0, 1.0]])
    codes, limits = centred_codes(values)
    assert limits.tolist() == [1.0, 2.0]
    assert codes.tolist() == [[128, 192, 1], [128, 1, 192]]
    zero_codes, zero_limits = centred_codes(torch.zeros(3, 1))
    assert zero_codes.tolist() == [[128, 128, 128]] and zero_limits.tolist() == [1.0]


def test_centred_codes_round_trip_within_half_a_step():
    values = torch.randn(50, 4) * torch.tensor([0.1, 1.0, 10.0, 0.0])
    codes, limits = centred_codes(values)
    error = (uncentred(codes, limits).T - values).abs()
    assert bool((error <= limits / 254 + 1e-6).all())


def test_symmetric_codes_put_the_limits_at_the_ends():
    rows = torch.tensor([[-2.0, 0.0, 2.0, 5.0], [-0.5, 0.25, 0.5, -1.0]])
    codes = symmetric_codes(rows, torch.tensor([2.0, 0.5]))
    assert codes.tolist() == [[0, 128, 255, 255], [0, 191, 255, 0]]
    limits = torch.tensor([[2.0], [0.5]])
    decoded = (codes.float() / 127.5 - 1) * limits
    error = (decoded - rows).abs()
    inside = rows.abs() <= limits  # within half a step, 2 * limit / 255 / 2
    assert bool((error <= limits / 255 + 1e-6)[inside].all())


def test_fraction_codes_are_linear_codes_of_the_unit_interval():
    values = torch.tensor([0.0, 0.25, 0.5, 1.0, 1.5, -0.5])
    assert fraction_codes(values).tolist() == [0, 64, 128, 255, 255, 0]
    assert torch.equal(
        fraction_codes(values), linear_codes(values, torch.tensor(0.0), torch.tensor(1.0))
    )
