// Front-end of nnwidgets.OcclusionExplorer (anywidget ESM module).
// Kernel state arrives in traits (see nnwidgets/widgets/occlusion.py); clicks are drawn at
// once, answered at once from the sweep's cache when there is one, and confirmed by the
// kernel's exact result for the latest request only (older results are never drawn).
import "./occlusion.css";
import { drawScaled, sizeCanvas } from "./lib/canvas.js";
import { createLegend } from "./lib/colormap.js";
import { fmt, focusable, h, labelled } from "./lib/dom.js";
import { pixelAt, windowStart } from "./lib/pointer.js";
import { createWidget, imageCanvas, lutOf, overlayCanvas } from "./lib/widget.js";
import { createClassBars } from "./occlusion/bars.js";
import { getTensor } from "./lib/wire.js";
/** @import { BaseModel, RenderProps, WireTensor } from "./lib/types.js" */

/**
 * The synced traits of nnwidgets.OcclusionExplorer (nnwidgets/widgets/occlusion.py).
 * @typedef {BaseModel & {
 *   image: WireTensor | null, fill_image: WireTensor | null, image_size: number[],
 *   labels: string[], clean_probs: WireTensor | null, occluded_probs: WireTensor | null,
 *   probe: number[] | null, probe_id: number, heatmap_view: WireTensor | null,
 *   heatmap_limit: number, heatmap_peak: number, heatmap_sign: number, sweep_done: number[],
 *   heatmap_units: string, sweep_probs: WireTensor | null, sweep_classes: WireTensor | null,
 *   sweep_geometry: {window?: number[], stride: number[], counts: number[]},
 *   window: number[], stride: number[], fill: string, fills: string[], fill_value: number,
 *   target: number, value_mode: string, value_modes: Record<string, string>,
 *   color_scale: string, color_scales: Record<string, string>, opacity: number, top_k: number,
 * }} OcclusionModel
 */

const VIEW_SIDE = 360; // CSS pixels of the image's longer side
const NEGLIGIBLE = 0.01; // largest |drop in probability| below which the legend calls the map negligible

/**
 * Lines under the map's legend: its largest value, and a note when it is partial or negligible.
 * @param {{peak: number, mode: string, done: number[], busy: boolean}} map
 * @returns {{detail: string, note: string}}
 */
function legendLines({ peak, mode, done, busy }) {
  const signed = peak > 0 ? `+${fmt(peak)}` : fmt(peak);
  const notes = [];
  if (done.length === 2 && done[0] < done[1]) {
    notes.push(`Partial map: ${done[0]} of ${done[1]} positions swept${busy ? " so far" : " (stopped)"}.`);
  }
  if (mode === "probability" && Math.abs(peak) < NEGLIGIBLE) {
    notes.push(`Negligible: no patch changes the probability by ${NEGLIGIBLE} or more.`);
  }
  return { detail: `largest effect ${signed}`, note: notes.join(" ") };
}

/** @param {RenderProps<OcclusionModel>} props */
function render({ model, el }) {
  const w = createWidget(model, el, { className: "nnw-occlusion", heading: true });
  let image = null; // offscreen canvas of the displayed image
  let fill = null; // offscreen canvas of the fill
  let overlay = null; // offscreen canvas of the coloured map
  let requestId = model.get("probe_id");
  let wanted = null; // {y, x, id}: the occluder the user asked for last
  let hover = null;
  let sentAt = 0;
  let drawn = 0;

  // arrow keys move the occluder, not the notebook cursor
  const canvas = focusable("canvas", { class: "nnw-canvas", role: "img", "aria-label": "Image. Click or drag to occlude a patch; arrow keys move the patch, Escape removes it." });
  const legend = createLegend();
  const classes = createClassBars(w);

  const windowInput = w.kernelOnly(h("input", { type: "range", min: "1", step: "1" }));
  const strideInput = w.kernelOnly(h("input", { type: "range", min: "1", step: "1" }));
  const windowOut = h("output", { class: "nnw-value" });
  const strideOut = h("output", { class: "nnw-value" });
  const fillSelect = w.select("fill", { options: "fills" });
  const fillValue = w.number("fill_value", { step: "0.1", "aria-label": "Fill value" });
  const modeSelect = w.select("value_mode", { options: "value_modes" });
  const scaleSelect = w.select("color_scale", { options: "color_scales" });
  const opacityInput = w.number("opacity", { type: "range", min: "0", max: "1", step: "0.05" }, { event: "input", kernel: false });
  const targetSelect = w.select("target", {
    options: () => model.get("labels").map((label, i) => /** @type {[number, string]} */ ([i, label])),
    watch: ["labels"],
    className: "nnw-target-select",
  });
  const sweepButton = w.action("Sweep", { type: "sweep" }, { class: "nnw-button nnw-primary" });
  const stopButton = w.action("Stop", { type: "stop" });
  const clearButton = w.kernelOnly(h("button", { class: "nnw-button" }, "Clear"));

  const root = w.mount(
    h(
      "div",
      { class: "nnw-main" },
      h("div", { class: "nnw-stage" }, canvas, legend.el),
      h("div", { class: "nnw-side" }, labelled("Target class", targetSelect), ...classes.els),
    ),
    w.controls(
      ["Window", h("span", { class: "nnw-inline" }, windowInput, windowOut)],
      ["Stride", h("span", { class: "nnw-inline" }, strideInput, strideOut)],
      ["Fill", h("span", { class: "nnw-inline" }, fillSelect, fillValue)],
      ["Map", modeSelect],
      ["Scale", scaleSelect],
      ["Opacity", opacityInput],
      h("div", { class: "nnw-buttons" }, sweepButton, stopButton, clearButton, w.savePng(canvas, "occlusion.png", "Download the view as PNG")),
    ),
  );

  // -- geometry ------------------------------------------------------------------------
  const inputSize = () => model.get("image_size"); // [H, W] of the model input
  const cssSize = () => {
    const [height, width] = inputSize();
    const scale = VIEW_SIDE / Math.max(height, width);
    return [Math.round(width * scale), Math.round(height * scale)];
  };
  const toCss = (row, col) => {
    const [height, width] = inputSize();
    const [cw, ch] = cssSize();
    return [(col * cw) / width, (row * ch) / height];
  };

  // -- state from the kernel -----------------------------------------------------------
  function loadImages() {
    const img = getTensor(model, "image");
    const fil = getTensor(model, "fill_image");
    image = imageCanvas(img);
    fill = imageCanvas(fil);
  }

  function loadOverlay() {
    const map = getTensor(model, "heatmap_view");
    const sign = model.get("heatmap_sign");
    const lut = lutOf(model, sign === 0 ? "colormap" : "colormap_sequential");
    const limit = model.get("heatmap_limit");
    legend.el.hidden = map === null;
    if (map === null) {
      overlay = null;
      root.dataset.sweep = "none";
      return;
    }
    overlay = overlayCanvas(map, limit, lut, model.get("opacity"), sign);
    const lines = legendLines({
      peak: model.get("heatmap_peak"),
      mode: model.get("value_mode"),
      done: model.get("sweep_done"),
      busy: model.get("busy"),
    });
    legend.update(lut, limit, model.get("heatmap_units"), Math.min(cssSize()[0], 320), { sign, ...lines });
    const [swept, total] = model.get("sweep_done");
    root.dataset.sweep = swept < total ? "partial" : "complete";
  }

  // -- drawing -------------------------------------------------------------------------
  function shownProbe() {
    if (wanted) return wanted;
    const probe = model.get("probe");
    return probe ? { y: probe[0], x: probe[1] } : null;
  }

  function draw() {
    const [cw, ch] = cssSize();
    const ctx = sizeCanvas(canvas, cw, ch);
    ctx.clearRect(0, 0, cw, ch);
    if (image) drawScaled(ctx, image, 0, 0, cw, ch);
    const [wh, ww] = model.get("window");
    const probe = shownProbe();
    if (probe && fill) {
      const [x0, y0] = toCss(probe.y, probe.x);
      const [x1, y1] = toCss(probe.y + wh, probe.x + ww);
      const [height, width] = inputSize();
      const sx = fill.width / width;
      const sy = fill.height / height;
      ctx.imageSmoothingEnabled = cw / fill.width < 4;
      ctx.drawImage(fill, probe.x * sx, probe.y * sy, ww * sx, wh * sy, x0, y0, x1 - x0, y1 - y0);
    }
    if (overlay) drawScaled(ctx, overlay, 0, 0, cw, ch);
    const box = (p, dash) => {
      const [x0, y0] = toCss(p.y, p.x);
      const [x1, y1] = toCss(p.y + wh, p.x + ww);
      ctx.setLineDash(dash);
      ctx.lineWidth = 2;
      ctx.strokeStyle = "rgba(0,0,0,0.85)";
      ctx.strokeRect(x0 + 1, y0 + 1, x1 - x0 - 2, y1 - y0 - 2);
      ctx.lineWidth = 1;
      ctx.strokeStyle = "rgba(255,255,255,0.95)";
      ctx.strokeRect(x0 + 1, y0 + 1, x1 - x0 - 2, y1 - y0 - 2);
      ctx.setLineDash([]);
    };
    if (hover && (!probe || hover.y !== probe.y || hover.x !== probe.x)) box(hover, [4, 3]);
    if (probe) box(probe, []);
    drawn += 1;
    root.dataset.drawn = String(drawn);
    root.dataset.probe = probe ? `${probe.y},${probe.x}` : "";
  }

  // -- readout: exact, instant from the sweep cache, or original ------------------------
  function readout() {
    classes.update(shownProbe(), model.get("probe_id") === requestId);
  }

  // -- controls from traits -------------------------------------------------------------
  function syncControls() {
    const [height, width] = inputSize();
    const [wh] = model.get("window");
    const [sh] = model.get("stride");
    windowInput.max = String(Math.min(height, width));
    strideInput.max = String(Math.max(1, Math.min(height, width)));
    windowInput.value = String(wh);
    strideInput.value = String(sh);
    windowOut.textContent = `${model.get("window").join("×")} px`;
    strideOut.textContent = `${model.get("stride").join("×")} px`;
    fillValue.hidden = model.get("fill") !== "value";
    const raw = model.get("value_mode") === "raw";
    scaleSelect.disabled = raw || w.isStatic;
    scaleSelect.title = raw ? "raw outputs have no fixed range: the scale fits the map" : "";
    const busy = model.get("busy");
    stopButton.disabled = !busy || w.isStatic;
    sweepButton.textContent = model.get("sweep_probs") !== null ? "Sweep again" : "Sweep";
  }

  // -- user actions --------------------------------------------------------------------
  function probeAt(row, col) {
    const [height, width] = inputSize();
    const [wh, ww] = model.get("window");
    const y = windowStart(row, wh, height);
    const x = windowStart(col, ww, width);
    if (wanted && wanted.y === y && wanted.x === x) return;
    requestId = Math.max(requestId, model.get("probe_id")) + 1;
    wanted = { y, x, id: requestId };
    sentAt = performance.now();
    w.send({ type: "probe", y, x, id: requestId });
    draw();
    readout();
  }

  function fromEvent(event) {
    const [height, width] = inputSize();
    return pixelAt(canvas.getBoundingClientRect(), event.clientX, event.clientY, width, height);
  }

  function hoverAt(pixel) {
    const [height, width] = inputSize();
    const [wh, ww] = model.get("window");
    hover = pixel ? { y: windowStart(pixel.row, wh, height), x: windowStart(pixel.col, ww, width) } : null;
    draw();
  }

  const probeSoon = w.frame((pixel) => probeAt(pixel.row, pixel.col)); // one probe per frame while dragging
  w.listen(canvas, "pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    canvas.focus();
    const { row, col } = fromEvent(event);
    probeAt(row, col);
  });
  w.listen(canvas, "pointermove", (event) => {
    const pixel = fromEvent(event);
    if (event.buttons & 1) probeSoon(pixel);
    else hoverAt(pixel.inside ? pixel : null);
  });
  w.listen(canvas, "pointerleave", () => hoverAt(null));
  w.listen(canvas, "keydown", (event) => {
    const [height, width] = inputSize();
    const [wh, ww] = model.get("window");
    const [sh, sw] = model.get("stride");
    const probe = shownProbe() || { y: Math.floor((height - wh) / 2), x: Math.floor((width - ww) / 2) };
    const moves = { ArrowUp: [-sh, 0], ArrowDown: [sh, 0], ArrowLeft: [0, -sw], ArrowRight: [0, sw], Enter: [0, 0], " ": [0, 0] };
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      clearProbe();
    } else if (event.key in moves) {
      event.preventDefault();
      event.stopPropagation();
      const [dy, dx] = moves[event.key];
      const y = Math.min(Math.max(probe.y + dy, 0), height - wh);
      const x = Math.min(Math.max(probe.x + dx, 0), width - ww);
      probeAt(y + Math.floor(wh / 2), x + Math.floor(ww / 2));
    }
  });

  function clearProbe() {
    wanted = null;
    w.send({ type: "clear" });
    draw();
    readout();
  }

  w.listen(windowInput, "input", () => {
    windowOut.textContent = `${windowInput.value}×${windowInput.value} px`;
  });
  w.listen(windowInput, "change", () => {
    const v = Number(windowInput.value);
    w.set("window", [v, v]);
  });
  w.listen(strideInput, "input", () => {
    strideOut.textContent = `${strideInput.value}×${strideInput.value} px`;
  });
  w.listen(strideInput, "change", () => {
    const v = Number(strideInput.value);
    w.set("stride", [v, v]);
  });
  w.listen(clearButton, "click", clearProbe);

  // -- kernel updates ------------------------------------------------------------------
  function onProbeResult() {
    const answered = model.get("probe_id");
    if (wanted && answered === wanted.id) {
      root.dataset.latencyMs = (performance.now() - sentAt).toFixed(1);
      wanted = null; // the kernel's probe now matches what the user asked for
    } else if (!wanted) {
      requestId = Math.max(requestId, answered); // a probe asked for from Python
    }
    draw();
    readout();
  }

  loadImages();
  loadOverlay();
  syncControls();
  draw();
  readout();

  w.observe({
    "change:image": () => {
      loadImages();
      draw();
    },
    "change:fill_image": () => {
      loadImages();
      draw();
    },
    "change:heatmap_view": () => {
      loadOverlay();
      draw();
    },
    "change:heatmap_limit": () => {
      loadOverlay();
      draw();
    },
    "change:heatmap_sign": () => {
      loadOverlay();
      draw();
    },
    "change:sweep_done": loadOverlay,
    "change:color_scale": syncControls,
    "change:opacity": () => {
      loadOverlay();
      draw();
      syncControls();
    },
    "change:probe_id": onProbeResult,
    "change:occluded_probs": onProbeResult,
    "change:probe": () => {
      if (model.get("probe") === null) wanted = null;
      draw();
      readout();
    },
    "change:sweep_probs": () => {
      loadOverlay();
      syncControls();
      readout();
    },
    "change:target": () => {
      syncControls();
      readout();
    },
    "change:clean_probs": readout,
    "change:top_k": readout,
    "change:window": () => {
      syncControls();
      draw();
    },
    "change:stride": syncControls,
    "change:fill": syncControls,
    "change:fill_value": syncControls,
    "change:value_mode": () => {
      syncControls();
      loadOverlay();
    },
    "change:busy": () => {
      syncControls();
      loadOverlay(); // a stopped sweep's legend says so
    },
  });

  return w.cleanup;
}

export default { render };
