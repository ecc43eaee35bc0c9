"""ActivationExplorer in a real JupyterLab / Notebook 7: render, hover, pin, rank, draw."""

from __future__ import annotations

import time

import pytest
from harness import FRONTENDS, open_notebook, record_timing

pytestmark = pytest.mark.browser

ROOT = ".nnw-activations"

CELLS = [
    "import nnwidgets as nw",
    "demo = nw.zoo.digits()\n"
    "zero = demo.images[int((demo.targets == 0).nonzero()[0])]  # a 0, to draw a 1 over\n"
    "w = nw.ActivationExplorer(demo.model, zero, dataset=demo.images[:20], labels=demo.classes)\nw",
]


def tile_centre(grid, index: int) -> tuple[int, int]:
    """CSS pixel at the centre of tile ``index`` of the grid canvas (its layout in data-*)."""
    cols, pitch = int(grid.get_attribute("data-cols")), int(grid.get_attribute("data-side"))
    return (index % cols) * pitch + pitch // 2, (index // cols) * pitch + pitch // 2


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_hover_pin_rank_and_draw(server, page, browser_log):
    nb = open_notebook(server, page, CELLS)
    root = nb.widget(ROOT)
    grid = nb.widget(f"{ROOT} canvas.nnw-act-grid")
    view = nb.widget(f"{ROOT} canvas.nnw-act-input")
    nb.wait_for_attr(root, "data-drawn", lambda v: v is not None and int(v) >= 1, timeout=60)
    tiles = nb.canvas_pixels(grid)
    assert tiles["colours"] > 30, "sixteen maps of conv1 are drawn"
    assert tiles["width"] == 2 * tiles["css_width"], "HiDPI canvas"
    predicted = nb.run_code("print(w.labels[int(w.probabilities.argmax())])")
    assert root.get_attribute("data-predicted") == predicted == "0"
    assert len(nb.widget(f"{ROOT} .nnw-act-stat").all()) == 7, "a header and six layers"
    nb.screenshot("rendered", show=root)

    # hover a tile: its map is drawn over the input
    plain = nb.canvas_pixels(view)["hash"]
    page.mouse.move(*nb.canvas_point(grid, *tile_centre(grid, 3)))
    nb.wait_for_attr(root, "data-shown", "3")
    assert nb.canvas_pixels(view)["hash"] != plain, "the enlarged map covers the input"
    assert "Channel 3" in nb.widget(f"{ROOT} .nnw-act-readout").inner_text()
    nb.screenshot("hover", show=root)

    # click pins it: it stays when the pointer leaves, and the kernel knows
    nb.click_canvas(grid, *tile_centre(grid, 3))
    nb.run_code("print(w.channel)", until="3")
    page.mouse.move(*nb.canvas_point(view, 5, 5))
    nb.wait_for_attr(root, "data-shown", "3")

    # the keyboard: arrows move through the tiles, Escape leaves the pinned one shown
    grid.focus()
    page.keyboard.press("ArrowRight")
    nb.wait_for_attr(root, "data-shown", "4")
    page.keyboard.press("ArrowDown")
    cols = int(grid.get_attribute("data-cols"))
    nb.wait_for_attr(root, "data-shown", str(4 + cols))
    page.keyboard.press("Escape")
    nb.wait_for_attr(root, "data-shown", "3")

    # click a position on the input: the channels ranked there are highlighted
    nb.click_canvas(view, 130, 130)  # pixel (8, 8) of the 16x16 input, 15 CSS px each
    ranked = nb.wait_for_attr(root, "data-ranked", lambda v: bool(v))
    expected = nb.run_code("print(','.join(map(str, w.ranking['channels'][:5])))")
    assert ranked == expected
    assert nb.run_code("print(w.ranking['row'], w.ranking['col'])") == "8 8"

    # draw a vertical stroke on the pad: the input, the grid and the prediction follow
    pad = nb.widget(f"{ROOT} canvas.nnw-act-pad")
    before_grid = nb.canvas_pixels(grid)["hash"]
    computed = int(root.get_attribute("data-computed"))
    page.mouse.move(*nb.canvas_point(pad, 80, 20))
    page.mouse.down()
    started = time.perf_counter()
    for y in range(20, 141, 4):
        page.mouse.move(*nb.canvas_point(pad, 80, y))
    page.mouse.up()
    stroke_s = time.perf_counter() - started
    page.wait_for_timeout(200)  # the last drawing leaves at most 50 ms after the stroke
    nb.wait_for_attr(root, "data-computed", lambda v: v is not None and int(v) > computed)
    nb.run_code("w.wait(); print(w.source)", until="your drawing")
    sent = int(root.get_attribute("data-sent"))
    assert 1 <= sent <= stroke_s / 0.05 + 2, "the pad sends at most every 50 ms"
    assert nb.canvas_pixels(pad)["colours"] > 2, "the stroke is drawn on the pad"
    ink = nb.run_code("print(int((w.input[0, :, 7:9] > 0.5).sum()))")
    assert int(ink) >= 10, "the drawn column arrives as ink in the model's range"
    predicted = nb.run_code("print(w.labels[int(w.probabilities.argmax())])")
    assert predicted == "1", "a vertical stroke reads as a 1"
    nb.wait_for_attr(root, "data-predicted", predicted)
    assert "for your drawing" in nb.widget(f"{ROOT} .nnw-heading").inner_text()
    assert nb.canvas_pixels(grid)["hash"] != before_grid, "the grid follows the drawing"
    record_timing(f"pad drawings sent in a {stroke_s:.2f} s stroke: {sent}", stroke_s)
    nb.screenshot("drawn", show=root)

    # the layer picker: relu2's 32 maps, and the stats row of the layer marked
    nb.widget(f"{ROOT} select.nnw-layer-select").select_option("relu2")
    nb.wait_for_attr(root, "data-layer", "relu2")
    nb.run_code("print(tuple(w.tiles.shape))", until="(32, 8, 8)")
    assert nb.widget(f"{ROOT} .nnw-act-stat.nnw-current").get_attribute("data-layer") == "relu2"
    nb.screenshot("relu2", show=root)

    # per-channel scaling, said in the legend; the dataset slider picks another input
    before_grid = nb.canvas_pixels(grid)["hash"]
    nb.widget(f"{ROOT} select.nnw-scaling-select").select_option("channel")
    nb.run_code("w.wait(); print(w.scaling)", until="channel")
    nb.wait_for_attr(root, "data-drawn", lambda v: nb.canvas_pixels(grid)["hash"] != before_grid)
    assert "each channel scaled on its own" in nb.widget(f"{ROOT} .nnw-legend").inner_text()
    slider = nb.widget(f"{ROOT} input.nnw-act-index")
    slider.evaluate("s => { s.value = '5'; s.dispatchEvent(new Event('input', {bubbles: true})); }")
    nb.run_code("w.wait(); print(w.source)", until="dataset #5")
    predicted = nb.run_code("print(w.labels[int(w.probabilities.argmax())])")
    nb.wait_for_attr(root, "data-predicted", predicted)
    assert "for dataset #5" in nb.widget(f"{ROOT} .nnw-heading").inner_text()
    errors = [e for e in browser_log.errors if "reading 'schema'" not in e]
    assert not errors, browser_log.format()
