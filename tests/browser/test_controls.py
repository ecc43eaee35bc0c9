"""Every control keeps its keys in JupyterLab and Notebook 7 (js/lib/dom.js keepKeys)."""

from __future__ import annotations

import pytest
from harness import FRONTENDS, open_notebook

pytestmark = pytest.mark.browser

ROOT = ".nnw-occlusion"
CELLS = [
    "import nnwidgets as nw",
    "d = nw.zoo.digits()\n"
    "w = nw.OcclusionExplorer(d.model, d.images[142], labels=d.classes, window=4, stride=2)\n"
    "w",
]
ACTIVE_CELL = """() => {
  const cells = Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell'));
  return cells.findIndex((cell) => cell.classList.contains('jp-mod-active'));
}"""


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_sliders_and_number_boxes_keep_their_keys(server, page):
    nb = open_notebook(server, page, CELLS)
    root = nb.widget(ROOT)
    nb.wait_for_attr(root, "data-drawn", lambda v: v is not None)
    active = page.evaluate(ACTIVE_CELL)
    assert active >= 1, "the widget's cell is the active one after Run All"

    # the window slider: arrow keys move it, not the notebook's cell selection
    window = nb.widget(f"{ROOT} input[type=range]").first
    window.focus()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowRight")
    nb.run_code("print(w.window)", until="[6, 6]")
    assert page.evaluate(ACTIVE_CELL) == active
    assert window.evaluate("el => el === document.activeElement")

    # the opacity slider: Home sets it to 0
    opacity = nb.widget(f"{ROOT} input[type=range]").last
    opacity.focus()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Home")
    nb.run_code("print(w.opacity)", until="0.0")
    assert page.evaluate(ACTIVE_CELL) == active

    # a number box: Enter commits what was typed
    nb.run_code("w.fill = 'value'")
    box = nb.widget(f"{ROOT} input[type=number]")
    box.wait_for(state="visible")
    box.fill("0.5")
    box.press("Enter")
    nb.run_code("print(w.fill_value)", until="0.5")
    assert page.evaluate(ACTIVE_CELL) == active
    # a value the kernel rejects: the box shows the kernel's value again
    box.fill("1e39")
    box.press("Enter")
    nb.run_code("print(bool(w.error), w.fill_value)", until="True 0.5")
    page.wait_for_function("el => el.value === '0.5'", arg=box.element_handle(), timeout=5000)
    nb.screenshot("controls")
