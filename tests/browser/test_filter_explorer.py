"""FilterExplorer in a real JupyterLab / Notebook 7: RGB filters, hover reads weights, views."""

from __future__ import annotations

import pytest
from harness import FRONTENDS, open_notebook

pytestmark = pytest.mark.browser

ROOT = ".nnw-filters"

CELLS = [
    "import nnwidgets as nw",
    "demo = nw.zoo.clever_hans()\nw = nw.FilterExplorer(demo.model)\nw",
]


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_filters_hover_and_views(server, page, browser_log):
    nb = open_notebook(server, page, CELLS)
    root = nb.widget(ROOT)
    grid = nb.widget(f"{ROOT} canvas.nnw-filter-grid")
    nb.wait_for_attr(root, "data-drawn", lambda v: v is not None and int(v) >= 1, timeout=60)
    assert root.get_attribute("data-view") == "rgb"
    pixels = nb.canvas_pixels(grid)
    assert pixels["colours"] > 50, "sixteen 3x3 colour filters"
    nb.screenshot("rgb", show=root)

    # hover filter 5: its weights, as the kernel has them
    cols, pitch = int(grid.get_attribute("data-cols")), int(grid.get_attribute("data-pitch"))
    x, y = (5 % cols) * pitch + pitch // 2, (5 // cols) * pitch + pitch // 2
    page.mouse.move(*nb.canvas_point(grid, x, y))
    nb.wait_for_attr(root, "data-hovered", "5,-1")
    readout = nb.widget(f"{ROOT} .nnw-filter-readout").inner_text()
    weight = nb.run_code("print(f'{w.filters.weight[5, 0, 0, 0].item():.2f}')")
    assert readout.startswith("Filter 5: from") and weight in readout
    assert nb.widget(f"{ROOT} .nnw-filter-table").count() == 3, "red, green and blue weights"
    nb.screenshot("hover", show=root)

    # a deeper layer: per-input-channel slices, then the norm matrix
    nb.widget(f"{ROOT} select.nnw-layer-select").select_option("conv2")
    nb.wait_for_attr(root, "data-view", "channels")
    assert root.get_attribute("data-layer") == "conv2"
    assert nb.widget(f"{ROOT} select.nnw-view-select option").count() == 3
    nb.screenshot("conv2", show=root)
    nb.widget(f"{ROOT} select.nnw-view-select").select_option("norm")
    nb.wait_for_attr(root, "data-view", "norm")
    nb.run_code("print(tuple(w.tiles.shape))", until="(32, 16)")
    page.mouse.move(*nb.canvas_point(grid, 2, 2))
    nb.wait_for_attr(root, "data-hovered", "0,0")
    norm = nb.run_code("print(f'{w.filters.values[0, 0].item():.3f}')")
    assert f"norm {norm}" in nb.widget(f"{ROOT} .nnw-filter-readout").inner_text()
    nb.screenshot("norm", show=root)
    errors = [e for e in browser_log.errors if "reading 'schema'" not in e]
    assert not errors, browser_log.format()
