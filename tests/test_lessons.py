"""What the lessons and the README say holds: each claim computed from the lesson's own code."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

import nnwidgets as nw

LESSONS = Path(__file__).resolve().parents[1] / "notebooks"


def _cells(lesson: str, kind: str) -> list[str]:
    nb = nbformat.read(LESSONS / lesson, as_version=4)
    return [cell.source for cell in nb.cells if cell.cell_type == kind]


def run_cells(lesson: str, *markers: str) -> dict:
    """Run a lesson's first code cell (its imports), then each code cell holding a marker."""
    code = _cells(lesson, "code")
    namespace: dict = {}
    chosen = [code[0]]
    for marker in markers:
        found = [source for source in code if marker in source]
        assert len(found) == 1, f"{lesson}: {len(found)} code cells hold {marker!r}"
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
    cells = run_cells("03_mlp.ipynb", "# OR", "tower = ")
    for name in ("xor", "tower"):
        explorer = cells[name]
        losses = list(explorer.chart.marks[0].y)
        assert losses == [explorer.train_loss], (name, losses)
        assert explorer.train_loss < 0.01, name
        explorer.train(100)
        curve = list(explorer.chart.marks[0].y)
        assert curve[0] == losses[0] and max(curve) < 0.05, (name, max(curve))
    close_widgets(cells)
