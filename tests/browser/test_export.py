"""Lecture export: every notebook as an offline page whose widgets render and still respond."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from harness import ARTIFACTS

from nnwidgets.export import export_notebook

pytestmark = pytest.mark.browser

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
LOCAL = ("http://127.0.0.1", "file://", "data:", "blob:", "about:")


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Every notebook exported once into one folder, served over http://127.0.0.1."""
    folder = tmp_path_factory.mktemp("site")
    reports = {path.stem: export_notebook(path, folder, timeout=120) for path in NOTEBOOKS}
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}", reports
    server.shutdown()


def open_offline(page, url: str) -> tuple[list[str], list[str]]:
    """Open ``url`` with every request that would leave the machine blocked and recorded.

    Returns the blocked requests and, filled in as the page runs, the local requests that
    failed (a missing file: a 404 over http, ERR_FILE_NOT_FOUND from file://).
    """
    outside: list[str] = []
    failed: list[str] = []

    def route(route):
        if route.request.url.startswith(LOCAL):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    def request_failed(request):
        if request.url.startswith(LOCAL):
            failed.append(f"{request.url} ({request.failure})")

    def response(response):
        if response.status >= 400:
            failed.append(f"{response.url} (HTTP {response.status})")

    page.route("**/*", route)
    page.on("requestfailed", request_failed)
    page.on("response", response)
    page.goto(url)
    page.wait_for_function(
        "() => document.querySelectorAll('.nnw[data-static=\"true\"]').length > 0", timeout=30000
    )
    return outside, failed


def canvas_colours(locator) -> int:
    return locator.evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  const seen = new Set(); for (let i = 0; i < d.length; i += 4)
                  seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]); return seen.size; }"""
    )


def check_kernel_only_controls(page) -> None:
    controls = page.locator(".nnw .nnw-kernel-only")
    assert controls.count() > 0
    for control in controls.all():  # form controls are disabled, others (a drawing pad) inert
        assert control.is_disabled() or control.get_attribute("inert") is not None
    notes = page.locator(".nnw .nnw-static-note")
    assert "need a running kernel" in notes.first.inner_text()
    assert controls.first.get_attribute("title") == "needs a running kernel"


def interact(page, stem: str) -> None:
    """What the saved state can answer, per lesson."""
    if stem.startswith("01"):
        root = page.locator(".nnw-occlusion").first
        assert root.get_attribute("data-sweep") == "complete"
        canvas = root.locator("canvas.nnw-canvas")
        box = canvas.bounding_box()
        page.mouse.click(int(box["x"]) + 60, int(box["y"]) + 60)
        page.wait_for_function(
            "r => r.dataset.source === 'sweep'", arg=root.element_handle(), timeout=5000
        )
        source = root.locator(".nnw-source").inner_text()
        assert "on its way" not in source and "running kernel" in source
        before = canvas_colours(canvas)
        slider = root.locator("input[type=range]").last  # opacity
        slider.fill("0")
        assert canvas_colours(canvas) != before, "opacity still works without a kernel"
    elif stem.startswith("02"):
        root = page.locator(".nnw-neuron").first
        page.wait_for_function("r => r.dataset.source === 'final'", arg=root.element_handle())
        slider = root.locator("input.nnw-unit-slider")
        hashes = set()
        for unit in (1, 2, 3):
            slider.fill(str(unit))
            assert root.get_attribute("data-unit") == str(unit)
            assert root.get_attribute("data-source") == "final"
            hashes.add(canvas_colours(root.locator("canvas.nnw-synth")))
        assert len(hashes) > 1, "scrubbing shows each unit's saved image"
    elif stem.startswith("03"):
        root = page.locator(".nnw-mlp").first
        node = root.locator(".nnw-node[data-layer='1'][data-unit='0']")
        node.hover()
        page.wait_for_function("r => r.dataset.view === 'unit:1:0'", arg=root.element_handle())
        page.mouse.move(2, 2)
        page.wait_for_function("r => r.dataset.view === 'output'", arg=root.element_handle())
    elif stem.startswith("04"):
        root = page.locator(".nnw-activations").first
        grid = root.locator("canvas.nnw-act-grid")
        view = root.locator("canvas.nnw-act-input")
        plain = canvas_colours(view)
        side = int(grid.get_attribute("data-side"))
        grid.hover(position={"x": side * 2.5, "y": side // 2})  # the third tile
        page.wait_for_function("r => r.dataset.shown === '2'", arg=root.element_handle())
        assert canvas_colours(view) != plain, "a hovered tile's map covers the input"
        page.mouse.move(2, 2)
        attribution = page.locator(".nnw-attribution").first
        shown = attribution.get_attribute("data-shown").split(",")
        attribution.locator(f"input.nnw-attr-method[value='{shown[0]}']").uncheck()
        page.wait_for_function(
            "([r, s]) => r.dataset.shown === s",
            arg=[attribution.element_handle(), ",".join(shown[1:])],
        )


@pytest.mark.parametrize("scheme", ["http", "file"])
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_exported_page_works_offline(site, page, notebook, scheme):
    folder, base, reports = site
    name = f"{notebook.stem}.html"
    url = f"{base}/{name}" if scheme == "http" else (folder / name).as_uri()
    outside, failed = open_offline(page, url)
    roots = page.locator(".nnw")
    for i in range(roots.count()):
        # every widget's canvas is drawn, but for those that take input from the kernel
        for canvas in roots.nth(i).locator("canvas.nnw-canvas:not(.nnw-kernel-only)").all():
            assert canvas_colours(canvas) > 10, "every widget's canvas is drawn"
    check_kernel_only_controls(page)
    interact(page, notebook.stem)
    assert not outside, f"requests left the machine: {outside}"
    page.evaluate("document.fonts.ready.then(() => true)")  # the icon fonts have been asked for
    assert not failed, f"files the page asked for are missing: {failed}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"export-{notebook.stem}-{scheme}.png"), full_page=True)
    assert reports[notebook.stem].state_bytes < 3e6, "a lesson page stays under a few MB"
