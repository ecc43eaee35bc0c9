"""compute/occlusion_view.py: fills, one probe, score drops and the map's colour scale."""

from __future__ import annotations

import pytest
import torch

from nnwidgets._image import gaussian_blur
from nnwidgets.compute import OcclusionGrid
from nnwidgets.compute.occlusion_view import (
    FILLS,
    fill_baseline,
    map_extremes,
    occlude_at,
    score_drop,
)


def test_each_fill_gives_its_baseline():
    x = torch.rand(3, 6, 5)
    assert torch.equal(fill_baseline(x, "zero"), torch.zeros_like(x))
    assert torch.equal(fill_baseline(x, "value", value=0.25), torch.full_like(x, 0.25))
    own = fill_baseline(x, "mean")
    assert torch.allclose(own[:, 2, 3], x.mean(dim=(1, 2)))
    given = fill_baseline(x, "mean", mean=torch.tensor([0.1, 0.2, 0.3]))
    assert given[:, 0, 0].tolist() == pytest.approx([0.1, 0.2, 0.3]) and given.shape == x.shape
    assert torch.equal(fill_baseline(x, "blur", window=(4, 6)), gaussian_blur(x, sigma=3.0))
    assert set(FILLS) == {"zero", "mean", "blur", "value"}
    with pytest.raises(ValueError, match="1 or 3 values"):
        fill_baseline(x, "mean", mean=torch.zeros(2))
    with pytest.raises(ValueError, match="fill must be one of"):
        fill_baseline(x, "noise")


def test_occlude_at_pastes_the_baseline_at_any_pixel():
    x, baseline = torch.rand(2, 7, 9), torch.rand(2, 7, 9)
    occluded = occlude_at(x, 2, 5, (3, 4), baseline)
    expected = x.clone()
    expected[:, 2:5, 5:9] = baseline[:, 2:5, 5:9]
    assert occluded.shape == (1, 2, 7, 9) and torch.equal(occluded[0], expected)
    grid = OcclusionGrid.create(tuple(x.shape), (3, 4), (2, 4))  # a sweep's own positions
    index = 1 * grid.counts[-1] + 1  # origin (2, 4)
    on_grid = occlude_at(x, 2, 4, (3, 4), baseline)
    assert torch.equal(grid.occlude(x, torch.tensor([index]), baseline), on_grid)


def test_score_drop_in_probability_and_raw_output():
    clean = torch.tensor([2.0, 0.0, -1.0])
    outputs = torch.tensor([[2.0, 0.0, -1.0], [0.0, 2.0, -1.0]])
    assert score_drop(clean, outputs, 0, "raw").tolist() == [0.0, 2.0]
    drop = score_drop(clean, outputs, 0)
    assert drop[0] == 0 and drop[1] == pytest.approx(
        float(clean.softmax(0)[0] - outputs[1].softmax(0)[0])
    )


def test_map_extremes_peak_and_one_sided_scales():
    assert map_extremes(torch.tensor([0.0, 0.2, 0.5])) == (pytest.approx(0.5), 1)
    assert map_extremes(torch.tensor([-1e-6, 0.2, 0.5]))[1] == 1  # noise below a thousandth
    assert map_extremes(torch.tensor([-0.3, -0.1, 0.0])) == (pytest.approx(-0.3), -1)
    assert map_extremes(torch.tensor([-0.3, 0.2]))[1] == 0
    assert map_extremes(torch.tensor([float("nan"), -0.4, 0.1])) == (pytest.approx(-0.4), 0)
    assert map_extremes(torch.full((2, 2), float("nan"))) == (0.0, 0)
