"""An exported TextNeuronExplorer page still recolours on the slider, offline, with no kernel."""

from __future__ import annotations

import nbformat
import pytest
from harness import ARTIFACTS
from test_export import open_offline  # the lecture-export test's offline page opener

from nnwidgets.export import export_notebook

pytestmark = pytest.mark.browser

CODE = """import nnwidgets as nw
demo = nw.zoo.char_rnn()
w = nw.TextNeuronExplorer(demo.model, demo.text[:1500], demo.vocab, layers=["rnn[1] cell"])
w.find_units(r'"[^"\\n]*"')
w"""

HASH = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 0x811c9dc5; for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i], 0x01000193) >>> 0;
  return h; }"""


def test_exported_page_recolours_on_the_slider(tmp_path, page):
    path = tmp_path / "text.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CODE)]), path)
    report = export_notebook(path, tmp_path / "site", timeout=120)
    outside, failed = open_offline(page, report.page.as_uri())
    root = page.locator(".nnw-text").first
    canvas = root.locator("canvas.nnw-text-canvas")
    page.wait_for_function("r => Number(r.dataset.drawn) > 0", arg=root.element_handle())
    slider = root.locator("input.nnw-unit-slider")
    hashes = {canvas.evaluate(HASH)}
    for unit in (1, 2, 3):
        slider.fill(str(unit))
        assert root.get_attribute("data-unit") == str(unit)
        hashes.add(canvas.evaluate(HASH))
    assert len(hashes) == 4, "each unit recolours the saved text"
    # the saved ranking still selects a unit; searching needs the kernel
    rank = root.locator("button.nnw-rank").nth(1)
    rank.click()
    assert root.get_attribute("data-unit") == rank.get_attribute("data-unit")
    assert root.locator("button.nnw-find").is_disabled()
    assert root.locator("input.nnw-pattern").is_disabled()
    # hovering reads the saved predictions
    box = canvas.bounding_box()
    page.mouse.move(int(box["x"]) + 9, int(box["y"]) + 15)
    page.wait_for_function("r => r.dataset.hovered === '0'", arg=root.element_handle())
    assert root.locator(".nnw-next-item").count() == 5
    assert not outside, f"requests left the machine: {outside}"
    assert not failed, f"files the page asked for are missing: {failed}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "export-text-explorer.png"), full_page=True)
    assert report.state_bytes < 1e6, "1,500 characters x 128 units stay small"
