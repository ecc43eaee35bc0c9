"""An exported AttributionExplorer page answers from its saved state, offline, with no kernel."""

from __future__ import annotations

import nbformat
import pytest
from harness import ARTIFACTS
from test_export import open_offline  # the lecture-export test's offline page opener
from test_text_export import HASH  # a canvas's pixels hashed in the page

from nnwidgets.export import export_notebook

pytestmark = pytest.mark.browser

CODE = """import nnwidgets as nw
demo = nw.zoo.clever_hans()
w = nw.AttributionExplorer(demo.model, demo.images[0], labels=demo.classes)
w.sanity_check(wait=True)
w"""


def test_exported_page_hovers_switches_methods_and_opacity(tmp_path, page):
    path = tmp_path / "attribution.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CODE)]), path)
    report = export_notebook(path, tmp_path / "site", timeout=120)
    outside, failed = open_offline(page, report.page.as_uri())
    root = page.locator(".nnw-attribution").first
    page.wait_for_function(
        "r => r.dataset.shown === 'saliency,guided_backprop,grad_cam'", arg=root.element_handle()
    )
    saliency = root.locator(".nnw-attr-panel[data-method='saliency'] canvas.nnw-attr-map")

    # hover: every saved map's value at the pixel
    box = saliency.bounding_box()
    side = box["width"] / 32
    page.mouse.move(int(box["x"]) + int(28.5 * side), int(box["y"]) + int(3.5 * side))
    page.wait_for_function("r => r.dataset.hover === '3,28'", arg=root.element_handle())
    values = root.locator(".nnw-attr-readout-item")
    assert values.count() == 3
    assert all(values.nth(i).get_attribute("data-value") != "" for i in range(3))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    root.screenshot(path=str(ARTIFACTS / "export-attribution-explorer-hover.png"))
    page.mouse.move(2, 2)

    # opacity recolours the maps here
    before = saliency.evaluate(HASH)
    root.locator("input.nnw-attr-opacity").fill("0.3")
    assert saliency.evaluate(HASH) != before, "opacity still works without a kernel"

    # switch among the computed methods; the others need the kernel
    gbp = root.locator("input.nnw-attr-method[value='guided_backprop']")
    gbp.uncheck()
    page.wait_for_function(
        "r => r.dataset.shown === 'saliency,grad_cam'", arg=root.element_handle()
    )
    gbp.check()
    page.wait_for_function(
        "r => r.dataset.shown === 'saliency,grad_cam,guided_backprop'", arg=root.element_handle()
    )
    assert root.locator("input.nnw-attr-method[value='lime']").is_disabled()
    assert root.locator("button.nnw-attr-sanity-run").is_disabled()
    assert "needs a running kernel" in root.locator(
        "input.nnw-attr-method[value='lime']"
    ).get_attribute("title")

    # the saved sanity check: a step shown in the main view
    assert root.get_attribute("data-sanity") == "6"
    trained = saliency.evaluate(HASH)
    root.locator(".nnw-attr-sanity-row[data-method='saliency'] .nnw-attr-thumb-cell").nth(3).click()
    page.wait_for_function("r => r.dataset.step === '3'", arg=root.element_handle())
    assert saliency.evaluate(HASH) != trained
    assert not outside, f"requests left the machine: {outside}"
    assert not failed, f"files the page asked for are missing: {failed}"
    page.screenshot(path=str(ARTIFACTS / "export-attribution-explorer.png"), full_page=True)
    assert report.state_bytes < 1e6
