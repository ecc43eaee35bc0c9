"""Every lecture notebook runs top to bottom headlessly and its widget state round-trips.

How long each takes is benchmarks/notebooks.py's to say, not an assertion here.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_saves_widget_state(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    # allow_errors: every cell runs and each error is reported below (without it the first
    # error raises out of execute() and an assertion on the outputs could never fail)
    NotebookClient(
        nb,
        kernel_name="python3",
        timeout=120,  # per cell: a hang guard
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    errors = [
        f"cell {i}: {o.ename}: {o.evalue}"
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert not errors, errors
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = [m for m in state.values() if m["model_name"] == "AnyModel"]
    assert models, "the notebook should display at least one nnwidgets widget"
    saved = tmp_path / path.name
    nbformat.write(nb, saved)
    reloaded = nbformat.read(saved, as_version=4)
    assert reloaded.metadata["widgets"] == nb.metadata["widgets"]
