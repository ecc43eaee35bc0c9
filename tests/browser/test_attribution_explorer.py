"""AttributionExplorer in a real JupyterLab / Notebook 7: maps, hover, methods, target."""

from __future__ import annotations

import json

import pytest
from harness import FRONTENDS, open_notebook

pytestmark = pytest.mark.browser

ROOT = ".nnw-attribution"
DEFAULT = ["saliency", "guided_backprop", "grad_cam"]

CELLS = [
    "import json\nimport nnwidgets as nw",
    "demo = nw.zoo.clever_hans()\n"
    "w = nw.AttributionExplorer(demo.model, demo.images[0], labels=demo.classes,\n"
    "                           dataset=demo.images[:8])\nw",
]


def panel(nb, method: str):
    return nb.widget(f"{ROOT} .nnw-attr-panel[data-method='{method}'] canvas.nnw-attr-map")


def kernel_value(nb, method: str, row: int, col: int) -> float:
    return float(nb.run_code(f"print(repr(float(w.maps[{method!r}][{row}, {col}])))"))


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_maps_hover_opacity_methods_and_target(server, page, browser_log):
    nb = open_notebook(server, page, CELLS)
    root = nb.widget(ROOT)
    nb.wait_for_attr(root, "data-shown", ",".join(DEFAULT), timeout=60)
    for method in DEFAULT:
        pixels = nb.canvas_pixels(panel(nb, method))
        assert pixels["colours"] > 50, f"{method}'s map is drawn over the image"
        assert pixels["width"] == 2 * pixels["css_width"], "HiDPI canvas"
    legends = nb.widget(f"{ROOT} .nnw-legend").all()
    assert len(legends) == 3
    assert "sum over channels of |attribution|" in legends[0].inner_text()
    assert "symmetric about 0" in legends[1].inner_text()
    predicted = nb.run_code("print(w.labels[int(w.probabilities.argmax())])")
    assert root.get_attribute("data-predicted") == predicted
    nb.screenshot("rendered", show=root)

    # opacity: one slider recolours every map, without the kernel's help
    saliency = panel(nb, "saliency")
    before = nb.canvas_pixels(saliency)["hash"]
    opacity = nb.widget(f"{ROOT} input.nnw-attr-opacity")
    opacity.fill("0.2")
    nb.wait_for_attr(root, "data-drawn", lambda _: nb.canvas_pixels(saliency)["hash"] != before)
    nb.run_code("print(w.opacity)", until="0.2")

    # hover a pixel: every map's value there, the kernel's numbers; a crosshair on each map
    plain = nb.canvas_pixels(panel(nb, "grad_cam"))["hash"]
    page.mouse.move(*nb.canvas_point(panel(nb, "saliency"), 7 * 220 // 32 + 2, 20 * 220 // 32 + 2))
    nb.wait_for_attr(root, "data-hover", "20,7")
    assert nb.canvas_pixels(panel(nb, "grad_cam"))["hash"] != plain, "the crosshair is on every map"
    items = nb.widget(f"{ROOT} .nnw-attr-readout-item").all()
    assert [i.get_attribute("data-method") for i in items] == DEFAULT
    for item in items:
        shown = float(item.get_attribute("data-value"))
        assert shown == kernel_value(nb, item.get_attribute("data-method"), 20, 7)
    assert "row 20, column 7" in nb.widget(f"{ROOT} .nnw-attr-readout").inner_text()
    nb.screenshot("hover", show=root)
    page.mouse.move(2, 2)
    nb.wait_for_attr(root, "data-hover", "")

    # check a method: its map is computed in the background and added
    nb.widget(f"{ROOT} input.nnw-attr-method[value='integrated_gradients']").check()
    nb.wait_for_attr(root, "data-shown", ",".join([*DEFAULT, "integrated_gradients"]), timeout=30)
    nb.run_code("print(w.methods[-1])", until="integrated_gradients")
    assert nb.canvas_pixels(panel(nb, "integrated_gradients"))["colours"] > 50

    # another target: every map is recomputed for that class
    drawn = nb.canvas_pixels(panel(nb, "guided_backprop"))["hash"]
    other = nb.run_code("print(int(w.probabilities.argsort()[0]))")
    nb.widget(f"{ROOT} select.nnw-target-select").select_option(other)
    nb.run_code("w.wait(); print(w.target)", until=other)
    nb.wait_for_attr(root, "data-target", other)
    nb.wait_for_attr(root, "data-shown", ",".join([*DEFAULT, "integrated_gradients"]), timeout=30)
    assert nb.canvas_pixels(panel(nb, "guided_backprop"))["hash"] != drawn
    expected = nb.run_code(
        "from nnwidgets.compute.attribution import attribution\n"
        "a = attribution(demo.model, demo.images[:1], 'guided_backprop', w.target)[0].sum(0)\n"
        "print(bool((a - w.maps['guided_backprop']).abs().max() < 1e-6))"
    )
    assert expected == "True"
    heading = nb.widget(f"{ROOT} .nnw-heading").inner_text()
    label = json.loads(nb.run_code("print(json.dumps(w.labels[w.target]))"))
    assert f"explaining {label}" in heading
    nb.screenshot("target", show=root)

    # a malformed message is shown as an error and the kernel goes on
    nb.run_code("w._handle_message(w, {'type': 'compute', 'extra': 1}, [])")
    error = nb.widget(f"{ROOT} .nnw-error")
    error.wait_for(state="visible")
    assert "Rejected a message" in error.inner_text()
    nb.run_code("w.set_state({'target': 99})")
    assert "target must be a class index" in nb.widget(f"{ROOT} .nnw-error-text").inner_text()
    assert nb.run_code("print(w.target)") == other
    errors = [e for e in browser_log.errors if "reading 'schema'" not in e]
    assert not errors, browser_log.format()
