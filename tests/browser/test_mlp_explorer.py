"""MLPExplorer in a real JupyterLab: hover units, train live, edit a weight, linear regions."""

from __future__ import annotations

import time

import pytest
from harness import FRONTENDS, open_notebook, record_timing

pytestmark = pytest.mark.browser

ROOT = ".nnw-mlp"
SIZE = "e => [e.offsetWidth, e.offsetHeight]"


def cells(args: str) -> list[str]:
    return ["import nnwidgets as nw", f"w = nw.MLPExplorer({args})\nw"]


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_hovering_a_unit_shows_its_map_and_leaving_restores_the_output(server, page):
    nb = open_notebook(server, page, cells('data="circles", hidden=(3, 2), activation="relu"'))
    root = nb.widget(ROOT)
    view = nb.widget(f"{ROOT} canvas.nnw-main-view")
    nb.wait_for_attr(root, "data-view", "output")
    output = nb.canvas_pixels(view)
    assert output["css_width"] == 320 and output["width"] == 640, "HiDPI main view"
    legend = nb.widget(f"{ROOT} .nnw-legend")
    assert "P(class 1)" in legend.inner_text()
    ticks = nb.widget(f"{ROOT} .nnw-legend-ticks").inner_text().split()
    assert ticks == ["0", "0.5", "1"], "the output scale is a probability, 0 to 1"
    key = nb.widget(f"{ROOT} .nnw-key").inner_text()
    for words in ("class 0", "class 1", "training", "test"):
        assert words in key, f"the markers' key names {words!r}"
    assert nb.widget(f"{ROOT} .nnw-axis-x .nnw-tick").count() >= 3, "the plane has axes"
    assert "ReLU" in (nb.widget(f"{ROOT} .nnw-regions-label").get_attribute("title") or "")
    main = nb.widget(f"{ROOT} .nnw-main")
    size = main.evaluate(SIZE)
    assert output["colours"] > 50
    nodes = nb.widget(f"{ROOT} .nnw-node")
    assert nodes.count() == 2 + 3 + 2 + 2
    seen = {output["hash"]}
    latencies = []
    for layer, units in ((1, 3), (2, 2)):
        for unit in range(units):
            node = nb.widget(f"{ROOT} .nnw-node[data-layer='{layer}'][data-unit='{unit}']")
            node.hover()
            nb.wait_for_attr(root, "data-view", f"unit:{layer}:{unit}")
            latencies.append(float(root.get_attribute("data-hover-ms")))
            pixels = nb.canvas_pixels(view)
            assert pixels["hash"] not in seen, f"unit {layer}:{unit} should show its own map"
            seen.add(pixels["hash"])
            if (layer, unit) == (1, 0):
                nb.screenshot("hover-unit")
    page.mouse.move(5, 5)
    nb.wait_for_attr(root, "data-view", "output")
    assert main.evaluate(SIZE) == size, "hovering and leaving keep the layout still"
    assert nb.canvas_pixels(view)["hash"] == output["hash"], "leaving restores the output view"
    worst = max(latencies)
    record_timing(f"MLP hover to drawn (max of {len(latencies)}, browser)", worst / 1000)
    assert worst < 100, "hover is drawn from maps in the browser, with no kernel trip"


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_training_streams_frames_and_moves_the_loss_curve(server, page):
    nb = open_notebook(server, page, cells('data="spirals"'))
    root = nb.widget(ROOT)
    nb.wait_for_attr(root, "data-view", "output")
    before = nb.canvas_pixels(nb.widget(f"{ROOT} canvas.nnw-main-view"))["hash"]
    edge = nb.widget(f"{ROOT} svg.nnw-edges line:not(.nnw-edge-hit)").first
    width = edge.evaluate("e => { e.dataset.kept = 'yes'; return e.getAttribute('stroke-width'); }")
    nb.widget(f"{ROOT} button.nnw-play").click()
    nb.wait_for_attr(root, "data-frames", lambda v: v is not None and int(v) >= 20, timeout=20)
    kept = nb.widget(f"{ROOT} svg.nnw-edges line[data-kept='yes']")
    assert kept.count() == 1, "frames update the edges, they do not rebuild them"
    assert kept.get_attribute("stroke-width") != width, "the edges follow the weights"
    time.sleep(2)
    fps = int(root.get_attribute("data-fps"))
    record_timing("MLP live training: frames drawn in the last second (count, not ms)", fps / 1000)
    print(f"live training: {fps} frames received and drawn per second")
    nb.screenshot("training")
    nb.widget(f"{ROOT} button.nnw-play").click()
    time.sleep(0.3)
    shown = root.get_attribute("data-step")
    time.sleep(1.0)
    assert root.get_attribute("data-step") == shown, "Pause stops the picture at once"
    nb.run_code("w.wait(5); print(w.playing)", until="False")
    steps = int(nb.run_code("print(w.step_count)"))
    assert int(shown) == steps, "the picture shows the step training stopped at"
    assert steps > 100
    assert nb.canvas_pixels(nb.widget(f"{ROOT} canvas.nnw-main-view"))["hash"] != before
    line = nb.page.locator(".bqplot g.curve path.line").first
    assert len(line.get_attribute("d") or "") > 200, "the loss curve should have many points"
    assert fps >= 10, "training frames should stream smoothly"


def test_click_an_edge_to_set_its_weight_and_count_linear_regions(server, page):
    nb = open_notebook(server, page, cells('data="xor", hidden=(3,), activation="relu"'))
    root = nb.widget(ROOT)
    nb.wait_for_attr(root, "data-view", "output")
    edge = nb.widget(f"{ROOT} line.nnw-edge-hit[data-layer='0'][data-out='1'][data-in='0']")
    edge.click(force=True)
    nb.wait_for_attr(root, "data-editing", "weight")
    editor = nb.widget(f"{ROOT} .nnw-editor input")
    editor.fill("2.5")
    editor.press("Enter")
    nb.run_code("print(float(w.model[0].weight[1, 0]))", until="2.5")
    nb.widget(f"{ROOT} input.nnw-regions-toggle").check()
    nb.wait_for_attr(root, "data-regions", lambda v: v not in (None, "", "0"))
    nb.wait_for_attr(root, "data-view", "regions")
    note = nb.widget(f"{ROOT} .nnw-region-note").inner_text()
    assert "linear regions (exact count)" in note
    nb.screenshot("regions")


def test_the_1d_view_uses_its_height_and_explains_its_marks(server, page):
    nb = open_notebook(server, page, cells('data="tower"'))
    root = nb.widget(ROOT)
    nb.wait_for_attr(root, "data-view", "output")
    key = nb.widget(f"{ROOT} .nnw-key").inner_text()
    assert "network output" in key and "test" in key
    names = nb.widget(f"{ROOT} .nnw-axis-name").all_inner_texts()
    assert names == ["f(x)", "x"]
    # the y ticks span the drawn range: the lowest near the bottom, the highest near the top
    spots = nb.widget(f"{ROOT} .nnw-axis-y .nnw-tick").evaluate_all(
        "ts => ts.map(t => parseFloat(t.style.bottom))"
    )
    assert min(spots) < 20 and max(spots) > 80, spots
    nb.screenshot("tower")
