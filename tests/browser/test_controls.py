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

    def keys_reach(control, keys, code, until):
        """The keys move ``control`` (the kernel sees it), not the notebook's cell selection."""
        control.focus()
        for key in keys:
            page.keyboard.press(key)
        nb.run_code(code, until=until)
        assert page.evaluate(ACTIVE_CELL) == active

    # the window slider: arrow keys move it; the opacity slider: Home sets it to 0
    window = nb.widget(f"{ROOT} input[type=range]").first
    keys_reach(window, ("ArrowUp", "ArrowRight"), "print(w.window)", "[6, 6]")
    assert window.evaluate("el => el === document.activeElement")
    opacity = nb.widget(f"{ROOT} input[type=range]").last
    keys_reach(opacity, ("ArrowUp", "Home"), "print(w.opacity)", "0.0")

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
