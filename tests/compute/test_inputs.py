"""Bad input to every public compute function: a clear error naming the argument, before work."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nnwidgets as nw
from nnwidgets.compute import (
    OcclusionGrid,
    Trainer,
    build_mlp,
    layer_activations,
    layer_units,
    occlusion,
    occlusion_outputs,
    predict,
    synthesize,
    top_activations,
    unit_maps,
)
from nnwidgets.compute._inputs import ImageDataset, Normalization, check_image


class Counting(nn.Module):
    """A small CNN on (1, 8, 8) images that counts its forward passes."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 3)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def meta_model() -> nn.Module:
    with torch.device("meta"):
        return Counting()


IMAGES = torch.rand(6, 1, 8, 8)
GRID = OcclusionGrid.create((1, 8, 8), 2, 2)
HWC_GRID = OcclusionGrid.create((8, 8, 1), (2, 2, 1), (2, 2, 1))

# (call, exception, words the message must hold); ``m`` is a Counting model
CASES = {
    # empty batches and empty images
    "occlusion empty batch": (
        lambda m: occlusion(m, torch.zeros(0, 1, 8, 8), 2, 2),
        ValueError,
        "inputs is an empty batch",
    ),
    "occlusion empty image": (
        lambda m: occlusion(m, torch.zeros(1, 0, 8), 2, 2),
        ValueError,
        "inputs is empty",
    ),
    "outputs empty image": (
        lambda m: list(occlusion_outputs(m, torch.zeros(1, 8, 0), GRID)),
        ValueError,
        "x",
    ),
    "predict empty batch": (lambda m: predict(m, torch.zeros(0, 1, 8, 8)), ValueError, "empty"),
    "activations empty": (
        lambda m: layer_activations(m, "conv", torch.zeros(0, 1, 8, 8)),
        ValueError,
        "empty",
    ),
    "top empty dataset": (
        lambda m: top_activations(m, "conv", TensorDataset(torch.zeros(0, 1, 8, 8))),
        ValueError,
        "empty",
    ),
    # models that are not modules, or have no weights
    "occlusion lambda": (lambda m: occlusion(lambda x: x, IMAGES, 2, 2), TypeError, "nn.Module"),
    "outputs lambda": (
        lambda m: list(occlusion_outputs(lambda x: x, IMAGES[0], GRID)),
        TypeError,
        "nn.Module",
    ),
    "predict lambda": (lambda m: predict(lambda x: x, IMAGES), TypeError, "nn.Module"),
    "synthesize lambda": (lambda m: synthesize(lambda x: x, None, 0), TypeError, "nn.Module"),
    "activations lambda": (
        lambda m: layer_activations(lambda x: x, None, IMAGES),
        TypeError,
        "nn.Module",
    ),
    "unit maps lambda": (lambda m: unit_maps(lambda x: x), TypeError, "nn.Module"),
    "occlusion meta": (lambda m: occlusion(meta_model(), IMAGES, 2, 2), ValueError, "meta"),
    "predict meta": (lambda m: predict(meta_model(), IMAGES), ValueError, "meta"),
    "synthesize meta": (
        lambda m: synthesize(meta_model(), "conv", 0, size=8, steps=1),
        ValueError,
        "meta",
    ),
    "units meta": (lambda m: layer_units(meta_model(), "conv", (1, 8, 8)), ValueError, "meta"),
    # grid arguments of the wrong type
    "window str": (lambda m: occlusion(m, IMAGES, "2", 2), TypeError, "window"),
    "window float": (lambda m: occlusion(m, IMAGES, 2.0, 2), TypeError, "window"),
    "stride list of str": (lambda m: occlusion(m, IMAGES, 2, [2, "a"]), TypeError, "stride"),
    "window bool": (lambda m: occlusion(m, IMAGES, True, 1), TypeError, "window"),
    "grid not a grid": (
        lambda m: list(occlusion_outputs(m, IMAGES[0], ((1, 8, 8), 2, 2))),
        TypeError,
        "grid",
    ),
    "baseline str": (lambda m: occlusion(m, IMAGES, 2, 2, baseline="zero"), TypeError, "baseline"),
    "baseline overflows": (
        lambda m: occlusion(m, IMAGES, 2, 2, baseline=1e39),
        ValueError,
        "baseline",
    ),
    "baseline nan": (
        lambda m: occlusion(m, IMAGES, 2, 2, baseline=float("nan")),
        ValueError,
        "baseline",
    ),
    "output selector": (lambda m: occlusion(m, IMAGES, 2, 2, output=1.5), TypeError, "output"),
    "incremental str": (
        lambda m: occlusion(m, IMAGES, 2, 2, incremental="yes"),
        TypeError,
        "incremental",
    ),
    # zero, negative and bool counts
    "batch_size 0": (lambda m: occlusion(m, IMAGES, 2, 2, batch_size=0), ValueError, "batch_size"),
    "batch_size bool": (
        lambda m: occlusion(m, IMAGES, 2, 2, batch_size=True),
        TypeError,
        "batch_size",
    ),
    "memory_budget 0": (
        lambda m: occlusion(m, IMAGES, 2, 2, memory_budget=0),
        ValueError,
        "memory_budget",
    ),
    "activations batch_size 0": (
        lambda m: layer_activations(m, "conv", IMAGES, batch_size=0),
        ValueError,
        "batch_size",
    ),
    "top k 0": (lambda m: top_activations(m, "conv", IMAGES, k=0), ValueError, "k must"),
    "top k negative": (lambda m: top_activations(m, "conv", IMAGES, k=-3), ValueError, "k must"),
    "top k float": (lambda m: top_activations(m, "conv", IMAGES, k=2.0), TypeError, "k must"),
    "steps 0": (lambda m: synthesize(m, "conv", 0, size=8, steps=0), ValueError, "steps"),
    "steps bool": (lambda m: synthesize(m, "conv", 0, size=8, steps=True), TypeError, "steps"),
    "units bool": (lambda m: synthesize(m, "conv", True, size=8, steps=1), TypeError, "units"),
    "units of bools": (
        lambda m: synthesize(m, "conv", [0, False], size=8, steps=1),
        TypeError,
        "units",
    ),
    "lr nan": (
        lambda m: synthesize(m, "conv", 0, size=8, steps=1, lr=float("nan")),
        ValueError,
        "lr",
    ),
    "size bool": (lambda m: synthesize(m, "conv", 0, size=True, steps=1), TypeError, "size"),
    "layer not a name": (lambda m: synthesize(m, 3, 0, size=8, steps=1), TypeError, "layer"),
    "channels 0": (
        lambda m: synthesize(m, "conv", 0, size=8, steps=1, channels=0),
        ValueError,
        "channels",
    ),
    "position negative": (
        lambda m: layer_activations(m, "conv", IMAGES, objective="neuron", position=(-1, 0)),
        ValueError,
        "position",
    ),
    "hidden bool": (lambda m: build_mlp(2, (True, 3)), TypeError, "hidden"),
    "resolution bool": (lambda m: unit_maps(build_mlp(), resolution=True), TypeError, "resolution"),
    "extent inf": (
        lambda m: unit_maps(build_mlp(), extent=(-1, float("inf"), -1, 1)),
        ValueError,
        "extent",
    ),
    "trainer lr": (
        lambda m: Trainer(build_mlp(), torch.rand(4, 2), torch.zeros(4), lr="fast"),
        TypeError,
        "lr",
    ),
    "trainer batch_size bool": (
        lambda m: Trainer(build_mlp(), torch.rand(4, 2), torch.zeros(4), batch_size=True),
        TypeError,
        "batch_size",
    ),
    "trainer steps 0": (
        lambda m: Trainer(build_mlp(), torch.rand(4, 2), torch.zeros(4)).step(0),
        ValueError,
        "n must",
    ),
    # data with NaN or infinite values
    "occlusion nan image": (
        lambda m: occlusion(m, torch.full((1, 1, 8, 8), float("nan")), 2, 2),
        ValueError,
        "NaN",
    ),
    "activations nan": (
        lambda m: layer_activations(m, "conv", torch.full((2, 1, 8, 8), float("inf"))),
        ValueError,
        "infinite",
    ),
    "dataset item nan": (
        lambda m: layer_activations(
            m, "conv", TensorDataset(torch.full((3, 1, 8, 8), float("nan")))
        ),
        ValueError,
        "NaN",
    ),
    "labels nan": (
        lambda m: Trainer(
            build_mlp(), torch.rand(4, 2), torch.tensor([0.0, 1.0, float("nan"), 1.0])
        ),
        ValueError,
        "NaN",
    ),
    "targets inf": (
        lambda m: Trainer(
            build_mlp(out_features=1),
            torch.rand(2, 2),
            torch.tensor([0.0, float("inf")]),
            task="regression",
        ),
        ValueError,
        "NaN or infinite",
    ),
    # integer images and channels-last images
    "uint8 dataset": (
        lambda m: layer_activations(m, "conv", torch.zeros(2, 1, 8, 8, dtype=torch.uint8)),
        TypeError,
        "uint8",
    ),
    "HWC image": (
        lambda m: occlusion(m, torch.rand(1, 8, 8, 1), 2, 2),
        ValueError,
        "channels-last",
    ),
    "HWC sweep": (
        lambda m: list(occlusion_outputs(m, torch.rand(8, 8, 1), HWC_GRID)),
        ValueError,
        "permute",
    ),
    "HWC predict": (
        lambda m: predict(m, torch.rand(2, 8, 8, 1)),
        ValueError,
        r"permute\(0, 3, 1, 2\)",
    ),
    "resolution too fine": (
        lambda m: unit_maps(build_mlp(), resolution=100_000),
        ValueError,
        "resolution",
    ),
    "HWC dataset": (
        lambda m: layer_activations(m, "conv", torch.rand(3, 8, 8, 1)),
        ValueError,
        "channels-last",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_rejected_clearly_before_any_work(case, fingerprint, same_fingerprint):
    call, kind, words = CASES[case]
    model = Counting()
    before = fingerprint(model)
    with pytest.raises(kind, match=words):
        call(model)
    assert model.calls == 0, "the model ran before the argument was checked"
    same_fingerprint(before, fingerprint(model))


@pytest.mark.parametrize("incremental", [True, False])
def test_a_budget_of_one_copy_sweeps_one_copy_at_a_time(incremental):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3),
    )  # fmt: skip
    x = torch.rand(1, 3, 48, 48)
    expected = occlusion(model, x, 8, 8, incremental=False)
    sizes: list[int] = []
    for budget in (1, x.numel() * x.element_size()):  # a byte; exactly one copy
        sizes.clear()
        grid = OcclusionGrid.create((3, 48, 48), 8, 8)
        chunks = occlusion_outputs(model, x, grid, memory_budget=budget, incremental=incremental)
        sizes.extend(len(indices) for indices, _ in chunks)
        assert sizes and max(sizes) == 1 and sum(sizes) == len(grid)
        got = occlusion(model, x, 8, 8, memory_budget=budget, incremental=incremental)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_a_shuffled_loader_ranks_the_items_its_dataset_indexes():
    model = Counting()
    images = torch.rand(40, 1, 8, 8)
    pairs = TensorDataset(images, torch.arange(40))
    torch.manual_seed(1)
    loader = DataLoader(pairs, batch_size=6, shuffle=True, drop_last=True)
    from_loader = top_activations(model, "conv", loader, k=5)
    from_tensor = top_activations(model, "conv", images, k=5)
    assert torch.equal(from_loader.indices, from_tensor.indices)
    torch.testing.assert_close(from_loader.activations, from_tensor.activations)
    view = ImageDataset(loader)
    assert len(view) == 40 and view.random_access
    best = int(from_loader.indices[2, 0])
    assert torch.equal(view[best], images[best])
    # the values ranked are those of the item that view[i] gives
    again = layer_activations(model, "conv", view[best][None])[0, 2]
    torch.testing.assert_close(again, from_loader.values[2, 0])


def test_a_loader_over_an_iterable_dataset_is_read_as_it_comes():
    images = torch.rand(10, 1, 8, 8)

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(images)

    view = ImageDataset(DataLoader(Stream(), batch_size=4))
    assert not view.random_access
    assert torch.equal(torch.cat(list(view.batches(3))), images)
    with pytest.raises(TypeError, match="random access"):
        view[0]
    values = layer_activations(Counting(), "conv", DataLoader(Stream(), batch_size=4))
    torch.testing.assert_close(values, layer_activations(Counting(), "conv", images))


def test_datasets_of_mixed_sizes_and_other_types_are_rejected():
    mixed = [torch.rand(1, 8, 8), torch.rand(1, 9, 9)]
    with pytest.raises(ValueError, match="different shapes"):
        list(ImageDataset(mixed).batches(4))
    with pytest.raises(TypeError, match="dataset must be"):
        ImageDataset(42)
    with pytest.raises(ValueError, match="empty"):
        ImageDataset([])


@pytest.mark.parametrize(
    ("pair", "kind", "words"),
    [
        ((0.5,), TypeError, "pair"),
        ("ab", TypeError, "pair"),
        (([0.5, 0.5], [0.2]), ValueError, "1 or 3"),
        (([0.5], [0.0]), ValueError, "positive"),
        (([0.5], [float("nan")]), ValueError, "finite"),
        (([], [1.0]), ValueError, "values"),
        ((["a"], [1.0]), TypeError, "mean"),
    ],
)
def test_bad_normalizations(pair, kind, words):
    with pytest.raises(kind, match=words):
        Normalization(pair, channels=3)


def test_normalization_round_trip():
    norm = Normalization(([0.5, 0.4, 0.3], [0.2, 0.25, 0.3]), channels=3)
    x = torch.rand(2, 3, 4, 4)
    torch.testing.assert_close(norm.undo(norm.apply(x)), x)
    torch.testing.assert_close(norm.apply(x)[:, 1], (x[:, 1] - 0.4) / 0.25)


def test_channels_first_images_pass_and_channels_last_ones_are_named():
    assert check_image(torch.rand(1, 3, 16, 16)).shape == (3, 16, 16)
    assert check_image(torch.rand(3, 16, 4), channels=3).shape == (3, 16, 4)  # C known: fine
    with pytest.raises(ValueError, match=r"permute\(2, 0, 1\)"):
        check_image(torch.rand(16, 16, 3))
    with pytest.raises(ValueError, match="C = 1"):
        check_image(torch.rand(28, 28, 1), channels=1)


def test_the_demo_still_runs_through_the_checks():
    digits = nw.zoo.digits()
    top = top_activations(digits.model, "fc1", TensorDataset(digits.images[:12]), k=3)
    assert top.indices.shape == (digits.model.fc1.out_features, 3)


def test_predict_takes_inputs_that_are_not_images():
    """Channels-last guesses are for images: a model without convolutions takes any layout."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(5 * 7 * 3, 2))
    assert predict(model, torch.rand(4, 5, 7, 3)).shape == (4, 2)
    tokens = nn.Sequential(nn.Embedding(10, 3), nn.Flatten(), nn.Linear(6, 2))
    assert predict(tokens, torch.tensor([[1, 2], [3, 4]])).shape == (2, 2)
