"""OcclusionExplorer in a real JupyterLab / Notebook 7, driven as a person would."""

from __future__ import annotations

import json

import pytest
from harness import FRONTENDS, open_notebook, record_timing

pytestmark = pytest.mark.browser

ROOT = ".nnw-occlusion"
VIEW = 360  # CSS pixels of the image's longer side (js/occlusion.js VIEW_SIDE)

DIGITS = [
    "import nnwidgets as nw",
    "d = nw.zoo.digits()\n"
    "w = nw.OcclusionExplorer(d.model, d.images[142], labels=d.classes, window=4, stride=2)\n"
    "w",
]

SLOW_DIGITS = [
    "import time, torch\nimport nnwidgets as nw",
    "class Slow(torch.nn.Module):\n"
    "    def __init__(self, m, delay):\n"
    "        super().__init__(); self.m = m; self.delay = delay\n"
    "    def forward(self, x):\n"
    "        time.sleep(self.delay); return self.m(x)\n",
    "d = nw.zoo.digits()\n"
    "slow = Slow(d.model, 0.0)\n"
    "w = nw.OcclusionExplorer(\n"
    "    slow, d.images[142], labels=d.classes, window=4, stride=2,\n"
    "    batch_size=4, incremental=False,  # sweeps call the slow forward\n"
    ")\n"
    "w",
]


def css_of_pixel(row: int, col: int, size: int = 16) -> tuple[int, int]:
    """CSS coordinates (x, y) of the centre of image pixel (row, col)."""
    scale = VIEW / size
    return int((col + 0.5) * scale), int((row + 0.5) * scale)


AFTER_BARS = f"{ROOT} .nnw-bar-after"


def bar_changes(nb) -> list[str]:
    """The bars' change column: empty for the original prediction, signed once occluded."""
    return nb.widget(f"{ROOT} .nnw-bar-row .nnw-bar-delta").all_inner_texts()


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_renders_clicks_and_sweeps(server, page):
    nb = open_notebook(server, page, DIGITS)
    root = nb.widget(ROOT)
    canvas = nb.widget(f"{ROOT} canvas.nnw-canvas")
    nb.wait_for_attr(root, "data-drawn", lambda v: v is not None and int(v) >= 1)
    plain = nb.canvas_pixels(canvas)
    assert plain["width"] == 2 * VIEW, "canvas should be drawn at the HiDPI pixel ratio"
    assert plain["css_width"] == VIEW
    assert plain["colours"] > 20, "the digit image should be drawn"
    assert nb.page.locator(".bqplot").count() == 0, "the probabilities are shown once"
    nb.page.wait_for_function(f"() => document.querySelectorAll({AFTER_BARS!r}).length >= 5")
    assert not any(text.strip() for text in bar_changes(nb))
    nb.screenshot("rendered")

    # a click occludes the patch centred there and updates the bars
    nb.click_canvas(canvas, *css_of_pixel(8, 8))
    nb.wait_for_attr(root, "data-source", "exact")
    assert nb.run_code("print(w.probe)") == "[6, 6]"
    assert root.get_attribute("data-probe") == "6,6"
    occluded = nb.canvas_pixels(canvas)
    assert occluded["hash"] != plain["hash"]
    assert all(text.strip() for text in bar_changes(nb)), "the bars show the occluded answer"
    latency = float(root.get_attribute("data-latency-ms"))
    record_timing(f"click -> exact bars, digits CNN ({nb.frontend})", latency / 1000)
    print(f"click -> exact result latency: {latency:.1f} ms ({nb.frontend})")
    nb.screenshot("occluded")

    # arrow keys move the occluder by the stride
    canvas.press("ArrowRight")
    nb.wait_for_attr(root, "data-probe", "6,8")
    nb.run_code("print(w.probe)", until="[6, 8]")

    # sweep: a progressive map over the image, a legend with units
    nb.widget(f"{ROOT} button.nnw-primary").click()
    nb.wait_for_attr(root, "data-sweep", "complete", timeout=30)
    swept = nb.canvas_pixels(canvas)
    assert swept["hash"] != occluded["hash"]
    legend = nb.widget(f"{ROOT} .nnw-legend")
    assert legend.is_visible()
    assert "drop in P(" in legend.inner_text()
    peak = float(nb.run_code("print(w.heatmap_peak)"))
    assert "largest effect" in legend.inner_text()
    assert ("Negligible" in legend.inner_text()) == (abs(peak) < 0.01)
    assert nb.run_code("print(w.heatmap_limit)") == "1.0"  # fixed 0..1 scale by default
    assert nb.run_code("print(tuple(w.heatmap.shape))") == "(16, 16)"
    nb.screenshot("swept")

    # opacity is answered in the browser: Home sets it to 0, the overlay disappears
    nb.widget(f"{ROOT} input[type=range]").nth(2).press("Home")
    nb.run_code("print(w.opacity)", until="0.0")
    nb.wait_for_attr(root, "data-drawn", lambda v: True)
    faded = nb.canvas_pixels(canvas)
    assert faded["hash"] != swept["hash"]


def test_burst_of_clicks_ends_on_the_last(server, page):
    nb = open_notebook(server, page, SLOW_DIGITS)
    nb.run_code("slow.delay = 0.05")
    root = nb.widget(ROOT)
    canvas = nb.widget(f"{ROOT} canvas.nnw-canvas")
    nb.wait_for_attr(root, "data-drawn", lambda v: v is not None)
    points = [
        (2, 2),
        (13, 13),
        (4, 11),
        (11, 4),
        (8, 8),
        (2, 13),
        (13, 2),
        (6, 9),
        (9, 6),
        (12, 12),
    ]
    for row, col in points:
        nb.click_canvas(canvas, *css_of_pixel(row, col))
    last = (10, 10)  # the patch centred on pixel (12, 12)
    nb.wait_for_attr(root, "data-source", "exact", timeout=20)
    assert root.get_attribute("data-probe") == f"{last[0]},{last[1]}"
    assert nb.run_code("print(w.probe)") == f"[{last[0]}, {last[1]}]"
    # the kernel's answer is the exact prediction for that patch
    check = (
        "x = d.images[142].clone(); x[:, 10:14, 10:14] = 0\n"
        "p = nw.compute.predict(d.model, x[None]).softmax(1)[0]\n"
        "print(torch.allclose(p, w.occluded_probs, atol=1e-6))"
    )
    assert nb.run_code(check) == "True"
    nb.screenshot("after-burst")


def test_clicks_after_a_sweep_answer_from_the_cache_at_once(server, page):
    nb = open_notebook(server, page, SLOW_DIGITS)
    root = nb.widget(ROOT)
    canvas = nb.widget(f"{ROOT} canvas.nnw-canvas")
    # a stopped sweep's map says it is partial
    nb.run_code("import time\nslow.delay = 0.2; w.sweep(); time.sleep(0.7); w.stop(); w.wait()")
    nb.wait_for_attr(root, "data-sweep", "partial")
    note = nb.widget(f"{ROOT} .nnw-legend-note")
    assert "Partial map" in note.inner_text() and "stopped" in note.inner_text()
    nb.screenshot("partial")
    nb.run_code("slow.delay = 0.0; w.sweep(wait=True); slow.delay = 1.5")
    nb.wait_for_attr(root, "data-sweep", "complete")
    nb.click_canvas(canvas, *css_of_pixel(5, 9))
    # the kernel needs 1.5 s; the answer from the sweep's cache is drawn right away
    nb.wait_for_attr(root, "data-source", "sweep", timeout=1.0)
    rows = nb.widget(f"{ROOT} .nnw-bar-row .nnw-bar-delta").all_inner_texts()
    assert any(text.strip() for text in rows), "the instant answer should show changes"
    nb.screenshot("instant")
    nb.wait_for_attr(root, "data-source", "exact", timeout=10)
    assert nb.run_code("print(w.probe)") == "[3, 7]"


def test_clever_hans_sweep_peaks_on_the_corner_mark(server, page):
    cells = [
        "import nnwidgets as nw",
        "hans = nw.zoo.clever_hans()\n"
        "w = nw.OcclusionExplorer(\n"
        "    hans.model, hans.images[47], labels=hans.classes, window=4, stride=2\n"
        ")\n"
        "w",
    ]
    nb = open_notebook(server, page, cells)
    root = nb.widget(ROOT)
    canvas = nb.widget(f"{ROOT} canvas.nnw-canvas")
    nb.wait_for_attr(root, "data-drawn", lambda v: v is not None)
    nb.widget(f"{ROOT} button.nnw-primary").click()
    nb.wait_for_attr(root, "data-sweep", "complete", timeout=30)
    peak = nb.run_code(
        "r, c = divmod(int(w.heatmap.argmax()), 32)\n"
        "y0, x0, y1, x1 = hans.mark_boxes[47].tolist()\n"
        "print(y0 <= r < y1 and x0 <= c < x1)"
    )
    assert peak == "True"
    # the canvas shows the colours the kernel computed: the image blended with the colour map
    blend = (
        "import json\nfrom nnwidgets import colormaps\n"
        "shown = colormaps.overlay(\n"
        "    w.image, w.heatmap_view, w.heatmap_limit, w.opacity, w.heatmap_sign\n"
        ")\n"
        "print(json.dumps([shown[3, 3].tolist(), shown[16, 16].tolist()]))"
    )
    expected = json.loads(nb.run_code(blend))
    scale = 2 * VIEW / 32
    for (row, col), rgb in zip([(3, 3), (16, 16)], expected, strict=True):
        x, y = int((col + 0.5) * scale), int((row + 0.5) * scale)
        got = nb.canvas_pixels(canvas, region=(x, y, 1, 1))["mean"][:3]
        assert max(abs(g - e) for g, e in zip(got, rgb, strict=True)) <= 3, (row, col, got, rgb)
    nb.screenshot("clever-hans")


def test_invalid_messages_are_shown_in_the_widget(server, page):
    nb = open_notebook(server, page, DIGITS)
    root = nb.widget(ROOT)
    nb.wait_for_attr(root, "data-drawn", lambda v: v is not None)
    nb.run_code("w._handle_message(w, {'type': 'probe', 'y': 99, 'x': 0, 'id': 1}, [])")
    error = nb.widget(f"{ROOT} .nnw-error")
    error.wait_for(state="visible")
    assert "does not fit" in error.inner_text()
    nb.screenshot("error")
    nb.widget(f"{ROOT} .nnw-error-dismiss").click()
    nb.run_code("print(repr(w.error))", until="''")
    error.wait_for(state="hidden")
