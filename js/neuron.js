// Front-end of nnwidgets.NeuronExplorer (anywidget ESM module).
// Every computed unit's image is kept in the `unit_images` trait: scrubbing over computed units
// is answered here, within a frame, with no kernel round trip. The kernel is told which unit is
// wanted (the `unit` trait) and computes it first; a preview is drawn only if it belongs to the
// unit shown now, so a stale result is never drawn.
import "./neuron.css";
import { drawScaled, sizeCanvas } from "./lib/canvas.js";
import { fmt, focusable, h } from "./lib/dom.js";
import { createWidget, imageCanvas, lutOf, overlayCanvas } from "./lib/widget.js";
import { getTensor } from "./lib/wire.js";
/** @import { BaseModel, RenderProps, Tensor, WireTensor } from "./lib/types.js" */

/**
 * The synced traits of nnwidgets.NeuronExplorer (nnwidgets/widgets/neuron.py).
 * @typedef {BaseModel & {
 *   layers: string[], layer: string, unit: number, objective: string, objectives: string[],
 *   maximize: boolean, steps: number, size: number, regularization: number,
 *   unit_count: number, unit_labels: string[], unit_images: WireTensor | null,
 *   unit_done: WireTensor | null, unit_scores: WireTensor | null, unit_dead: WireTensor | null,
 *   preview_image: WireTensor | null, preview_unit: number, preview_label: string,
 *   examples: WireTensor | null, top_slots: WireTensor | null, top_indices: WireTensor | null,
 *   top_values: WireTensor | null, input_image: WireTensor | null, input_label: string,
 *   input_activations: WireTensor | null, input_map: WireTensor | null, input_map_unit: number,
 *   input_map_peak: number,
 * }} NeuronModel
 */

const VIEW_SIDE = 240; // CSS pixels of the synthesized image
const EXAMPLE_SIDE = 64; // CSS pixels of a dataset example
const OVERVIEW_WIDTH = 600; // CSS pixels of the layer overview
const INPUT_SIDE = 96; // CSS pixels of the chosen input, with where the unit fires over it
const ACCENT = "#1b4f8a";
const DEAD = "#a3161b";

/**
 * Why a unit is flagged dead, from its `unit_dead` bits ("" when it is not).
 * @param {number} flags 1: exactly 0 on every dataset image; 2: synthesis left it at 0
 * @returns {string}
 */
function deadReason(flags) {
  const reasons = [];
  if (flags & 1) reasons.push("zero on every dataset image");
  if (flags & 2) reasons.push("synthesis could not move it off 0");
  return reasons.join("; ");
}

/**
 * Draw a small label (white on a dark plate) in a tile's top-left corner.
 * @param {CanvasRenderingContext2D} ctx
 * @param {string} text
 * @param {number} x
 * @param {number} y
 * @param {number} side tile side in CSS pixels
 */
function tileLabel(ctx, text, x, y, side) {
  ctx.font = `${side >= 40 ? 10 : 8}px sans-serif`;
  ctx.textBaseline = "top";
  let shown = text;
  while (shown.length > 1 && ctx.measureText(shown).width > side - 4) shown = shown.slice(0, -1);
  const width = ctx.measureText(shown).width;
  ctx.fillStyle = "rgba(0,0,0,0.6)";
  ctx.fillRect(x, y, width + 4, side >= 40 ? 12 : 10);
  ctx.fillStyle = "#fff";
  ctx.fillText(shown, x + 2, y + 1);
}

/**
 * Offscreen canvas of row `i` of the (n, h, w, 3) uint8 tensor trait `name`, built on first use
 * and rebuilt when the trait changes (so the order of change events does not matter).
 */
function tiles(model, name) {
  let raw;
  let tensor = null;
  let canvases = new Map();
  return (i) => {
    const value = model.get(name);
    if (value !== raw) {
      raw = value;
      tensor = getTensor(model, name);
      canvases = new Map();
    }
    if (!tensor || i < 0 || i >= tensor.shape[0]) return null;
    if (!canvases.has(i)) {
      const [, height, width] = tensor.shape;
      const size = height * width * 3;
      const rgb = { shape: [height, width, 3], data: tensor.data.subarray(i * size, (i + 1) * size) };
      canvases.set(i, imageCanvas(rgb));
    }
    return canvases.get(i);
  };
}

/** @param {RenderProps<NeuronModel>} props */
function render({ model, el }) {
  const w = createWidget(model, el, { className: "nnw-neuron" });
  let unit = model.get("unit"); // the unit shown; the kernel learns it through the `unit` trait
  const unitTile = tiles(model, "unit_images");
  const exampleTile = tiles(model, "examples");
  let drawn = 0;

  const layerSelect = w.select("layer", { options: "layers", className: "nnw-layer-select" });
  const objectiveSelect = w.select("objective", { options: "objectives", className: "nnw-objective-select" });
  const directionSelect = w.select("maximize", {
    options: [
      [true, "maximize"],
      [false, "minimize"],
    ],
    className: "nnw-direction-select",
  });
  // arrow keys on the slider scrub the units, not the notebook cursor (lib/dom.js keepKeys)
  const slider = h("input", { type: "range", min: "0", step: "1", class: "nnw-unit-slider", "aria-label": "Unit" });
  const unitOut = h("output", { class: "nnw-value nnw-unit-name" });
  const canvas = h("canvas", { class: "nnw-canvas nnw-synth", role: "img" });
  const caption = h("div", { class: "nnw-caption", "aria-live": "polite" });
  const exampleGrid = h("div", { class: "nnw-examples" });
  const exampleTitle = h("div", { class: "nnw-section-title" });
  const inputCanvas = h("canvas", { class: "nnw-input-canvas", role: "img" });
  const inputText = h("div", { class: "nnw-input-text" });
  const inputBox = h("div", { class: "nnw-input" }, inputCanvas, inputText);
  // arrow keys move the selection, not the notebook cursor
  const overview = focusable("canvas", { class: "nnw-overview", role: "listbox", "aria-label": "Layer overview: one synthesized image per unit. Click a tile or use the arrow keys." });
  const overviewTitle = h("div", { class: "nnw-section-title" });

  const root = w.mount(
    w.controls(["Layer", layerSelect], ["Objective", h("span", { class: "nnw-inline" }, objectiveSelect, directionSelect)], ["Unit", h("span", { class: "nnw-inline" }, slider, unitOut)]),
    h("div", { class: "nnw-main" }, h("div", { class: "nnw-stage" }, canvas, caption), h("div", { class: "nnw-side" }, exampleTitle, exampleGrid, inputBox)),
    h("div", { class: "nnw-overview-box" }, overviewTitle, overview),
    w.controls(
      ["Steps", w.number("steps", { min: "1", max: "10000", step: "1" }, { integer: true })],
      ["Size (px)", w.number("size", { min: "4", max: "1024", step: "1" }, { integer: true })],
      ["Regularization", w.number("regularization", { min: "0", step: "0.1" })],
      h(
        "div",
        { class: "nnw-buttons" },
        w.action("Compute all", { type: "compute_all" }, { class: "nnw-button nnw-primary" }),
        w.action("Stop", { type: "stop" }),
        w.savePng(canvas, () => `${model.get("layer")}-unit-${unit}.png`),
      ),
    ),
  );

  // -- reading the state -------------------------------------------------------------------
  const count = () => model.get("unit_count");
  const done = () => getTensor(model, "unit_done");
  const unitName = (u) => model.get("unit_labels")[u] ?? `unit ${u}`;
  const deadFlags = (u) => {
    const flags = getTensor(model, "unit_dead");
    return flags && u < flags.data.length ? flags.data[u] : 0;
  };

  // -- the selected unit -----------------------------------------------------------------
  function drawUnit() {
    const ctx = sizeCanvas(canvas, VIEW_SIDE, VIEW_SIDE);
    ctx.clearRect(0, 0, VIEW_SIDE, VIEW_SIDE);
    const flags = done();
    const scores = /** @type {Tensor} */ (getTensor(model, "unit_scores"));
    const dead = deadReason(deadFlags(unit));
    const preview = model.get("preview_unit") === unit ? getTensor(model, "preview_image") : null;
    let source = "pending";
    if (flags && flags.data[unit] && unitTile(unit)) {
      drawScaled(ctx, unitTile(unit), 0, 0, VIEW_SIDE, VIEW_SIDE);
      source = "final";
      const verb = model.get("maximize") ? "maximizes" : "minimizes";
      caption.textContent = `Synthesized input that ${verb} ${unitName(unit)}: activation ${fmt(scores.data[unit])}${dead ? ` · dead unit: ${dead}` : ""}`;
    } else if (preview) {
      drawScaled(ctx, /** @type {HTMLCanvasElement} */ (imageCanvas(preview)), 0, 0, VIEW_SIDE, VIEW_SIDE);
      source = "preview";
      caption.textContent = `${unitName(unit)}: ${model.get("preview_label")}`;
    } else {
      ctx.fillStyle = "rgba(127,127,127,0.12)";
      ctx.fillRect(0, 0, VIEW_SIDE, VIEW_SIDE);
      caption.textContent = w.isStatic
        ? `${unitName(unit)}: not computed when the page was saved`
        : `${unitName(unit)}: queued, computed next`;
    }
    canvas.setAttribute("aria-label", caption.textContent);
    slider.value = String(unit);
    unitOut.textContent = `${unit} · ${unitName(unit)}`;
    drawn += 1;
    root.dataset.drawn = String(drawn);
    root.dataset.unit = String(unit);
    root.dataset.source = source;
    drawExamples();
    drawInput();
  }

  function drawExamples() {
    const slots = getTensor(model, "top_slots");
    const values = getTensor(model, "top_values");
    const indices = getTensor(model, "top_indices");
    const direction = model.get("maximize") ? "excite it most" : "drive it lowest";
    exampleTitle.textContent = slots ? `Dataset images that ${direction}` : "";
    if (!slots || !values || !indices || unit >= slots.shape[0]) {
      exampleGrid.replaceChildren();
      return;
    }
    const k = slots.shape[1];
    const cells = [];
    for (let j = 0; j < k; j++) {
      const index = indices.data[unit * k + j];
      const value = values.data[unit * k + j];
      const thumb = h("canvas", { class: "nnw-example-canvas" });
      const ctx = sizeCanvas(thumb, EXAMPLE_SIDE, EXAMPLE_SIDE);
      const source = exampleTile(slots.data[unit * k + j]);
      if (source) drawScaled(ctx, source, 0, 0, EXAMPLE_SIDE, EXAMPLE_SIDE);
      cells.push(
        h(
          "button",
          {
            class: "nnw-example",
            title: `dataset image #${index}: activation ${fmt(value)}. Click to choose it as the input.`,
            "data-index": String(index),
            disabled: w.isStatic,
            onclick: () => w.send({ type: "choose_example", index }),
          },
          thumb,
          h("span", { class: "nnw-example-value" }, fmt(value, 2)),
        ),
      );
    }
    exampleGrid.replaceChildren(...cells);
  }

  function drawInput() {
    const image = getTensor(model, "input_image");
    const values = getTensor(model, "input_activations");
    inputBox.hidden = !image || !values;
    if (!image || !values) return;
    const ctx = sizeCanvas(inputCanvas, INPUT_SIDE, INPUT_SIDE);
    drawScaled(ctx, /** @type {HTMLCanvasElement} */ (imageCanvas(image)), 0, 0, INPUT_SIDE, INPUT_SIDE);
    const map = model.get("input_map_unit") === unit ? getTensor(model, "input_map") : null;
    let where = "";
    if (map) {
      drawScaled(ctx, overlayCanvas(map, 255, lutOf(model, "colormap_sequential"), 0.75, 1), 0, 0, INPUT_SIDE, INPUT_SIDE);
      const peak = model.get("input_map_peak");
      where = peak > 0 ? ` · colour: where it fires (up to ${fmt(peak)})` : " · it does not fire anywhere on this image";
    }
    inputText.textContent = `${unitName(unit)} on ${model.get("input_label")}: ${fmt(values.data[unit])}${where}`;
    root.dataset.inputMap = map ? String(unit) : "";
  }

  // -- the layer overview ----------------------------------------------------------------
  function overviewGeometry() {
    const n = Math.max(count(), 1);
    const side = n > 128 ? 28 : n > 48 ? 40 : 56;
    const gap = 5; // room for the selected tile's frame
    const columns = Math.max(1, Math.floor((OVERVIEW_WIDTH + gap) / (side + gap)));
    const rows = Math.ceil(n / columns);
    return { side, gap, columns, rows, width: Math.min(n, columns) * (side + gap) - gap, height: rows * (side + gap) - gap };
  }

  function drawOverview() {
    const g = overviewGeometry();
    const ctx = sizeCanvas(overview, Math.max(g.width, 1), Math.max(g.height, 1));
    ctx.clearRect(0, 0, g.width, g.height);
    const flags = done();
    const logits = model.get("objective") === "logit";
    let finished = 0;
    let dead = 0;
    for (let u = 0; u < count(); u++) {
      const x = (u % g.columns) * (g.side + g.gap);
      const y = Math.floor(u / g.columns) * (g.side + g.gap);
      if (flags && flags.data[u] && unitTile(u)) {
        drawScaled(ctx, unitTile(u), x, y, g.side, g.side);
        finished += 1;
      } else {
        ctx.fillStyle = "rgba(127,127,127,0.15)";
        ctx.fillRect(x, y, g.side, g.side);
      }
      tileLabel(ctx, logits ? `${u} ${unitName(u)}` : String(u), x, y, g.side);
      if (deadFlags(u)) {
        dead += 1;
        ctx.strokeStyle = DEAD;
        ctx.lineWidth = 2;
        ctx.setLineDash([3, 2]);
        ctx.strokeRect(x + 1, y + 1, g.side - 2, g.side - 2);
        ctx.setLineDash([]);
        ctx.font = "bold 9px sans-serif";
        ctx.textBaseline = "bottom";
        ctx.fillStyle = "rgba(255,255,255,0.85)";
        ctx.fillRect(x + 1, y + g.side - 11, 26, 10);
        ctx.fillStyle = DEAD;
        ctx.fillText("dead", x + 3, y + g.side - 1);
      }
    }
    // the selected tile: a thick accent frame with a white line inside, the others dimmed
    const x = (unit % g.columns) * (g.side + g.gap);
    const y = Math.floor(unit / g.columns) * (g.side + g.gap);
    ctx.lineWidth = 3;
    ctx.strokeStyle = ACCENT;
    ctx.strokeRect(x - 1.5, y - 1.5, g.side + 3, g.side + 3);
    ctx.lineWidth = 1;
    ctx.strokeStyle = "#fff";
    ctx.strokeRect(x + 0.5, y + 0.5, g.side - 1, g.side - 1);
    const deadNote = dead ? ` · ${dead} dead (dashed red: 0 on every dataset image, or synthesis could not move them off 0)` : "";
    overviewTitle.textContent = `Layer overview: ${finished} of ${count()} units synthesized${deadNote}`;
    overview.setAttribute("aria-valuetext", `selected: unit ${unit}, ${unitName(unit)}`);
    root.dataset.done = String(finished);
  }

  function unitAt(event) {
    const g = overviewGeometry();
    const rect = overview.getBoundingClientRect();
    const x = ((event.clientX - rect.left) * g.width) / rect.width;
    const y = ((event.clientY - rect.top) * g.height) / rect.height;
    const column = Math.floor(x / (g.side + g.gap));
    const row = Math.floor(y / (g.side + g.gap));
    const u = row * g.columns + column;
    return column < g.columns && u >= 0 && u < count() ? u : null;
  }

  // -- choosing a unit: drawn now from the cache, then told to the kernel ------------------
  function select(u) {
    const next = Math.min(Math.max(0, u), count() - 1);
    if (next === unit) return;
    unit = next;
    drawUnit();
    drawOverview();
    w.set("unit", unit);
  }

  w.listen(slider, "input", () => select(Number(slider.value)));
  w.listen(overview, "click", (event) => {
    const u = unitAt(event);
    if (u !== null) select(u);
    overview.focus();
  });
  w.listen(overview, "keydown", (event) => {
    const { columns } = overviewGeometry();
    const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns, Home: -unit, End: count() };
    if (!(event.key in moves)) return;
    event.preventDefault();
    event.stopPropagation();
    select(unit + moves[event.key]);
  });

  // -- settings ------------------------------------------------------------------------
  function syncControls() {
    slider.max = String(Math.max(count() - 1, 0));
  }

  // -- kernel updates ------------------------------------------------------------------
  const redraw = () => {
    drawUnit();
    drawOverview();
  };
  w.observe({
    "change:unit_images": redraw,
    "change:unit_done": redraw,
    "change:unit_scores": drawUnit,
    "change:preview_image": drawUnit,
    "change:preview_unit": drawUnit,
    "change:examples": drawExamples,
    "change:top_slots": drawExamples,
    "change:top_values": drawExamples,
    "change:input_activations": drawInput,
    "change:input_image": drawInput,
    "change:input_map": drawInput,
    "change:input_map_unit": drawInput,
    "change:unit_dead": redraw,
    "change:unit": () => {
      unit = model.get("unit");
      redraw();
    },
    "change:unit_labels": redraw,
    "change:unit_count": () => {
      syncControls();
      redraw();
    },
  });

  syncControls();
  redraw();
  return w.cleanup;
}

export default { render };
