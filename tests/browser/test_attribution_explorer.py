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
    legends = nb.widget(f"{ROOT} .nnw-attr-panel[data-state='drawn'] .nnw-legend").all()
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
    side = nb.canvas_pixels(saliency)["css_width"] / 32  # CSS pixels per image pixel
    page.mouse.move(*nb.canvas_point(saliency, int(7.5 * side), int(20.5 * side)))
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
    saliency.focus()  # the keyboard moves the crosshair too
    page.keyboard.press("ArrowRight")
    nb.wait_for_attr(root, "data-hover", "16,17")
    page.keyboard.press("Escape")
    nb.wait_for_attr(root, "data-hover", "")

    # check a method: its map is computed in the background and added
    nb.widget(f"{ROOT} input.nnw-attr-method[value='integrated_gradients']").check()
    nb.wait_for_attr(root, "data-shown", ",".join([*DEFAULT, "integrated_gradients"]), timeout=30)
    nb.run_code("print(w.methods[-1])", until="integrated_gradients")
    assert nb.canvas_pixels(panel(nb, "integrated_gradients"))["colours"] > 50

    # Grad-CAM's layer picker recomputes its map at that layer
    cam = nb.canvas_pixels(panel(nb, "grad_cam"))["hash"]
    nb.widget(
        f"{ROOT} .nnw-attr-panel[data-method='grad_cam'] select.nnw-attr-layer"
    ).select_option("conv2")
    nb.run_code("w.wait(); print(w.method_layers['grad_cam'])", until="conv2")
    nb.wait_for_attr(
        root, "data-drawn", lambda _: nb.canvas_pixels(panel(nb, "grad_cam"))["hash"] != cam
    )

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

    # the sanity check: a row of maps per method, one per layer re-initialised, with rho
    nb.widget(f"{ROOT} button.nnw-attr-sanity-run").click()
    nb.wait_for_attr(root, "data-sanity-state", "done", timeout=60)
    steps = int(nb.run_code("print(len(w.sanity))"))
    assert steps == int(root.get_attribute("data-sanity")) >= 3
    rows = nb.widget(f"{ROOT} .nnw-attr-sanity-row")
    assert rows.count() == 4
    row = nb.widget(f"{ROOT} .nnw-attr-sanity-row[data-method='saliency']")
    cells = row.locator(".nnw-attr-thumb-cell")
    assert cells.count() == steps
    for i in range(1, steps):
        rho = nb.run_code(f"print(repr(w.sanity[{i}]['rank_correlation']['saliency']))")
        assert cells.nth(i).get_attribute("data-rho") == ("" if rho == "None" else rho)
        shown = f"\u03c1 {float(rho):.2f}" if rho != "None" else "\u03c1 n/a"
        assert shown in cells.nth(i).inner_text()
    layer = nb.run_code("print(w.sanity[1]['layer'])")
    assert layer in cells.nth(1).inner_text()
    assert nb.canvas_pixels(cells.nth(1).locator("canvas"))["colours"] > 10
    nb.screenshot("sanity", show=nb.widget(f"{ROOT} .nnw-attr-sanity"))
    # a step in the main view: the maps of the model with the top layers re-initialised
    trained = nb.canvas_pixels(panel(nb, "saliency"))["hash"]
    nb.widget(f"{ROOT} input.nnw-attr-step").fill(str(steps - 1))
    nb.wait_for_attr(root, "data-step", str(steps - 1))
    nb.run_code("print(w.sanity_step)", until=str(steps - 1))
    assert nb.canvas_pixels(panel(nb, "saliency"))["hash"] != trained
    assert "re-initialised" in nb.widget(f"{ROOT} .nnw-attr-banner").inner_text()
    nb.screenshot("sanity-step", show=root)
    nb.widget(f"{ROOT} button.nnw-attr-back").click()
    nb.wait_for_attr(root, "data-step", "0")

    # a bad value from the front-end (a target the model does not have) is shown and undone
    select = nb.widget(f"{ROOT} select.nnw-target-select")
    select.evaluate("s => s.append(new Option('class 99', '99'))")
    select.select_option("99")
    error = nb.widget(f"{ROOT} .nnw-error-text:has-text('target must be a class index')")
    error.wait_for(state="visible")
    assert nb.run_code("print(w.target)") == other
    nb.wait_for_attr(root, "data-target", other)
    nb.screenshot("error", show=root)
    nb.widget(f"{ROOT} .nnw-error-dismiss").click()
    nb.run_code("print(repr(w.error))", until="''")
    # a malformed message is shown as an error and the kernel goes on
    nb.run_code("w._handle_message(w, {'type': 'compute', 'extra': 1}, [])")
    nb.widget(f"{ROOT} .nnw-error-text:has-text('Rejected a message')").wait_for(state="visible")
    nb.run_code("w.methods = ['saliency']")
    nb.wait_for_attr(root, "data-shown", "saliency")
    # the dataset slider picks another image, explained for its own predicted class
    nb.widget(f"{ROOT} input.nnw-attr-index").fill("5")
    nb.run_code("w.wait(); print(w.source)", until="dataset #5")
    assert "for dataset #5" in nb.widget(f"{ROOT} .nnw-heading").inner_text()
    nb.wait_for_attr(root, "data-shown", "saliency")
    errors = [e for e in browser_log.errors if "reading 'schema'" not in e]
    assert not errors, browser_log.format()
