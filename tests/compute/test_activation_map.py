"""activation_map: where a channel fires on one image, at the image's size."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import nnwidgets as nw


def test_is_the_channel_upsampled_and_leaves_the_model_as_it_was(
    digits, fingerprint, same_fingerprint
):
    model, image = digits.model, digits.images[3]
    before = fingerprint(model)
    got = nw.compute.activation_map(model, "relu2", image, 5)
    same_fingerprint(before, fingerprint(model))
    with torch.no_grad():
        x = model.pool1(model.relu1(model.conv1(image[None])))
        channel = model.relu2(model.conv2(x))[0, 5]
    assert got.shape == image.shape[-2:]
    expected = F.interpolate(channel[None, None], size=(16, 16), mode="bilinear")[0, 0]
    torch.testing.assert_close(got, expected)
    assert got.min() >= 0  # after a ReLU


def test_layers_without_a_map_and_bad_units_are_refused(digits):
    with pytest.raises(ValueError, match="no spatial map"):
        nw.compute.activation_map(digits.model, "fc1", digits.images[0], 0)
    with pytest.raises(ValueError, match="no spatial map"):
        nw.compute.activation_map(digits.model, "output", digits.images[0], 0)
    with pytest.raises(ValueError, match="out of range"):
        nw.compute.activation_map(digits.model, "conv2", digits.images[0], 999)
    with pytest.raises(ValueError, match="no layer"):
        nw.compute.activation_map(digits.model, "conv9", digits.images[0], 0)
