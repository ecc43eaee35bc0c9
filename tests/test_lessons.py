"""What the lessons and the README say holds: each claim computed from the lesson's own code."""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import pytest
import torch

import nnwidgets as nw
from nnwidgets.compute.attribution.grad_cam import default_layer
from nnwidgets.widgets._base import NNWidget

LESSONS = Path(__file__).resolve().parents[1] / "notebooks"


def _cells(lesson: str, kind: str) -> list[str]:
    nb = nbformat.read(LESSONS / lesson, as_version=4)
    return [cell.source for cell in nb.cells if cell.cell_type == kind]


def run_cells(lesson: str, *markers: str) -> dict:
    """Run a lesson's first code cell (its imports), then each code cell with a line starting
    with a marker, in the order given, in one namespace; return the namespace."""
    code = _cells(lesson, "code")
    namespace: dict = {}
    chosen = [code[0]]
    for marker in markers:
        found = [s for s in code if any(line.startswith(marker) for line in s.splitlines())]
        assert len(found) == 1, f"{lesson}: {len(found)} code cells have a line starting {marker!r}"
        chosen.append(found[0])
    for source in chosen:
        exec(compile(source, lesson, "exec"), namespace)
    return namespace


def text(lesson: str) -> str:
    """The lesson's words: every markdown cell, joined, with line breaks read as spaces."""
    return " ".join(" ".join(_cells(lesson, "markdown")).split())


def close_widgets(namespace: dict) -> None:
    for value in namespace.values():
        if isinstance(value, NNWidget):
            value.close()


# -- README and notebooks/03: the default MLPExplorer learns every built-in data set ---------


@pytest.mark.parametrize("name", nw.zoo.TOY_DATASETS)
def test_the_default_explorer_learns_each_data_set(name):
    """README: ``nw.MLPExplorer(data="spirals")`` builds and trains a small MLP live."""
    explorer = nw.MLPExplorer(data=name)
    explorer.train(2000)
    train, test = explorer.accuracy(test=False), explorer.accuracy()
    explorer.close()
    assert train >= 0.95 and test >= 0.9, (name, train, test)


@pytest.mark.parametrize("name", nw.zoo.TOY_CURVES)
def test_the_default_explorer_fits_each_curve(name):
    explorer = nw.MLPExplorer(data=name)
    explorer.train(2000)
    loss, variance = explorer.train_loss, float(explorer._trainer.y_train.var())
    explorer.close()
    assert loss < 0.1 * variance, (name, loss, variance)


# -- notebooks/03 -----------------------------------------------------------------------------


def test_mlp_lesson_hand_set_nets_chart_their_own_loss():
    """The loss chart starts from the hand-set net, not from every half-edited one before it."""
    cells = run_cells("03_mlp.ipynb", "xor = ", "tower = ")
    for name in ("xor", "tower"):
        explorer = cells[name]
        losses = list(explorer.chart.marks[0].y)
        assert losses == [explorer.train_loss], (name, losses)
        assert explorer.train_loss < 0.01, name
        explorer.train(100)
        curve = list(explorer.chart.marks[0].y)
        assert curve[0] == losses[0] and max(curve) < 0.05, (name, max(curve))
    close_widgets(cells)


def test_mlp_lesson_relu_net_learns_the_spirals():
    """'Three layers of eight ReLUs learn the spirals, cutting the plane into a few hundred'."""
    cells = run_cells("03_mlp.ipynb", "relu = ")
    relu = cells["relu"]
    assert relu.accuracy(test=False) >= 0.95 and relu.accuracy() >= 0.95
    assert "learn the spirals, cutting the plane into a few hundred regions" in text("03_mlp.ipynb")
    assert relu.region_exact and 200 <= relu.region_count < 1000
    close_widgets(cells)


def test_mlp_lesson_depth_claims():
    """The construction beats every shallow net; random deep nets have fewer regions."""
    words = text("03_mlp.ipynb")
    cells = run_cells("03_mlp.ipynb", "saw = ", "table = ")
    deep = nw.compute.linear_regions(cells["saw"]).count
    bound = nw.compute.max_regions_one_layer(16)
    assert (deep, bound) == (256, 137)
    assert f"**{deep}**" in words and f"**{bound}**" in words
    hidden = [m.out_features for m in cells["saw"] if isinstance(m, torch.nn.Linear)][:-1]
    assert hidden == [4, 4, 4, 4]
    assert cells["sawtooth"].region_count == deep
    rows = {shape: (mean, most) for shape, mean, most in cells["table"]}
    assert "16 units in all" in words and "five random initializations" in words
    one, two, four = rows[(16,)], rows[(8, 8)], rows[(4, 4, 4, 4)]
    # "one layer of 16 or two of 8 make about a hundred regions"
    assert 75 <= one[0] <= 150 and 75 <= two[0] <= 150
    # "four layers of 4 only about a quarter as many"
    assert 0.15 <= four[0] / one[0] <= 0.35 and 0.15 <= four[0] / two[0] <= 0.35
    # "and none comes near the sawtooth's 256"
    assert max(most for _, most in rows.values()) < 0.75 * deep
    close_widgets(cells)


# -- notebooks/01 -----------------------------------------------------------------------------


def test_occlusion_lesson_digit_answers_a_click():
    """'Cover the left side of this 8 and the network reads a 3; cover its upper right, a 5.'"""
    words = text("01_occlusion.ipynb")
    cells = run_cells("01_occlusion.ipynb", "digits = ", "explorer.sweep")
    explorer, classes = cells["explorer"], cells["digits"].classes
    assert classes[explorer.prediction] == "8" and explorer.clean_probs[8] > 0.9
    for where, (row, col), reads in (("left side", (6, 5), "3"), ("upper right", (4, 11), "5")):
        assert f"Cover the {where} of this 8" in words or f"cover its {where}" in words
        assert f"reads a {reads}" in words
        explorer.occlude(row, col)
        probs = explorer.occluded_probs
        assert classes[int(probs.argmax())] == reads and probs[8] < 0.1, where
    close_widgets(cells)


def test_occlusion_lesson_clever_hans_numbers():
    words = text("01_occlusion.ipynb")
    cells = run_cells("01_occlusion.ipynb", "hans = ", "with_mark = ", "attribution = ")
    drops, near = cells["drops"], cells["near_mark"]
    # "patches near the mark take P(circle) from 1.00 down to 0.00 (a drop of 1.00), while away
    # from the mark, on the shape or beside it, the map stays under 0.001"
    assert "from 1.00 down to 0.00 (a drop of 1.00)" in words and "under 0.001" in words
    assert f"{cells['with_mark'][0]:.2f}" == "1.00" and drops[near].max() > 0.995
    assert drops[~near].abs().max() < 0.001
    y0, x0, y1, x1 = cells["hans"].mark_boxes[cells["i"]].tolist()
    hans = cells["hans_explorer"]
    hans.occlude((y0 + y1) // 2, (x0 + x1) // 2)
    assert f"{hans.occluded_probs[0]:.2f}" == "0.00"
    # "the mark's own 16 pixels carry **32%** of the attribution, and the mark with the
    # 3-pixel ring ... **80%**"; "the remaining fifth"
    on_mark, around = cells["on_mark"] / cells["size"], cells["around"] / cells["size"]
    assert f"own 16 pixels carry **{on_mark:.0%}**" in words
    assert f"also covers, **{around:.0%}**" in words
    assert (y1 - y0) * (x1 - x0) == 16 and 0.15 <= 1 - around <= 0.25
    close_widgets(cells)


# -- notebooks/04 -----------------------------------------------------------------------------

CNN = "04_inside_a_cnn.ipynb"


def test_cnn_lesson_first_layer_filters():
    """'The legend's m is 0.68. 7 of the 16 filters are mostly an edge detector ...'"""
    words = text(CNN)
    cells = run_cells(CNN, "digits = ", "weights = ")
    m, edge, ink, part = cells["m"], cells["edge"], cells["ink"], cells["part"]
    weights = cells["weights"]
    assert m == float(weights.abs().max())
    assert f"m = {m:.3f}" in cells["filters"].filters.description  # what the legend shows
    assert f"The legend's m is {m:.2f}." in words
    assert "one symmetric scale for the whole layer, mid-grey for 0, black for \u2212m" in words
    edges, inks = int((edge > 0.5).sum()), int((ink > 0.5).sum())
    assert f"**{edges} of the 16 filters are mostly an edge detector**" in words
    assert f"**{inks} are mostly an ink detector**" in words
    # "filter 14, for one, is 88% edge: ink towards the bottom right"
    assert f"filter 14, for one, is {edge[14]:.0%} edge: ink towards the bottom right" in words
    assert weights[14, 2, 2] > 0 > weights[14, 0, 0]
    # filter 1 mostly a ramp up towards the bottom, filter 11 mostly the reverse ramp
    down = cells["patterns"]["edge, top to bottom"]
    vertical = part["edge, top to bottom"]
    assert vertical[1] > 0.5 and (weights[1] * down).sum() > 0
    assert vertical[11] > 0.5 and (weights[11] * down).sum() < 0
    close_widgets(cells)


def test_cnn_lesson_activations_go_sparse_with_depth():
    words = text(CNN)
    cells = run_cells(CNN, "digits = ", "stats = ")
    grids, average = cells["stats"].layers, cells["average"]
    zeros = {name: g.zero_fraction for name, g in grids.items()}
    assert zeros["conv1"] == 0 and zeros["conv2"] == 0
    assert "The convolutions themselves give no zeros" in words
    assert (
        f"After the first ReLU {zeros['relu1']:.0%} of the activations are exactly zero, after "
        f"the second {zeros['relu2']:.0%}** ({average['relu1']:.0%} and {average['relu2']:.0%} "
        "on average over the first 100 test digits)"
    ) in words
    assert zeros["relu2"] > zeros["relu1"] and average["relu2"] > average["relu1"]
    assert len(cells["many"]) == 100
    assert (
        f"the largest activation grows from {grids['relu1'].max:.2f} to {grids['relu2'].max:.2f}"
    ) in words
    pooled = f"({zeros['pool1']:.0%} and {zeros['pool2']:.0%} zeros after `pool1` and `pool2`)"
    assert pooled in words
    assert zeros["pool1"] < zeros["relu1"] and zeros["pool2"] < zeros["relu2"]
    # "each cell of relu2 sees an 8x8 patch of the 16x16 input": its receptive field
    x = cells["digits"].images[184:185].clone().requires_grad_(True)
    model = cells["digits"].model
    inner = model.relu2(model.conv2(model.pool1(model.relu1(model.conv1(x)))))
    (grad,) = torch.autograd.grad(inner[0, :, 4, 4].sum(), x)
    rows, cols = grad[0, 0].abs().sum(1).nonzero(), grad[0, 0].abs().sum(0).nonzero()
    assert "each cell of `relu2` sees an 8\u00d78 patch of the 16\u00d716 input" in words
    assert (int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1) == (8, 8)


def test_cnn_lesson_drawing_pad():
    words = text(CNN)
    cells = run_cells(CNN, "digits = ", "explorer = ", "one = ")
    explorer, middle, top, rise = cells["explorer"], cells["middle"], cells["top"], cells["rise"]
    assert explorer.source == "your drawing"
    assert "The drawn 1 reads 1 and the drawn 7 reads 7." in words
    for name, drawing in (("1", cells["one"]), ("7", cells["seven"])):
        explorer.drawing = drawing
        explorer.wait()
        assert cells["digits"].classes[int(explorer.grids.probabilities.argmax())] == name
    m = middle["1"]
    assert (
        f"the vertical-edge channels 9 and 14 reach {m[9]:.2f} and {m[14]:.2f}, the "
        f"horizontal-edge channels 1 and 11 only {m[1]:.2f} and {m[11]:.2f}"
    ) in words
    assert min(m[9], m[14]) > 4 * max(m[1], m[11])
    # the section 1 claim the "try" list leans on: 9 and 14 have the most left-to-right ramp
    weights = cells["digits"].model.conv1.weight.detach()[:, 0]
    ramp = torch.tensor([-1.0, 0.0, 1.0])
    across = (weights * ramp).sum((1, 2)) ** 2 / weights.pow(2).sum((1, 2))
    assert set(across.argsort(descending=True)[:2].tolist()) == {9, 14}
    assert int(rise.argmax()) == 11
    assert (
        f"the channel that changes most is channel 11: from {top['1'][11]:.2f} for the 1 to "
        f"{top['7'][11]:.2f} for the 7"
    ) in words
    close_widgets(cells)


ON_SCREEN = {
    "saliency": "saliency",
    "input_x_gradient": "input \u00d7 gradient",
    "deconvnet": "deconvnet",
    "guided_backprop": "guided backprop",
    "integrated_gradients": "integrated gradients",
    "guided_grad_cam": "guided Grad-CAM",
    "lime": "LIME",
    "occlusion": "occlusion",
}


def test_cnn_lesson_attribution_methods_on_clever_hans():
    """Which methods put their mass on the shortcut mark, and which do not."""
    words = text(CNN)
    cells = run_cells(CNN, "hans = ", "options = ")
    shares, peaks, on_mark = cells["shares"], cells["peaks"], cells["on_mark"]
    assert list(shares) == list(nw.compute.ATTRIBUTION_METHODS) and int(on_mark.sum()) == 16
    area = float(on_mark.float().mean())
    assert f"would put {area:.1%} of its mass there (16 of 1024 pixels)" in words
    finders = [m for m in shares if peaks[m]]
    assert finders == list(ON_SCREEN)
    assert "**Eight of the nine methods find the shortcut.**" in words
    parts = [f"{ON_SCREEN[m]} {shares[m]:.0%}" for m in finders]
    parts[0] += " of its mass"
    parts[-2] += " (its superpixel around the mark gets the largest weight)"
    listed = ", ".join(parts[:-1]) + " and " + parts[-1]
    assert f"On the mark's sixteen pixels: {listed}:" in words
    ratios = [shares[m] / area for m in finders]
    assert int(min(ratios)) == 14 and math.ceil(max(ratios)) == 21
    assert "14 to 21 times what a map blind to the mark would put there" in words
    # Grad-CAM: 1% on the mark, 85% on the right and bottom borders, peak bottom right
    cam, border = cells["masses"]["grad_cam"], cells["border"]
    assert f"**Grad-CAM does not find it: {shares['grad_cam']:.0%} on the mark.**" in words
    assert f"{cam[border].sum() / cam.sum():.0%} of its map lies on the right and bottom" in words
    row, col = divmod(int(cam.argmax()), 32)
    assert row >= 28 and col >= 28 and not peaks["grad_cam"]
    y0, x0, y1, x1 = cells["hans"].shape_boxes[cells["i"]].tolist()
    assert not border[y0:y1, x0:x1].any() and not (border & on_mark).any()
    assert "`conv3`, 8\u00d78 cells of 4\u00d74 pixels" in words
    model = cells["hans"].model
    assert default_layer(model) == "conv3"
    grid = nw.compute.activation_grids(model, cells["x"], ["conv3"]).layers["conv3"]
    assert tuple(grid.activations.shape[1:]) == (8, 8)


def test_cnn_lesson_sanity_check():
    """'Guided backprop barely notices' the cascading randomization; saliency does."""
    words = text(CNN)
    fresh = nw.zoo.clever_hans().model.state_dict()
    cells = run_cells(CNN, "hans = ", "attributions = ", "methods = ", "attributions.sanity_check")
    steps, rho = cells["steps"], cells["rho"]
    # the widget's built-in check gives the same correlations as the compute
    widget = cells["attributions"].sanity_results
    assert [step.layer for step in widget] == [step.layer for step in steps]
    for shown, computed in zip(widget, steps, strict=True):
        for method, value in shown.rank_correlation.items():
            assert value == pytest.approx(computed.rank_correlation[method], abs=1e-6), method
    assert [step.layer for step in steps] == [None, "fc2", "fc1", "conv3", "conv2", "conv1"]
    assert [len(step.layers) for step in steps] == list(range(6))
    assert all(rho[m][0] == 1.0 for m in rho)
    gbp, sal, ig, deconv = (
        rho[m] for m in ("guided_backprop", "saliency", "integrated_gradients", "deconvnet")
    )
    assert f"(\u03c1 = {gbp[1]:.2f}, saliency {sal[1]:.2f})" in words
    assert (
        f"guided backprop keeps \u03c1 = {gbp[3]:.2f} and deconvnet {deconv[3]:.2f}, while "
        f"saliency falls to {sal[3]:.2f} and integrated gradients to {ig[3]:.2f}"
    ) in words
    assert all(min(gbp[k], deconv[k]) > max(sal[k], ig[k]) + 0.1 for k in (1, 2, 3))
    assert f"({gbp[5]:.2f} with every layer random)" in words and gbp[5] < 0.5 * gbp[3]
    counts = {m: sum(cells["mark_peak"][m][1:]) for m in rho}
    assert counts["guided_backprop"] == 5 and all(cells["mark_peak"]["guided_backprop"])
    assert (
        f"its largest value stays on the mark at all {counts['guided_backprop']} randomized steps"
    ) in words
    assert (
        f"(integrated gradients' at {counts['integrated_gradients']} of the 5, saliency's at "
        f"{counts['saliency']})"
    ) in words
    assert f"Grad-CAM falls to \u03c1 = {rho['grad_cam'][1]:.2f} at the first step" in words
    assert rho["grad_cam"][1] < 0.2
    # "on a copy of the model (yours is never changed)"
    after = cells["hans"].model.state_dict()
    assert all(after[name].equal(value) for name, value in fresh.items())
    close_widgets(cells)
