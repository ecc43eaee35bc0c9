// Front-end of nnwidgets.AttributionExplorer (anywidget ESM module).
// The kernel sends one float32 map per method (binary buffers, see
// nnwidgets/widgets/attribution.py); colouring, the overlay on the image, the legends, the
// crosshair and the hover readout are done here from those values, so hover, opacity and the
// choice among computed maps answer at once, also in an exported page.
import "./attribution.css";
import { drawScaled, pixelCanvas, rgbToRgba, sizeCanvas } from "./lib/canvas.js";
import { colorize, createLegend } from "./lib/colormap.js";
import { fmt, h, labelled, listen } from "./lib/dom.js";
import { isStatic, KERNEL_NOTE, kernelOnly, send, setTrait } from "./lib/kernel.js";
import { pixelAt } from "./lib/pointer.js";
import { createStatus } from "./lib/progress.js";
import { decodeTensor, getTensor } from "./lib/wire.js";
/** @import { RenderProps, Tensor, WireTensor } from "./lib/types.js" */

/**
 * The traits of nnwidgets/widgets/attribution.py this module reads (tensors before decoding).
 * @typedef {object} AttributionTraits
 * @property {{name: string, title: string, summary: string, signed: boolean, reduction: string}[]} catalog
 * @property {WireTensor} image (h, w, 3) uint8
 * @property {number[]} image_size [H, W] of the model input
 * @property {string} source
 * @property {string[]} labels
 * @property {WireTensor} probabilities (K,) float32
 * @property {Record<string, WireTensor>} maps per computed method, (h, w) float32
 * @property {Record<string, string>} option_notes
 * @property {string[]} layer_choices layers with spatial output
 * @property {Record<string, string>} method_layers the layer of each method that takes one
 * @property {string[]} pending methods being computed
 * @property {number} dataset_size
 * @property {{layer: string | null, layers: string[], rank_correlation: Record<string, number | null>}[]} sanity
 * @property {Record<string, WireTensor>} sanity_maps per method, (steps, h, w) float32
 * @property {string} sanity_state
 * @property {string[]} methods shown (settable)
 * @property {number} target (settable)
 * @property {number} index (settable)
 * @property {number} opacity (settable)
 * @property {number} sanity_step (settable)
 */

const PANEL_SIDE = 220; // CSS pixels of a map's longest side, when they fit side by side
const MIN_PANEL_SIDE = 150; // narrower than this, the panels wrap onto a second row
const PANEL_GAP = 18; // CSS pixels between panels (js/attribution.css)
const THUMB_SIDE = 60; // CSS pixels of a sanity check map's longer side
const LEGEND_WIDTH = 200; // CSS pixels of a legend's bar, at most

/**
 * The values of a map and how to colour them: symmetric about 0 for signed methods, from 0 for
 * non-negative ones.
 * @param {Float32Array} values
 * @param {boolean} signed
 */
function scaleOf(values, signed) {
  let low = Infinity;
  let high = -Infinity;
  for (const v of values) {
    if (v < low) low = v;
    if (v > high) high = v;
  }
  const limit = signed ? Math.max(Math.abs(low), Math.abs(high)) : Math.max(high, 0);
  return { low, high, limit, sign: signed ? 0 : 1 };
}

/** @param {RenderProps} props */
function render({ model, el }) {
  /** @type {HTMLCanvasElement | null} */
  let image = null;
  /** @type {{row: number, col: number} | null} */
  let hover = null;
  let drawn = 0;
  /** @type {Map<string, {el: HTMLElement, canvas: HTMLCanvasElement, legend: ReturnType<typeof createLegend>, extra: HTMLElement, layerSelect: HTMLSelectElement | null, note: HTMLElement}>} */
  const panels = new Map();

  const catalog = () => /** @type {AttributionTraits["catalog"]} */ (model.get("catalog"));
  const entry = (/** @type {string} */ name) => catalog().find((m) => m.name === name);
  const inputSize = () => /** @type {number[]} */ (model.get("image_size"));
  const shownMethods = () => /** @type {string[]} */ (model.get("methods"));
  const computed = () => Object.keys(model.get("maps") || {});
  const step = () => /** @type {number} */ (model.get("sanity_step"));

  // -- elements ------------------------------------------------------------------------
  const heading = h("div", { class: "nnw-heading", "aria-live": "polite" });
  const targetSelect = h("select", { class: "nnw-target-select", "aria-label": "Class whose score the maps explain" });
  const opacityInput = h("input", { type: "range", min: "0", max: "1", step: "0.05", class: "nnw-attr-opacity", "aria-label": "Opacity of the maps" });
  const opacityOut = h("output", { class: "nnw-value" });
  const indexInput = h("input", { type: "range", min: "0", step: "1", class: "nnw-attr-index", "aria-label": "Dataset image" });
  const indexOut = h("output", { class: "nnw-value" });
  const indexBox = labelled("Dataset image", h("span", { class: "nnw-inline" }, indexInput, indexOut));
  const stopButton = h("button", { class: "nnw-button nnw-attr-stop" }, "Stop");
  const computeButton = h("button", { class: "nnw-button nnw-attr-compute", title: "Compute the maps that are missing" }, "Compute missing");
  const sanityButton = h(
    "button",
    { class: "nnw-button nnw-attr-sanity-run", title: "Re-initialise the layers of a copy of the model from the output down and recompute every map (Adebayo et al., 2018)" },
    "Randomize layers (sanity check)",
  );
  const boxes = new Map(
    catalog().map((m) => [
      m.name,
      h("input", { type: "checkbox", value: m.name, class: "nnw-attr-method", "aria-describedby": `nnw-attr-summary-${m.name}` }),
    ]),
  );
  const methodList = h(
    "fieldset",
    { class: "nnw-attr-methods" },
    h("legend", { class: "nnw-control-label" }, "Methods"),
    ...catalog().map((m) =>
      h(
        "label",
        { class: "nnw-attr-method-label", title: m.summary },
        boxes.get(m.name),
        m.title,
        h("span", { id: `nnw-attr-summary-${m.name}`, hidden: true }, m.summary),
      ),
    ),
  );
  const banner = h("div", { class: "nnw-attr-banner", "aria-live": "polite" });
  const backButton = h("button", { class: "nnw-button nnw-attr-back" }, "Back to the trained model");
  const bannerRow = h("div", { class: "nnw-attr-banner-row" }, banner, backButton);
  const panelBox = h("div", { class: "nnw-attr-panels" });
  const readout = h("div", { class: "nnw-attr-readout", "aria-live": "polite" });
  const stepInput = h("input", { type: "range", min: "0", step: "1", class: "nnw-attr-step", "aria-label": "Sanity check step shown above" });
  const stepOut = h("output", { class: "nnw-value nnw-attr-step-label" });
  const sanityRows = h("div", { class: "nnw-attr-sanity-rows" });
  const sanityBox = h(
    "section",
    { class: "nnw-attr-sanity", "aria-label": "Sanity check" },
    h("div", { class: "nnw-attr-sanity-title" }, "Sanity check (Adebayo et al., 2018): the layers of a copy of the model re-initialised from the output down, one more per step. A map that explains the model should change. Each small map is on its own scale; ρ is the Spearman rank correlation of its |values| with the trained model's map. Click one to show its step above."),
    labelled("Step shown above", h("span", { class: "nnw-inline" }, stepInput, stepOut)),
    sanityRows,
  );
  const status = createStatus(model);

  const root = h(
    "div",
    { class: "nnw nnw-attribution" },
    heading,
    h(
      "div",
      { class: "nnw-controls" },
      labelled("Explain class", targetSelect),
      labelled("Opacity", h("span", { class: "nnw-inline" }, opacityInput, opacityOut)),
      indexBox,
      h("div", { class: "nnw-buttons" }, stopButton, computeButton, sanityButton),
    ),
    methodList,
    bannerRow,
    panelBox,
    readout,
    sanityBox,
    status.el,
  );
  el.append(root);
  const saved = new Set(computed());
  kernelOnly(root, [
    targetSelect,
    indexInput,
    stopButton,
    computeButton,
    sanityButton,
    ...[...boxes].filter(([name]) => !saved.has(name)).map(([, box]) => box),
  ]);

  // -- what is shown ------------------------------------------------------------------
  /**
   * The values shown for `method`: the sanity check's map at the chosen step, else its map.
   * @param {string} method
   * @returns {Tensor | null} (h, w) float32
   */
  function shownMap(method) {
    const s = step();
    if (s > 0) {
      const stack = decodeTensor(model.get("sanity_maps")[method]);
      if (!stack || stack.shape[0] <= s) return null;
      const [, mh, mw] = stack.shape;
      return { data: stack.data.subarray(s * mh * mw, (s + 1) * mh * mw), shape: [mh, mw], dtype: "float32" };
    }
    return decodeTensor((model.get("maps") || {})[method]);
  }

  /**
   * The value of a (h, w) map at input pixel (row, col).
   * @param {Tensor} map
   * @param {number} row
   * @param {number} col
   */
  function valueAt(map, row, col) {
    const [height, width] = inputSize();
    const [mh, mw] = map.shape;
    const r = Math.min(mh - 1, Math.floor((row * mh) / height));
    const c = Math.min(mw - 1, Math.floor((col * mw) / width));
    return map.data[r * mw + c];
  }

  function cssSize(/** @type {number} */ side) {
    const [height, width] = inputSize();
    const scale = side / Math.max(height, width);
    return [Math.round(width * scale), Math.round(height * scale)];
  }

  function lutFor(/** @type {boolean} */ signed) {
    return /** @type {Tensor} */ (getTensor(model, signed ? "colormap" : "colormap_sequential")).data;
  }

  // -- the panels ----------------------------------------------------------------------
  /** @param {string} method a method's name, or "input" for the image itself */
  function makePanel(method) {
    const info = entry(method);
    const canvas = h("canvas", {
      class: "nnw-canvas nnw-attr-map",
      tabindex: "0",
      role: "img",
      "data-lm-suppress-shortcuts": "true", // arrow keys move the crosshair, not the notebook cursor
      "aria-label": `${info ? `${info.title} map over the image (in grey)` : "The input image"}. Hover a pixel, or use the arrow keys, to read every map's value there; Escape leaves.`,
    });
    const legend = createLegend();
    const name = h("b", {}, info ? info.title : method === "input" ? "Input" : method);
    const extra = h("span", { class: "nnw-attr-panel-options" });
    const layers = /** @type {Record<string, string>} */ (model.get("method_layers"));
    /** @type {HTMLSelectElement | null} */
    let layerSelect = null;
    if (method in layers) {
      layerSelect = h(
        "select",
        { class: "nnw-attr-layer", "aria-label": `Layer of ${info ? info.title : method}`, title: "The layer whose channels are weighted by their mean gradient" },
        ...model.get("layer_choices").map((/** @type {string} */ layer) => h("option", { value: layer }, layer)),
      );
      layerSelect.value = layers[method];
      if (isStatic()) {
        layerSelect.disabled = true;
        layerSelect.title = KERNEL_NOTE;
        layerSelect.classList.add("nnw-kernel-only");
      }
      const picker = layerSelect;
      picker.addEventListener("change", () => send(model, { type: "layer", method, layer: picker.value }));
    }
    const title = h("div", { class: "nnw-attr-panel-title", title: info ? info.summary : "" }, name, layerSelect, extra);
    const note = h("div", { class: "nnw-attr-panel-note", role: "status" });
    const panel = h("figure", { class: "nnw-attr-panel", "data-method": method }, title, canvas, note, legend.el);
    canvas.addEventListener("pointermove", (event) => {
      const [height, width] = inputSize();
      const pixel = pixelAt(canvas.getBoundingClientRect(), event.clientX, event.clientY, width, height);
      setHover(pixel.inside ? { row: pixel.row, col: pixel.col } : null);
    });
    canvas.addEventListener("pointerleave", () => setHover(null));
    canvas.addEventListener("keydown", (event) => {
      const [height, width] = inputSize();
      const at = hover || { row: Math.floor(height / 2), col: Math.floor(width / 2) };
      const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      if (event.key in moves) {
        const [dr, dc] = moves[/** @type {keyof moves} */ (event.key)];
        setHover({ row: Math.min(height - 1, Math.max(0, at.row + dr)), col: Math.min(width - 1, Math.max(0, at.col + dc)) });
      } else if (event.key === "Escape") {
        setHover(null);
      } else {
        return;
      }
      event.preventDefault();
      event.stopPropagation();
    });
    return { el: panel, canvas, legend, extra, layerSelect, note };
  }

  function layoutPanels() {
    const shown = ["input", ...shownMethods()];
    for (const [name, panel] of panels) {
      if (!shown.includes(name)) {
        panel.el.remove();
        panels.delete(name);
      }
    }
    for (const name of shown) {
      if (!panels.has(name)) panels.set(name, makePanel(name));
    }
    panelBox.replaceChildren(...shown.map((name) => /** @type {{el: HTMLElement}} */ (panels.get(name)).el));
  }

  function drawPanels() {
    const names = ["input", ...shownMethods()];
    const room = panelBox.clientWidth || root.clientWidth || 4 * (PANEL_SIDE + PANEL_GAP);
    const fit = Math.floor((room + PANEL_GAP) / names.length) - PANEL_GAP - 4;
    const side = Math.max(MIN_PANEL_SIDE, Math.min(PANEL_SIDE, fit));
    const [cw, ch] = cssSize(side);
    const legendWidth = Math.min(LEGEND_WIDTH, cw);
    panelBox.style.setProperty("--nnw-attr-panel", `${cw + 4}px`);
    const pending = /** @type {string[]} */ (model.get("pending"));
    const notes = model.get("option_notes") || {};
    const drawnMethods = [];
    for (const name of names) {
      const panel = panels.get(name);
      if (!panel) continue;
      const info = entry(name);
      const signed = info ? info.signed : true;
      const ctx = sizeCanvas(panel.canvas, cw, ch);
      ctx.clearRect(0, 0, cw, ch);
      if (name === "input") {
        if (image) drawScaled(ctx, image, 0, 0, cw, ch);
        panel.note.textContent = "shown in grey under the maps";
        panel.legend.el.hidden = true;
        panel.el.dataset.state = "input";
        if (hover) crosshair(ctx, cw, ch);
        continue;
      }
      const map = shownMap(name);
      if (image) {
        ctx.filter = "grayscale(1)"; // the maps' colours stand out on a grey image
        drawScaled(ctx, image, 0, 0, cw, ch);
        ctx.filter = "none";
      }
      panel.extra.textContent = notes[name] ? ` (${notes[name]})` : "";
      if (panel.layerSelect) panel.layerSelect.value = model.get("method_layers")[name];
      if (map) {
        const scale = scaleOf(/** @type {Float32Array} */ (map.data), signed);
        const lut = lutFor(signed);
        const [mh, mw] = map.shape;
        drawScaled(ctx, pixelCanvas(colorize(map.data, scale.limit, lut, model.get("opacity"), scale.sign), mw, mh), 0, 0, cw, ch);
        const what = info ? info.reduction : "";
        const units = scale.limit > 0 ? what : `${what}: zero everywhere`;
        panel.legend.update(lut, scale.limit, units, legendWidth, {
          sign: scale.sign,
          detail: `values from ${fmt(scale.low)} to ${fmt(scale.high)}${signed ? "; scale symmetric about 0" : ""}`,
        });
        panel.legend.el.hidden = false;
        panel.note.textContent = "";
        drawnMethods.push(name);
      } else {
        panel.legend.el.hidden = true;
        const s = step();
        panel.note.textContent =
          s > 0
            ? "Not part of this sanity check: run it again."
            : pending.includes(name)
              ? "Computing…"
              : isStatic()
                ? "Not computed in this saved page."
                : "Not computed (stopped): press Compute missing.";
      }
      panel.el.dataset.state = map ? "drawn" : pending.includes(name) ? "pending" : "missing";
      if (hover) crosshair(ctx, cw, ch);
    }
    drawn += 1;
    root.dataset.drawn = String(drawn);
    root.dataset.shown = drawnMethods.join(",");
    root.dataset.pending = pending.join(",");
  }

  /**
   * Mark the hovered pixel: a box around it and lines from it to the edges.
   * @param {CanvasRenderingContext2D} ctx
   * @param {number} cw
   * @param {number} ch
   */
  function crosshair(ctx, cw, ch) {
    if (!hover) return;
    const [height, width] = inputSize();
    const px = cw / width;
    const py = ch / height;
    const x = (hover.col + 0.5) * px;
    const y = (hover.row + 0.5) * py;
    const gap = Math.max(px, py, 4);
    for (const [colour, line] of /** @type {[string, number][]} */ ([["rgba(0,0,0,0.8)", 3], ["#fff", 1]])) {
      ctx.strokeStyle = colour;
      ctx.lineWidth = line;
      ctx.beginPath();
      ctx.moveTo(x, 0);
      ctx.lineTo(x, y - gap);
      ctx.moveTo(x, y + gap);
      ctx.lineTo(x, ch);
      ctx.moveTo(0, y);
      ctx.lineTo(x - gap, y);
      ctx.moveTo(x + gap, y);
      ctx.lineTo(cw, y);
      ctx.stroke();
      ctx.strokeRect(x - px / 2 - 1, y - py / 2 - 1, px + 2, py + 2);
    }
  }

  // -- hover readout -------------------------------------------------------------------
  function setHover(/** @type {{row: number, col: number} | null} */ pixel) {
    if (pixel && hover && pixel.row === hover.row && pixel.col === hover.col) return;
    hover = pixel;
    drawPanels();
    describeHover();
  }

  function describeHover() {
    root.dataset.hover = hover ? `${hover.row},${hover.col}` : "";
    if (!hover) {
      readout.replaceChildren(h("span", { class: "nnw-hint" }, "Hover a map (or focus it and use the arrow keys) to read every map's value at that pixel."));
      return;
    }
    const { row, col } = hover;
    readout.replaceChildren(
      h("span", { class: "nnw-attr-readout-pixel" }, `row ${row}, column ${col}`),
      ...[...panels.keys()].filter((name) => name !== "input").map((name) => {
        const map = shownMap(name);
        const value = map ? valueAt(map, row, col) : NaN;
        const info = entry(name);
        return h(
          "span",
          { class: "nnw-attr-readout-item", "data-method": name, "data-value": map ? String(value) : "" },
          h("span", { class: "nnw-attr-readout-name" }, info ? info.title : name),
          " ",
          map ? fmt(value) : "–",
        );
      }),
    );
  }

  // -- the sanity check ------------------------------------------------------------------
  function drawSanity() {
    const steps = /** @type {AttributionTraits["sanity"]} */ (model.get("sanity"));
    const state = model.get("sanity_state");
    sanityBox.hidden = steps.length === 0 && state !== "running";
    stepInput.max = String(Math.max(0, steps.length - 1));
    stepInput.value = String(step());
    const current = steps[step()];
    stepOut.textContent = !current ? "" : step() === 0 ? "trained model" : `${step()} of ${steps.length - 1}: re-initialised down to ${current.layer}`;
    const [tw, th] = cssSize(THUMB_SIDE);
    const rows = shownMethods().filter((name) => model.get("sanity_maps")[name]);
    sanityRows.replaceChildren(
      ...rows.map((name) => {
        const info = entry(name);
        const signed = info ? info.signed : true;
        const stack = /** @type {Tensor} */ (decodeTensor(model.get("sanity_maps")[name]));
        const [count, mh, mw] = stack.shape;
        const lut = lutFor(signed);
        const cells = [];
        for (let s = 0; s < count; s++) {
          const values = stack.data.subarray(s * mh * mw, (s + 1) * mh * mw);
          const scale = scaleOf(/** @type {Float32Array} */ (values), signed);
          const thumb = h("canvas", { class: "nnw-attr-thumb" });
          const ctx = sizeCanvas(thumb, tw, th);
          const rgba = colorize(values, scale.limit, lut, 1, scale.sign);
          for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255; // the map alone, opaque
          drawScaled(ctx, pixelCanvas(rgba, mw, mh), 0, 0, tw, th);
          const rho = s > 0 && steps[s] ? steps[s].rank_correlation[name] : null;
          const layer = s === 0 ? "trained" : steps[s] ? steps[s].layer : "";
          const rhoText = s === 0 ? "ρ 1" : typeof rho === "number" ? `ρ ${fmt(rho, 2)}` : "ρ n/a";
          const cell = h(
            "button",
            {
              class: `nnw-attr-thumb-cell${s === step() ? " nnw-current" : ""}`,
              "data-step": s,
              "data-rho": typeof rho === "number" ? String(rho) : "",
              title: s === 0 ? "The trained model's map" : `Layers re-initialised: ${steps[s] ? steps[s].layers.join(", ") : ""}${typeof rho === "number" ? "" : " (a constant map has no rank correlation)"}`,
              "aria-label": `${info ? info.title : name}, ${layer}, rank correlation ${rhoText.slice(2)}: show in the main view`,
            },
            thumb,
            h("span", { class: "nnw-attr-thumb-layer" }, layer),
            h("span", { class: "nnw-attr-thumb-rho" }, rhoText),
          );
          cell.addEventListener("click", () => setTrait(model, "sanity_step", s));
          cells.push(cell);
        }
        return h("div", { class: "nnw-attr-sanity-row", "data-method": name }, h("div", { class: "nnw-attr-sanity-name" }, info ? info.title : name), h("div", { class: "nnw-attr-thumbs" }, ...cells));
      }),
    );
    root.dataset.sanity = String(steps.length);
    root.dataset.sanityState = state;
    root.dataset.step = String(step());
    const s = step();
    banner.textContent = s > 0 && current ? `Sanity check step ${s}: the maps of a copy of the model with ${current.layers.join(", ")} re-initialised.` : "";
    bannerRow.hidden = s === 0;
  }

  // -- text and controls --------------------------------------------------------------
  function describeInput() {
    const probs = getTensor(model, "probabilities");
    const labels = /** @type {string[]} */ (model.get("labels"));
    if (!probs) return;
    const order = Array.from(probs.data.keys()).sort((a, b) => probs.data[b] - probs.data[a]);
    const best = order[0];
    const target = model.get("target");
    heading.replaceChildren(
      "Predicted ",
      h("b", {}, labels[best]),
      ` (${(100 * probs.data[best]).toFixed(1)}%) for ${model.get("source")} · explaining `,
      h("b", {}, labels[target]),
    );
    root.dataset.predicted = labels[best];
    targetSelect.replaceChildren(
      ...order.map((k) => h("option", { value: String(k) }, `${labels[k]} (${(100 * probs.data[k]).toFixed(1)}%)`)),
    );
    targetSelect.value = String(target);
    root.dataset.target = String(target);
  }

  function syncControls() {
    const shown = shownMethods();
    const have = new Set(computed());
    for (const [name, box] of boxes) {
      box.checked = shown.includes(name);
      if (isStatic() && !have.has(name)) box.disabled = true;
    }
    opacityInput.value = String(model.get("opacity"));
    opacityOut.textContent = `${Math.round(100 * model.get("opacity"))}%`;
    const size = model.get("dataset_size");
    indexBox.hidden = size === 0;
    indexInput.max = String(Math.max(0, size - 1));
    indexInput.value = String(model.get("index"));
    indexOut.textContent = `#${model.get("index")} of ${size}`;
    const busy = model.get("busy");
    if (!isStatic()) {
      stopButton.disabled = !busy;
      const missing = shown.some((name) => !have.has(name)) && model.get("pending").length === 0;
      computeButton.hidden = !missing;
      sanityButton.disabled = model.get("sanity_state") === "running" || shown.length === 0;
    } else {
      computeButton.hidden = true;
    }
    root.dataset.computed = String(model.get("computed"));
  }

  function loadImage() {
    const img = getTensor(model, "image");
    image = img && pixelCanvas(rgbToRgba(img), img.shape[1], img.shape[0]);
  }

  // -- user actions --------------------------------------------------------------------
  for (const [name, box] of boxes) {
    box.addEventListener("change", () => {
      const shown = shownMethods().filter((m) => m !== name);
      if (box.checked) shown.push(name);
      setTrait(model, "methods", shown);
    });
  }
  targetSelect.addEventListener("change", () => setTrait(model, "target", Number(targetSelect.value)));
  opacityInput.addEventListener("input", () => setTrait(model, "opacity", Number(opacityInput.value)));
  indexInput.addEventListener("input", () => {
    indexOut.textContent = `#${indexInput.value} of ${model.get("dataset_size")}`;
  });
  indexInput.addEventListener("change", () => setTrait(model, "index", Number(indexInput.value)));
  stepInput.addEventListener("input", () => setTrait(model, "sanity_step", Number(stepInput.value)));
  stopButton.addEventListener("click", () => send(model, { type: "stop" }));
  computeButton.addEventListener("click", () => send(model, { type: "compute" }));
  sanityButton.addEventListener("click", () => send(model, { type: "sanity" }));
  backButton.addEventListener("click", () => setTrait(model, "sanity_step", 0));

  function redrawAll() {
    layoutPanels();
    syncControls();
    drawPanels();
    describeHover();
    describeInput();
    drawSanity();
  }

  loadImage();
  redrawAll();
  let lastWidth = panelBox.clientWidth;
  const resized = new ResizeObserver(() => {
    if (panelBox.clientWidth === lastWidth) return;
    lastWidth = panelBox.clientWidth;
    drawPanels();
  });
  resized.observe(panelBox);

  const redraw = () => {
    drawPanels();
    describeHover();
  };
  const dispose = listen(model, {
    "change:image": () => {
      loadImage();
      redraw();
    },
    "change:maps": () => {
      syncControls();
      redraw();
    },
    "change:pending": () => {
      syncControls();
      drawPanels();
    },
    "change:option_notes": drawPanels,
    "change:method_layers": drawPanels,
    "change:methods": redrawAll,
    "change:opacity": () => {
      syncControls();
      drawPanels();
    },
    "change:probabilities": describeInput,
    "change:target": describeInput,
    "change:source": describeInput,
    "change:index": syncControls,
    "change:busy": syncControls,
    "change:computed": syncControls,
    "change:sanity": drawSanity,
    "change:sanity_maps": () => {
      drawSanity();
      redraw();
    },
    "change:sanity_state": () => {
      drawSanity();
      syncControls();
    },
    "change:sanity_step": () => {
      drawSanity();
      redraw();
    },
  });

  return () => {
    resized.disconnect();
    dispose();
    status.dispose();
  };
}

export default { render };
