// The ActivationExplorer's drawing pad: the mouse draws with a soft round brush on a grey
// canvas the size of the model input; the drawing goes to the kernel at most every SEND_MS
// while drawing (the kernel recomputes in its worker, newest drawing first).
import { drawScaled, pixelCanvas, sizeCanvas } from "../lib/canvas.js";
import { h } from "../lib/dom.js";
/** @import { Widget } from "../lib/widget.js" */
/** @import { Tensor, WireTensor } from "../lib/types.js" */

const PAD_SIDE = 160; // CSS pixels of the drawing pad's longer side
const SEND_MS = 50; // at most one drawing sent per this many milliseconds

/**
 * The pad (kernel-only) and its "Clear pad" button in `el`, and `show` for a drawing the
 * kernel set; `onDrawing` gets the drawing,
 * (height, width) uint8 codes (0 background, 255 ink), as a wire tensor.
 * @param {Widget} w the shell: the pad's listeners and timer go with its cleanup
 * @param {() => number[]} inputSize [height, width] of the model input
 * @param {(drawing: WireTensor) => void} onDrawing
 */
export function createPad(w, inputSize, onDrawing) {
  const pad = w.kernelOnly(h("canvas", { class: "nnw-canvas nnw-act-pad", role: "img", "aria-label": "Drawing pad: draw with the mouse." }));
  const clear = w.kernelOnly(h("button", { class: "nnw-button" }, "Clear pad"));
  const el = h("div", { class: "nnw-act-padbox" }, h("span", { class: "nnw-control-label" }, "Draw"), pad, clear);
  let ink = new Float32Array(inputSize()[0] * inputSize()[1]);
  /** @type {{x: number, y: number} | null} */
  let last = null;
  let lastSent = -Infinity;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;

  function draw() {
    const [height, width] = inputSize();
    const scale = PAD_SIDE / Math.max(height, width);
    const ctx = sizeCanvas(pad, Math.round(width * scale), Math.round(height * scale));
    const rgba = new Uint8ClampedArray(width * height * 4);
    ink.forEach((v, i) => {
      const grey = Math.round(255 * v);
      rgba.set([grey, grey, grey, 255], 4 * i);
    });
    drawScaled(ctx, pixelCanvas(rgba, width, height), 0, 0, width * scale, height * scale);
  }

  function sendDrawing() {
    timer = null;
    lastSent = performance.now();
    const [height, width] = inputSize();
    const codes = Uint8Array.from(ink, (v) => Math.round(255 * v));
    onDrawing({ dtype: "uint8", shape: [height, width], buffer: new DataView(codes.buffer) });
  }

  function scheduleSend() {
    if (timer !== null) return;
    timer = w.later(sendDrawing, Math.max(0, SEND_MS - (performance.now() - lastSent)));
  }

  /** Add ink in a soft round brush around (x, y), in input pixels. */
  function stamp(/** @type {number} */ x, /** @type {number} */ y) {
    const [height, width] = inputSize();
    const radius = Math.max(1, Math.max(height, width) / 10);
    for (let r = Math.max(0, Math.floor(y - radius)); r < Math.min(height, Math.ceil(y + radius)); r++) {
      for (let c = Math.max(0, Math.floor(x - radius)); c < Math.min(width, Math.ceil(x + radius)); c++) {
        const d = Math.hypot(c + 0.5 - x, r + 0.5 - y);
        const i = r * width + c;
        ink[i] = Math.min(1, ink[i] + Math.max(0, 1 - d / radius));
      }
    }
  }

  /** @param {PointerEvent} event */
  function padPoint(event) {
    const [height, width] = inputSize();
    const rect = pad.getBoundingClientRect();
    return { x: ((event.clientX - rect.left) / rect.width) * width, y: ((event.clientY - rect.top) / rect.height) * height };
  }

  /** @param {PointerEvent} event */
  function paint(event) {
    const point = padPoint(event);
    const from = last || point;
    const steps = Math.max(1, Math.ceil(Math.hypot(point.x - from.x, point.y - from.y) / 0.5));
    for (let s = 1; s <= steps; s++) stamp(from.x + ((point.x - from.x) * s) / steps, from.y + ((point.y - from.y) * s) / steps);
    last = point;
    draw();
    scheduleSend();
  }

  w.listen(pad, "pointerdown", (event) => {
    pad.setPointerCapture(event.pointerId);
    last = null;
    paint(event);
  });
  w.listen(pad, "pointermove", (event) => {
    if (event.buttons & 1) paint(event);
  });
  w.listen(pad, "pointerup", () => {
    last = null;
  });
  w.listen(clear, "click", () => {
    ink = new Float32Array(ink.length);
    draw();
    scheduleSend();
  });
  /**
   * Show a drawing set by the kernel (a notebook cell, a saved page); ignored while drawing.
   * @param {Tensor | null} drawing (height, width) uint8 codes
   */
  function show(drawing) {
    const [height, width] = inputSize();
    if (!drawing || last !== null || timer !== null || drawing.data.length !== height * width) return;
    ink = Float32Array.from(drawing.data, (v) => v / 255);
    draw();
  }

  draw();
  return { el, show };
}
