"""What the lessons and the README say holds: each claim computed from the lesson's own code."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch

import nnwidgets as nw

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
        if isinstance(value, nw.MLPExplorer | nw.OcclusionExplorer):
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
