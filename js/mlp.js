// Front-end of nnwidgets.MLPExplorer (anywidget ESM module).
// Every unit's map arrives in the `maps` trait (uint8 codes on a symmetric per-unit scale: the
// code is the colour map index), so hovering a unit is answered here, within a frame, with no
// kernel round trip; training streams new frames about 30 times a second.
import "./mlp.css";
import { drawScaled, pixelCanvas, sizeCanvas } from "./lib/canvas.js";
import { createLegend } from "./lib/colormap.js";
import { fmt, h } from "./lib/dom.js";
import { createWidget, lutCanvas, lutOf } from "./lib/widget.js";
import { getTensor } from "./lib/wire.js";
import { THUMB, createDiagram } from "./mlp/diagram.js";
import { createEditor } from "./mlp/editor.js";
import { readFrame } from "./mlp/frame.js";
import { classColour, createPlot, drawBoundary, drawCurve, marker, regionColour } from "./mlp/plane.js";
/** @import { BaseModel, RenderProps, Tensor, WireTensor } from "./lib/types.js" */

/**
 * The synced traits of nnwidgets.MLPExplorer (nnwidgets/widgets/mlp.py).
 * @typedef {BaseModel & {
 *   task: string, layer_sizes: number[], extent: number[], points: WireTensor | null,
 *   targets: WireTensor | null, is_test: WireTensor | null, maps: WireTensor | null,
 *   map_limits: WireTensor | null, weights: WireTensor | null, biases: WireTensor | null,
 *   frame: number, step_count: number, train_loss: number | null, test_loss: number | null,
 *   regions: WireTensor | null, region_count: number, region_exact: boolean,
 *   depth_width: {shape: number[], mean: number, max: number}[], editable: boolean,
 *   playing: boolean, show_regions: boolean, activation: string, activations: string[],
 *   piecewise: string[], dataset: string, datasets: string[], lr: number, batch_size: number,
 *   l1: number, l2: number, noise: number, test_fraction: number,
 * }} MLPModel
 */

const MAIN = 320; // CSS pixels of the main view
const RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const REGIONS_NOTE = "Counts the linear regions of a piecewise-linear net (ReLU, leaky ReLU or linear units): tanh and sigmoid units bend everywhere, so their nets have no linear regions to count.";

/** @param {RenderProps<MLPModel>} props */
function render({ model, el }) {
  const w = createWidget(model, el, { className: "nnw-mlp" });
  let view = null; // null: the output view; else {layer, unit} with layer 0 = inputs
  let frame = null;
  let drawn = 0;
  let frameTimes = [];
  let lastFrame = model.get("frame");
  let editing = null;

  const lut = () => lutOf(model, "colormap");

  // -- layout -----------------------------------------------------------------------------
  const playButton = w.kernelOnly(h("button", { class: "nnw-button nnw-primary nnw-play", "aria-label": "Train" }, "▶ Train"));
  const activationSelect = w.select("activation", { options: "activations", offerCurrent: true, className: "nnw-activation-select" });
  const regionsBox = w.kernelOnly(h("input", { type: "checkbox", class: "nnw-regions-toggle" }));
  const addLayer = w.action("+ layer", { type: "layers", delta: 1 }, { title: "Add a hidden layer" });
  const removeLayer = w.action("− layer", { type: "layers", delta: -1 }, { title: "Remove the last hidden layer" });
  const readout = h("div", { class: "nnw-readout", "aria-live": "polite" });

  const diagram = createDiagram(model, {
    frame: () => frame,
    lut,
    show: (next) => show(next),
    openEditor: (target, node, event) => openEditor(target, node, event),
    unitName: (layer, unit) => unitName(layer, unit),
    drawThumb: (target, layer, unit) => drawThumb(target, layer, unit),
  });
  const canvas = h("canvas", { class: "nnw-canvas nnw-main-view", role: "img" });
  const plot = createPlot(canvas);
  const key = h("div", { class: "nnw-key" });
  const caption = h("div", { class: "nnw-caption" });
  const regionNote = h("div", { class: "nnw-region-note", "aria-live": "polite" });
  const legend = createLegend();
  const depthTable = h("table", { class: "nnw-depth-table" });
  const editor = createEditor(
    (value) => {
      if (!editing) return;
      if (editing.kind === "bias") w.send({ type: "set_bias", layer: editing.layer, unit: editing.unit, value });
      else w.send({ type: "set_weight", layer: editing.layer, out_unit: editing.out, in_unit: editing.in, value });
    },
    () => {
      editing = null;
      delete root.dataset.editing;
    },
  );

  const root = w.mount(
    w.controls(
      h(
        "div",
        { class: "nnw-buttons" },
        playButton,
        w.action("Step", { type: "step" }, { title: "Train a few steps" }),
        w.action("Reset", { type: "reset" }, { title: "New random weights" }),
      ),
      ["Data", w.select("dataset", { options: "datasets", className: "nnw-data-select" })],
      ["Activation", activationSelect],
      ["Learning rate", w.select("lr", { options: RATES, offerCurrent: true })],
      ["Batch", w.number("batch_size", { min: "1", max: "10000" }, { integer: true })],
      ["L1", w.number("l1", { min: "0", max: "1", step: "0.001" })],
      ["L2", w.number("l2", { min: "0", max: "1", step: "0.001" })],
      ["Noise", w.number("noise", { type: "range", min: "0", max: "0.5", step: "0.05" })],
      ["Test split", w.number("test_fraction", { type: "range", min: "0", max: "0.9", step: "0.1" })],
    ),
    readout,
    h(
      "div",
      { class: "nnw-main" },
      h("div", { class: "nnw-network" }, diagram.el, h("div", { class: "nnw-buttons" }, addLayer, removeLayer), editor.el),
      h(
        "div",
        { class: "nnw-stage" },
        plot.el,
        key,
        caption,
        legend.el,
        h("label", { class: "nnw-inline nnw-regions-label", title: REGIONS_NOTE }, regionsBox, "Colour by linear region (ReLU-type nets only)"),
        regionNote,
        h(
          "div",
          { class: "nnw-inline" },
          w.action("Depth vs width", { type: "depth_width" }, { title: "Count regions of random ReLU nets with the same number of units" }),
        ),
        depthTable,
      ),
    ),
  );

  // -- drawing maps ------------------------------------------------------------------------
  function mapCanvas(codes) {
    return lutCanvas(codes, frame.resolution, frame.resolution, lut());
  }

  function regionCanvas() {
    const labels = getTensor(model, "regions");
    if (!labels || labels.shape.length !== 2) return null;
    const r = labels.shape[0];
    const rgba = new Uint8ClampedArray(r * r * 4);
    for (let i = 0; i < r * r; i++) {
      const [red, green, blue] = regionColour(labels.data[i]);
      rgba.set([red, green, blue, 255], 4 * i);
    }
    return pixelCanvas(rgba, r, r);
  }

  function drawThumb(target, layer, unit) {
    const ctx = sizeCanvas(target, THUMB, THUMB);
    ctx.clearRect(0, 0, THUMB, THUMB);
    const codes = frame.codes(layer, unit);
    if (frame.dims === 2) {
      drawScaled(ctx, mapCanvas(codes), 0, 0, THUMB, THUMB);
      return;
    }
    ctx.fillStyle = "rgba(127,127,127,0.12)";
    ctx.fillRect(0, 0, THUMB, THUMB);
    drawCurve(ctx, codes, 1, [2, 2, THUMB - 4, THUMB - 4], [-1, 1], { strokeStyle: "#1b4f8a", lineWidth: 1.5 });
  }

  function toCss(px, py) {
    const [x0, x1, y0, y1] = frame.extent;
    return [((px - x0) / (x1 - x0)) * MAIN, ((y1 - py) / (y1 - y0)) * MAIN];
  }

  function drawPoints(ctx) {
    const points = /** @type {Tensor} */ (getTensor(model, "points"));
    const targets = /** @type {Tensor} */ (getTensor(model, "targets")).data;
    const test = /** @type {Tensor} */ (getTensor(model, "is_test")).data;
    for (let i = 0; i < targets.length; i++) {
      const [cx, cy] = toCss(points.data[2 * i], points.data[2 * i + 1]);
      marker(ctx, cx, cy, classColour(targets[i]), test[i]);
    }
  }

  /** The key under the plot: what the markers' colours and fills mean. */
  function syncKey() {
    const classification = model.get("task") === "classification";
    const swatch = (colour, test) => h("span", { class: `nnw-marker${test ? " nnw-marker-test" : ""}`, style: `--nnw-marker:${colour}` });
    const classes = classification ? frame.sizes[frame.sizes.length - 1] : 0;
    const items = [];
    for (let c = 0; c < (classes === 1 ? 2 : classes); c++) items.push(h("span", { class: "nnw-key-item" }, swatch(classColour(c), false), `class ${c}`));
    const colour = classification ? "#777" : classColour(1);
    items.push(h("span", { class: "nnw-key-item" }, swatch(colour, false), "training"));
    items.push(h("span", { class: "nnw-key-item" }, swatch(colour, true), "test (held out)"));
    if (!classification) items.push(h("span", { class: "nnw-key-item" }, h("span", { class: "nnw-key-line" }), "network output f(x)"));
    key.replaceChildren(...items);
  }

  function drawMain2d(ctx) {
    const regions = model.get("show_regions") && view === null ? regionCanvas() : null;
    const layer = view ? view.layer : null;
    if (regions) drawScaled(ctx, regions, 0, 0, MAIN, MAIN);
    else {
      ctx.imageSmoothingEnabled = true; // a response is continuous over the plane: interpolate it
      ctx.drawImage(mapCanvas(view ? frame.codes(layer, view.unit) : frame.values(frame.prediction)), 0, 0, MAIN, MAIN);
    }
    if (frame.sizes[frame.sizes.length - 1] <= 2 && model.get("task") === "classification") drawBoundary(ctx, frame.values(frame.prediction), frame.resolution, MAIN);
    drawPoints(ctx);
    const [x0, x1, y0, y1] = frame.extent;
    plot.update(x0, x1, y0, y1, ["x₁", "x₂"]);
  }

  function drawMain1d(ctx) {
    const points = /** @type {Tensor} */ (getTensor(model, "points")).data;
    const targets = /** @type {Tensor} */ (getTensor(model, "targets")).data;
    const test = /** @type {Tensor} */ (getTensor(model, "is_test")).data;
    const outputRow = frame.row(frame.sizes.length - 1, 0);
    const outputLimit = frame.limits[outputRow];
    // the vertical range is what is drawn: the targets and the output, with a small margin
    const shown = [...targets, ...frame.decoded(outputRow)];
    const top = Math.max(...shown);
    const bottom = Math.min(...shown);
    const pad = 0.08 * (top - bottom || 1);
    const low = bottom - pad;
    const high = top + pad;
    const [x0, x1] = frame.extent;
    const yOf = (v) => MAIN - ((v - low) / (high - low)) * MAIN;
    ctx.fillStyle = "rgba(127,127,127,0.08)";
    ctx.fillRect(0, 0, MAIN, MAIN);
    if (low < 0 && high > 0) {
      ctx.strokeStyle = "rgba(0,0,0,0.3)";
      ctx.beginPath();
      ctx.moveTo(0, yOf(0));
      ctx.lineTo(MAIN, yOf(0));
      ctx.stroke();
    }
    for (let i = 0; i < targets.length; i++) {
      marker(ctx, ((points[i] - x0) / (x1 - x0)) * MAIN, yOf(targets[i]), classColour(1), test[i]);
    }
    plot.update(x0, x1, low, high, ["x", "f(x)"]);
    if (view && view.layer > 0) {
      const row = frame.row(view.layer, view.unit);
      drawCurve(ctx, frame.values(row), frame.limits[row], [0, 0, MAIN, MAIN], [low, high], {
        strokeStyle: "#5a8f29",
        lineWidth: 2,
      });
    }
    drawCurve(ctx, frame.values(outputRow), outputLimit, [0, 0, MAIN, MAIN], [low, high], {
      strokeStyle: "#1b4f8a",
      lineWidth: view ? 1.5 : 3,
    });
  }

  function unitName(layer, unit) {
    const last = frame.sizes.length - 1;
    if (layer === 0) return frame.dims === 1 ? "input x" : ["input x₁", "input x₂"][unit];
    if (layer === last) return `output ${unit}`;
    return `hidden layer ${layer}, unit ${unit}`;
  }

  function drawMain() {
    const started = performance.now();
    const ctx = sizeCanvas(canvas, MAIN, MAIN);
    ctx.clearRect(0, 0, MAIN, MAIN);
    if (frame.dims === 2) drawMain2d(ctx);
    else drawMain1d(ctx);
    const regions = model.get("show_regions") && view === null;
    if (view) {
      const limit = view.layer === 0 ? 1 : frame.limits[frame.row(view.layer, view.unit)];
      caption.textContent = `${unitName(view.layer, view.unit)}: its response over the input${frame.dims === 1 ? " (green)" : ""}. Leave to see the network's output.`;
      legend.update(lut(), limit, `activation of ${unitName(view.layer, view.unit)}`, 240);
    } else {
      const classes = frame.sizes[frame.sizes.length - 1];
      const classification = model.get("task") === "classification";
      const what = !classification
        ? "the network's output f(x) (blue line) against the targets (dots)"
        : classes <= 2
          ? "the probability of class 1, with the decision boundary P = ½ (black line)"
          : "the predicted class";
      caption.textContent = regions ? "Each colour is one linear region: one pattern of active ReLUs." : `Output view: ${what}. Hover a unit to see what it computes.`;
      // the prediction's codes are P(class 1) from 0 (code 0) to 1 (code 255)
      if (classification && classes <= 2) legend.update(lut(), 1, "P(class 1): the network's probability of class 1", 240, { ticks: ["0", "0.5", "1"] });
      else if (classification) legend.update(lut(), 1, "predicted class", 240, { ticks: ["0", String((classes - 1) / 2), String(classes - 1)] });
      else legend.update(lut(), frame.limits[frame.row(frame.sizes.length - 1, 0)], "output", 240);
    }
    legend.el.hidden = frame.dims === 1; // the 1-D view's y axis is its scale
    legend.el.classList.toggle("nnw-invisible", regions); // keeps its space: nothing jumps
    canvas.setAttribute("aria-label", caption.textContent);
    drawn += 1;
    root.dataset.drawn = String(drawn);
    root.dataset.view = view ? `unit:${view.layer}:${view.unit}` : regions ? "regions" : "output";
    return performance.now() - started;
  }

  // -- hover: answered from the maps already here ----------------------------------------
  function show(next) {
    const started = performance.now();
    view = next;
    drawMain();
    if (next) root.dataset.hoverMs = (performance.now() - started).toFixed(2);
  }

  // -- editing weights and biases ---------------------------------------------------------
  function openEditor(target, node, event) {
    if (w.isStatic) return; // editing needs the kernel
    editing = target;
    if (target.kind === "bias") {
      let offset = 0;
      for (let l = 1; l <= target.layer; l++) offset += frame.sizes[l];
      editor.open(`Bias of ${unitName(target.layer + 1, target.unit)}`, frame.biases[offset + target.unit]);
    } else {
      let offset = 0;
      for (let l = 1; l <= target.layer; l++) offset += frame.sizes[l] * frame.sizes[l - 1];
      const weight = frame.weights[offset + target.out * frame.sizes[target.layer] + target.in];
      editor.open(`Weight ${unitName(target.layer, target.in)} → ${unitName(target.layer + 1, target.out)}`, weight);
    }
    root.dataset.editing = target.kind;
    if (event) event.stopPropagation();
    if (node) node.blur();
  }

  // -- controls ----------------------------------------------------------------------------
  function syncControls() {
    const playing = model.get("playing");
    playButton.textContent = playing ? "❚❚ Pause" : "▶ Train";
    playButton.setAttribute("aria-label", playing ? "Pause training" : "Train");
    activationSelect.disabled = !model.get("editable") || w.isStatic;
    const piecewise = model.get("piecewise").includes(model.get("activation"));
    regionsBox.checked = model.get("show_regions");
    regionsBox.disabled = !piecewise || w.isStatic;
    /** @type {HTMLElement} */ (regionsBox.parentElement).title = piecewise ? REGIONS_NOTE : `Off for ${model.get("activation")} units. ${REGIONS_NOTE}`;
    addLayer.disabled = removeLayer.disabled = !model.get("editable") || w.isStatic;
  }

  function syncReadout() {
    const test = model.get("test_loss");
    root.dataset.step = String(model.get("step_count"));
    readout.textContent = `Step ${model.get("step_count")} · training loss ${fmt(model.get("train_loss"))}${test === null ? "" : ` · test loss ${fmt(test)}`}`;
    const count = model.get("region_count");
    regionNote.textContent = model.get("show_regions") && count
      ? `${count} linear regions ${model.get("region_exact") ? "(exact count)" : "(sampled on the grid: the exact count was too large)"}`
      : "";
    root.dataset.regions = model.get("show_regions") ? String(count) : "";
  }

  function syncDepthTable() {
    const rows = model.get("depth_width");
    depthTable.replaceChildren(
      ...(rows.length ? [h("tr", {}, h("th", {}, "hidden layers"), h("th", {}, "mean regions"), h("th", {}, "max"))] : []),
      ...rows.map((r) => h("tr", {}, h("td", {}, r.shape.join(" × ")), h("td", {}, fmt(r.mean, 1)), h("td", {}, String(r.max)))),
    );
  }

  w.listen(playButton, "click", () => w.set("playing", !model.get("playing")));
  w.listen(regionsBox, "change", () => w.set("show_regions", regionsBox.checked));

  // -- frames from the kernel --------------------------------------------------------------
  // Frames are drawn in an animation frame, only the newest: one that arrives while another
  // waits replaces it. Each drawn frame is reported to the kernel, which pushes the next only
  // then (or after a stall), so a browser that falls behind drops frames instead of queueing
  // them, and the picture stops when training stops.
  function drawFrame() {
    const structure = frame ? frame.sizes.join("-") : "";
    frame = readFrame(model);
    if (frame.sizes.join("-") !== structure) {
      diagram.build();
      root.dataset.structure = frame.sizes.join("-");
      syncKey();
    }
    diagram.update();
    drawMain();
    syncReadout();
    const now = performance.now();
    const count = model.get("frame");
    if (count !== lastFrame) {
      lastFrame = count;
      frameTimes.push(now);
      frameTimes = frameTimes.filter((t) => now - t <= 1000);
      root.dataset.frames = String(Number(root.dataset.frames || 0) + 1);
      root.dataset.fps = String(frameTimes.length);
      w.send({ type: "drawn", frame: count });
    }
  }

  const drawSoon = w.frame(drawFrame);
  w.observe({
    "change:frame": () => drawSoon(),
    "change:regions": () => frame && drawMain(),
    "change:show_regions": () => {
      syncControls();
      syncReadout();
      if (frame) drawMain();
    },
    "change:region_count": syncReadout,
    "change:playing": syncControls,
    "change:activation": syncControls,
    "change:editable": syncControls,
    "change:depth_width": syncDepthTable,
  });

  syncControls();
  syncDepthTable();
  drawFrame();
  return w.cleanup;
}

export default { render };
