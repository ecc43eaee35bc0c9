"""Layer activations over datasets and the top-activating inputs, against brute force."""

from __future__ import annotations

import torch

import nnwidgets as nw
from nnwidgets.compute import layer_activations, top_activations


def test_top_activations_equal_a_brute_force_pass():
    demo = nw.zoo.digits()
    images = demo.images[:120]
    captured = []
    handle = demo.model.conv2.register_forward_hook(lambda m, i, o: captured.append(o))
    with torch.no_grad():
        for image in images:
            demo.model(image[None])
    handle.remove()
    brute = torch.cat(captured).mean((2, 3))  # (N, 32) channel means
    top = top_activations(demo.model, "conv2", images, k=9, batch_size=17)
    for unit in range(brute.shape[1]):
        order = sorted(range(len(images)), key=lambda i: -float(brute[i, unit]))[:9]
        assert top.indices[unit].tolist() == order
        assert torch.allclose(top.values[unit], brute[order, unit], atol=1e-5)
    assert torch.allclose(top.activations, brute, atol=1e-5)


def test_datasets_and_loaders_give_the_same_activations():
    demo = nw.zoo.digits()
    images = demo.images[:50]
    pairs = torch.utils.data.TensorDataset(images, demo.targets[:50])
    loader = torch.utils.data.DataLoader(pairs, batch_size=7)
    expected = layer_activations(demo.model, "fc1", images)
    assert expected.shape == (50, 64)
    assert torch.allclose(layer_activations(demo.model, "fc1", pairs), expected, atol=1e-5)
    assert torch.allclose(layer_activations(demo.model, "fc1", loader), expected, atol=1e-5)
    neuron = layer_activations(demo.model, "conv1", images, objective="neuron", position=(3, 4))
    with torch.no_grad():
        full = demo.model.conv1(images)
    assert torch.allclose(neuron, full[:, :, 3, 4], atol=1e-6)


def test_lowest_activations_are_the_bottom_of_the_ranking():
    demo = nw.zoo.digits()
    images = demo.images[:30]
    top = top_activations(demo.model, "fc1", images, k=4, objective="linear")
    low = top_activations(demo.model, "fc1", images, k=4, objective="linear", largest=False)
    assert torch.equal(low.activations, top.activations)
    expected, where = top.activations.sort(dim=0)
    assert torch.equal(low.values, expected[:4].T) and torch.equal(low.indices, where[:4].T)
