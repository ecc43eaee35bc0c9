"""NeuronExplorer in a real JupyterLab / Notebook 7: scrub the slider, fill the overview."""

from __future__ import annotations

import pytest
from harness import FRONTENDS, open_notebook, record_timing

pytestmark = pytest.mark.browser

ROOT = ".nnw-neuron"

DIGITS = [
    "import nnwidgets as nw",
    "d = nw.zoo.digits()\n"
    "w = nw.NeuronExplorer(d.model, 'conv2', dataset=d.images[:200], steps=48)\n"
    "w",
]

# Records every unit the big canvas shows, in order, to catch a stale unit drawn late.
WATCH_UNITS = """root => {
  window.__nnwUnits = [];
  new MutationObserver(() => window.__nnwUnits.push(Number(root.dataset.unit)))
    .observe(root, {attributes: true, attributeFilter: ['data-drawn']});
}"""


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_overview_fills_in_and_scrubbing_is_instant(server, page):
    nb = open_notebook(server, page, DIGITS)
    root = nb.widget(ROOT)
    synth = nb.widget(f"{ROOT} canvas.nnw-synth")
    units = int(nb.run_code("print(w.unit_count)"))
    nb.wait_for_attr(root, "data-done", str(units), timeout=90)
    nb.wait_for_attr(root, "data-source", "final")
    first = nb.canvas_pixels(synth)
    assert first["css_width"] == 240 and first["width"] == 480, "HiDPI canvas"
    assert first["colours"] > 20, "the synthesized image should be drawn"
    overview = nb.canvas_pixels(nb.widget(f"{ROOT} canvas.nnw-overview"))
    assert overview["colours"] > 100, "the overview should show every unit's image"
    assert nb.widget(f"{ROOT} .nnw-example").count() == 9
    nb.screenshot("computed")

    # scrub with the keyboard over computed units: each step draws a different image at once
    slider = nb.widget(f"{ROOT} input.nnw-unit-slider")
    slider.focus()
    hashes = [first["hash"]]
    latencies = []
    for unit in range(1, 8):
        latency = page.evaluate(
            """slider => new Promise(resolve => {
                const root = slider.closest('.nnw-neuron');
                const before = Number(root.dataset.drawn);
                const t0 = performance.now();
                slider.value = String(Number(slider.value) + 1);
                slider.dispatchEvent(new Event('input', {bubbles: true}));
                resolve(Number(root.dataset.drawn) > before ? performance.now() - t0 : -1);
            })""",
            slider.element_handle(),
        )
        assert latency >= 0, "a computed unit must be drawn synchronously, with no kernel trip"
        latencies.append(latency)
        assert root.get_attribute("data-unit") == str(unit)
        assert root.get_attribute("data-source") == "final"
        hashes.append(nb.canvas_pixels(synth)["hash"])
    assert len(set(hashes)) == len(hashes), "every unit should look different"
    record_timing("neuron scrub over computed units (max, browser)", max(latencies) / 1000)
    nb.run_code("print(w.unit)", until="7")

    # real key presses reach the slider too
    slider.focus()
    page.keyboard.press("ArrowLeft")
    nb.wait_for_attr(root, "data-unit", "6")

    # a click on an overview tile selects that unit
    nb.click_canvas(nb.widget(f"{ROOT} canvas.nnw-overview"), 2 * 61 + 20, 20)
    nb.wait_for_attr(root, "data-unit", "2")
    nb.run_code("print(w.unit)", until="2")
    # the status line counts what the overview counts
    title = nb.widget(f"{ROOT} .nnw-overview-box .nnw-section-title").inner_text()
    assert f"{units} of {units} units synthesized" in title

    # a clicked example becomes the input, with where the unit fires drawn over it
    nb.widget(f"{ROOT} .nnw-example").nth(1).click()
    nb.wait_for_attr(root, "data-input-map", "2")
    assert "where it fires" in nb.widget(f"{ROOT} .nnw-input-text").inner_text()
    nb.screenshot("unit-2")


def test_fast_burst_over_uncomputed_units_never_draws_a_stale_one(server, page):
    cells = [
        "import nnwidgets as nw",
        "d = nw.zoo.digits()\n"
        "w = nw.NeuronExplorer(d.model, 'conv2', precompute=False, steps=200, size=16)\n"
        "w",
    ]
    nb = open_notebook(server, page, cells)
    root = nb.widget(ROOT)
    nb.wait_for_attr(root, "data-source", "final", timeout=60)
    root.evaluate(WATCH_UNITS)
    slider = nb.widget(f"{ROOT} input.nnw-unit-slider")
    slider.focus()
    for _ in range(12):
        page.keyboard.press("ArrowRight")
    nb.wait_for_attr(root, "data-unit", "12")
    # the kernel optimizes unit 12 only; its previews and its final image are what is drawn
    nb.wait_for_attr(root, "data-source", "final", timeout=60)
    shown = page.evaluate("() => window.__nnwUnits")
    assert shown == sorted(shown), f"a stale unit was drawn after a newer one: {shown}"
    assert shown[-1] == 12
    done = nb.run_code("print(w.unit_done.nonzero().flatten().tolist())")
    assert "12" in done
    assert nb.canvas_pixels(nb.widget(f"{ROOT} canvas.nnw-synth"))["colours"] > 20
    nb.screenshot("after-burst")
