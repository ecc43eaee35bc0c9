"""Smoke test of the browser test infrastructure with a tiny inline anywidget."""

from __future__ import annotations

import sys
import time

import pytest
from harness import FRONTENDS, NotebookError, open_notebook, record_timing

ESM = """
const COLOURS = ["#d62728", "#2ca02c", "#1f77b4", "#ff7f0e"];
const SIZE = 64; // CSS pixels

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "smoke";
  const button = document.createElement("button");
  button.className = "smoke-button";
  const canvas = document.createElement("canvas");
  canvas.className = "smoke-canvas";
  canvas.width = canvas.height = SIZE * window.devicePixelRatio;
  canvas.style.cssText = `width:${SIZE}px;height:${SIZE}px;display:block;margin:8px 0`;
  root.append(button, canvas);
  el.append(root);

  let drawn = 0;
  let clickedAt = 0;
  function draw() {
    const ctx = canvas.getContext("2d");
    const s = canvas.width / SIZE;
    ctx.fillStyle = "#eeeeee";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = COLOURS[model.get("count") % COLOURS.length];
    ctx.fillRect(16 * s, 16 * s, 32 * s, 32 * s);
    button.textContent = `count: ${model.get("count")}`;
    canvas.dataset.drawn = String(++drawn);
  }
  button.addEventListener("click", () => {
    clickedAt = performance.now();
    model.set("count", model.get("count") + 1);
    model.save_changes();
  });
  canvas.addEventListener("click", (e) => {
    const rect = canvas.getBoundingClientRect();
    const x = Math.floor(((e.clientX - rect.left) * SIZE) / rect.width);
    const y = Math.floor(((e.clientY - rect.top) * SIZE) / rect.height);
    model.set("clicked", [x, y]);
    model.save_changes();
  });
  const onEcho = () => {
    root.dataset.echo = String(model.get("echo"));
    if (clickedAt) root.dataset.roundTripMs = (performance.now() - clickedAt).toFixed(1);
  };
  model.on("change:count", draw);
  model.on("change:echo", onEcho);
  draw();
  onEcho();
  return () => {
    model.off("change:count", draw);
    model.off("change:echo", onEcho);
  };
}
export default { render };
"""

CELLS = [
    f'ESM = """{ESM}"""',
    """\
import anywidget
import traitlets

class Smoke(anywidget.AnyWidget):
    _esm = ESM
    count = traitlets.Int(0).tag(sync=True)
    echo = traitlets.Int(0).tag(sync=True)  # Python's copy of count, sent back
    clicked = traitlets.List([]).tag(sync=True)

    @traitlets.observe("count")
    def _echo(self, change):
        self.echo = change["new"]
""",
    "w = Smoke()\nw",
]


@pytest.mark.browser
@pytest.mark.parametrize("frontend", FRONTENDS)
def test_smoke(server, page, frontend):
    nb = open_notebook(server, page, CELLS)
    # The kernel is this test run's interpreter.
    assert nb.run_code("import sys; print(sys.prefix)") == sys.prefix

    root, button, canvas = nb.widget(".smoke"), nb.widget(".smoke-button"), nb.widget("canvas")
    nb.wait_for_attr(canvas, "data-drawn", "1")
    before = nb.canvas_pixels(canvas)
    assert (before["width"], before["css_width"]) == (128, 64)  # HiDPI: 2 image px per CSS px
    assert before["background"] == [238, 238, 238, 255]
    assert before["nonblank"] == 64 * 64  # the 32x32 CSS px square
    nb.screenshot("rendered")

    for count in (1, 2):
        button.click()
        nb.wait_for_attr(root, "data-echo", count)  # JS -> Python -> JS
        record_timing(
            f"click round trip JS->Python->JS ({frontend})",
            float(root.get_attribute("data-round-trip-ms")) / 1000,
        )
    started = time.perf_counter()
    assert nb.run_code("print(w.count, w.echo)") == "2 2"
    record_timing(f"run_code round trip ({frontend})", time.perf_counter() - started)
    assert button.text_content() == "count: 2"
    nb.wait_for_attr(canvas, "data-drawn", "3")
    after = nb.canvas_pixels(canvas)
    assert after["nonblank"] == 64 * 64
    assert after["hash"] != before["hash"]  # the square changed colour
    assert after["mean"][:3] != before["mean"][:3]

    started = time.perf_counter()
    nb.click_canvas(canvas, 5, 7)
    assert nb.run_code("print(w.clicked)", until="[5, 7]") == "[5, 7]"
    record_timing(f"canvas click -> Python sees it ({frontend})", time.perf_counter() - started)
    nb.screenshot("clicked")


@pytest.mark.browser
def test_failing_cell_is_reported(server, page):
    with pytest.raises(NotebookError, match="ZeroDivisionError"):
        open_notebook(server, page, ["x = 1", "1 / 0", "print('never runs')"])
