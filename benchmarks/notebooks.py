"""How long each lecture notebook takes to run top to bottom, against a one-minute budget.

Run:  python benchmarks/notebooks.py

A lesson should run in about a minute on a laptop CPU. Prints each notebook's seconds and their
ratio to 60 s (tests/test_notebooks.py checks that they run; this says how fast).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from nnwidgets.compute._timing import best_of

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
BUDGET = 60.0


def run(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()


def main() -> None:
    for path in NOTEBOOKS:
        seconds = best_of(lambda path=path: run(path), 1)
        print(f"{path.name:32s} {seconds:6.1f} s  {seconds / BUDGET:5.2f} x the one-minute budget")


if __name__ == "__main__":
    main()
