"""What a TextNeuronExplorer of 20,000 characters costs: the forward, the payload, the recolour.

Run:  python benchmarks/text.py [--no-browser]

On the shipped two-layer LSTM (``nw.zoo.char_rnn()``) and 20,000 characters of held-out
standard-library source, it prints:

- the whole-text read (``nnwidgets.compute.text.text_activations``: every layer's hidden and
  cell state after every character, and the top-5 predictions), beside one plain forward of
  the model over the same text (which keeps only the top layer's hidden states), as a ratio;
- the encoded payload of every unit (uint8 codes on the wire) and of the whole widget state;
- the slider recolour time in the browser, measured with ``performance.now()`` in a headless
  Chromium page (Playwright, no Jupyter) that runs the widget's real front-end bundle
  (``nnwidgets/static/text.js``) on the same state: the synchronous redraw after an ``input``
  event on the unit slider, and the time until the next animation frame after it.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import statistics
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import torch

import nnwidgets as nw
from nnwidgets._serialization import tensor_to_json
from nnwidgets.compute._timing import best_of
from nnwidgets.compute.text import encode_text, text_activations
from nnwidgets.widgets._base import STATIC
from nnwidgets.zoo.char_rnn import corpus, stdlib_files

CHARS = 20_000
CHROMIUM = "/usr/bin/chromium"

PAGE = """<!doctype html><meta charset="utf-8"><link rel="stylesheet" href="text.css">
<body><div id="out" style="width: 820px"></div></body>"""

# A stand-in for anywidget's model: the state, change events, no kernel.
MOUNT = """async ([state, tensors]) => {
  const listeners = {};
  for (const [name, [dtype, shape, data]] of Object.entries(tensors)) {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    state[name] = { dtype, shape, buffer: new DataView(bytes.buffer) };
  }
  const model = {
    get: (k) => state[k],
    set: (k, v) => { state[k] = v; for (const f of listeners[`change:${k}`] || []) f(); },
    save_changes() {}, send() {},
    on: (e, f) => { (listeners[e] ||= []).push(f); },
    off() {},
  };
  const widget = (await import('./text.js')).default;
  widget.render({ model, el: document.getElementById('out') });
}"""

STEP = """(steps) => new Promise((resolve) => {
  const slider = document.querySelector('input.nnw-unit-slider');
  const sync = [], frame = [];
  let i = 0;
  const next = () => {
    if (i === steps) return resolve({ sync, frame });
    const t0 = performance.now();
    slider.value = String((Number(slider.value) + 1) % 128);
    slider.dispatchEvent(new Event('input', { bubbles: true }));
    sync.push(performance.now() - t0);
    requestAnimationFrame(() => { frame.push(performance.now() - t0); i++; setTimeout(next, 0); });
  };
  next();
})"""


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def wire_bytes(tensor: torch.Tensor) -> int:
    return tensor_to_json(tensor)["buffer"].nbytes


def measure_browser(widget: nw.TextNeuronExplorer, steps: int = 40) -> None:
    from playwright.sync_api import sync_playwright

    state = {k: v for k, v in widget.get_state().items() if not isinstance(v, dict)}
    tensors = {}
    for name in widget.keys:
        value = getattr(widget, name)
        if isinstance(value, torch.Tensor):
            wire = tensor_to_json(value)
            data = base64.b64encode(wire["buffer"].tobytes()).decode()
            tensors[name] = [wire["dtype"], wire["shape"], data]
            state.pop(name, None)
    handler = functools.partial(QuietHandler, directory=str(STATIC))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page_path = STATIC / "_text_benchmark.html"
    page_path.write_text(PAGE)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1000, "height": 900}, device_scale_factor=2)
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/{page_path.name}")
            page.evaluate(MOUNT, [json.loads(json.dumps(state)), tensors])
            page.wait_for_selector(".nnw-text[data-drawn]")
            page.evaluate(STEP, 5)  # warm up
            result = page.evaluate(STEP, steps)
            browser.close()
    finally:
        server.shutdown()
        page_path.unlink()
    sync, frame = result["sync"], result["frame"]
    print(f"slider recolour in headless Chromium ({steps} steps, performance.now()):")
    for label, times in (("synchronous redraw  ", sync), ("until the next frame", frame)):
        print(f"  {label} median {statistics.median(times):5.2f} ms, max {max(times):5.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium timing")
    args = parser.parse_args()
    demo = nw.zoo.char_rnn()
    text = corpus(stdlib_files(held_out=True), seed=1)[:CHARS]
    ids, _ = encode_text(text, demo.vocab)
    print(f"{CHARS:,} characters of held-out Python source, shipped 2x128 LSTM")

    def plain() -> None:
        with torch.inference_mode():
            demo.model(ids[None])

    ours = best_of(lambda: text_activations(demo.model, text, demo.vocab))
    hidden_only = best_of(lambda: text_activations(demo.model, text, demo.vocab, cell=False))
    floor = best_of(plain)
    print("whole-text read:")
    print(f"  plain model forward (top layer only)    {floor * 1000:7.1f} ms")
    print(f"  every layer's hidden states + top-5     {hidden_only * 1000:7.1f} ms"
          f"  ({hidden_only / floor:.2f}x the plain forward)")  # fmt: skip
    print(f"  ... and the LSTM cell states (default)  {ours * 1000:7.1f} ms"
          f"  ({ours / floor:.2f}x)")  # fmt: skip

    started = time.perf_counter()
    widget = nw.TextNeuronExplorer(demo.model, text, demo.vocab)
    built = time.perf_counter() - started
    units = sum(widget.layer_sizes)
    payload = wire_bytes(widget.activations)
    total = sum(
        wire_bytes(getattr(widget, n))
        for n in widget.keys
        if isinstance(getattr(widget, n), torch.Tensor)
    ) + len(widget.text.encode())
    print(f"widget built in {built * 1000:.0f} ms")
    print(
        f"payload: every unit ({units} units x {CHARS:,} characters, uint8) {payload / 1e6:.2f} MB;"
    )
    print(f"  whole state (+ limits, top-5 predictions, text, colormap) {total / 1e6:.2f} MB")
    if not args.no_browser and Path(CHROMIUM).exists():
        measure_browser(widget)
    widget.close()


if __name__ == "__main__":
    main()
