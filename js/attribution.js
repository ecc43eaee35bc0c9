// Front-end of nnwidgets.AttributionExplorer (anywidget ESM module).
// The kernel sends one float32 map per method (binary buffers, see
// nnwidgets/widgets/attribution.py); colouring, the overlay on the image, the legends, the
// crosshair and the hover readout are done here from those values, so hover, opacity and the
// choice among computed maps answer at once, also in an exported page. The sanity check's
// section is attribution/sanity.js; the maps' scales and crosshair, attribution/maps.js.
import "./attribution.css";
import { drawScaled, sizeCanvas } from "./lib/canvas.js";
import { createLegend } from "./lib/colormap.js";
import { fmt, focusable, h, labelled } from "./lib/dom.js";
import { pixelAt } from "./lib/pointer.js";
import { createWidget, imageCanvas, lutOf, overlayCanvas } from "./lib/widget.js";
import { decodeTensor, getTensor } from "./lib/wire.js";
import { crosshair, lutName, scaleOf, stepOf, valueAt } from "./attribution/maps.js";
import { createSanity } from "./attribution/sanity.js";
/** @import { BaseModel, RenderProps, Tensor, WireTensor } from "./lib/types.js" */

/**
 * A method as nnwidgets/widgets/attribution.py `CATALOG` describes it (`signed`: its maps
 * take both signs; `reduction`: how a map's one value per pixel is made, for the legend).
 * @typedef {{name: string, title: string, summary: string, signed: boolean, reduction: string}} Method
 */

/**
 * The synced traits of nnwidgets.AttributionExplorer (nnwidgets/widgets/attribution.py).
 * @typedef {BaseModel & {
 *   catalog: Method[], image: WireTensor | null, image_size: number[], source: string,
 *   labels: string[], probabilities: WireTensor | null, maps: Record<string, WireTensor>,
 *   option_notes: Record<string, string>, layer_choices: string[],
 *   method_layers: Record<string, string>, pending: string[], dataset_size: number,
 *   sanity: {layer: string | null, layers: string[], rank_correlation: Record<string, number | null>}[],
 *   sanity_maps: Record<string, WireTensor>, sanity_state: string, computed: number,
 *   methods: string[], target: number, index: number, opacity: number, sanity_step: number,
 * }} AttributionModel
 */

const PANEL_SIDE = 220; // CSS pixels of a map's longest side, when they fit side by side
const MIN_PANEL_SIDE = 150; // narrower than this, the panels wrap onto a second row
const PANEL_GAP = 18; // CSS pixels between panels (js/attribution.css)
const LEGEND_WIDTH = 200; // CSS pixels of a legend's bar, at most

/** @param {RenderProps<AttributionModel>} props */
function render({ model, el }) {
  const w = createWidget(model, el, { className: "nnw-attribution", heading: true });
  const heading = /** @type {HTMLElement} */ (w.heading);
  /** @type {HTMLCanvasElement | null} */
  let image = null;
  /** @type {{row: number, col: number} | null} */
  let hover = null;
  let drawn = 0;

  const catalog = model.get("catalog");
  const entry = (/** @type {string} */ name) => catalog.find((m) => m.name === name);
  const inputSize = () => model.get("image_size");
  const shownMethods = () => model.get("methods");
  const computed = () => Object.keys(model.get("maps") || {});
  const step = () => model.get("sanity_step");

  // -- elements ------------------------------------------------------------------------
  const targetSelect = w.select("target", {
    options: () => {
      const probs = getTensor(model, "probabilities");
      const labels = model.get("labels");
      if (!probs) return [];
      return byProbability(probs).map((k) => /** @type {[number, string]} */ ([k, `${labels[k]} (${(100 * probs.data[k]).toFixed(1)}%)`]));
    },
    watch: ["probabilities", "labels"],
    className: "nnw-target-select",
    label: "Class whose score the maps explain",
    // the option's own value, so that one the list lacks still reaches the kernel's check
    onChange: () => w.set("target", Number(targetSelect.value)),
  });
  const opacityInput = w.number("opacity", { type: "range", min: "0", max: "1", step: "0.05", class: "nnw-attr-opacity", "aria-label": "Opacity of the maps" }, { event: "input", kernel: false });
  const opacityOut = h("output", { class: "nnw-value" });
  const indexInput = w.number("index", { type: "range", min: "0", step: "1", class: "nnw-attr-index", "aria-label": "Dataset image" }, { integer: true });
  const indexOut = h("output", { class: "nnw-value" });
  const indexBox = labelled("Dataset image", h("span", { class: "nnw-inline" }, indexInput, indexOut));
  const stopButton = w.action("Stop", { type: "stop" }, { class: "nnw-button nnw-attr-stop" });
  const computeButton = w.action("Compute missing", { type: "compute" }, { class: "nnw-button nnw-attr-compute", title: "Compute the maps that are missing" });
  const sanityButton = w.action("Randomize layers (sanity check)", { type: "sanity" }, {
    class: "nnw-button nnw-attr-sanity-run",
    title: "Re-initialise the layers of a copy of the model from the output down and recompute every map (Adebayo et al., 2018)",
  });
  const boxes = new Map(
    catalog.map((m) => [m.name, h("input", { type: "checkbox", value: m.name, class: "nnw-attr-method", "aria-describedby": `nnw-attr-summary-${m.name}` })]),
  );
  const methodList = h(
    "fieldset",
    { class: "nnw-attr-methods" },
    h("legend", { class: "nnw-control-label" }, "Methods"),
    ...catalog.map((m) =>
      h("label", { class: "nnw-attr-method-label", title: m.summary }, boxes.get(m.name), m.title, h("span", { id: `nnw-attr-summary-${m.name}`, hidden: true }, m.summary)),
    ),
  );
  const panelBox = h("div", { class: "nnw-attr-panels" });
  const readout = h("div", { class: "nnw-attr-readout", "aria-live": "polite" });
  const sanity = createSanity(w, cssSize);
  /** One panel per method (made once, shown while the method is) and "input", the image. */
  const panels = new Map(["input", ...catalog.map((m) => m.name)].map((name) => [name, makePanel(name)]));

  const saved = new Set(computed());
  w.kernelOnly(...[...boxes].filter(([name]) => !saved.has(name)).map(([, box]) => box));
  const root = w.mount(
    w.controls(
      ["Explain class", targetSelect],
      ["Opacity", h("span", { class: "nnw-inline" }, opacityInput, opacityOut)],
      indexBox,
      h("div", { class: "nnw-buttons" }, stopButton, computeButton, sanityButton),
    ),
    methodList,
    sanity.banner,
    panelBox,
    readout,
    sanity.el,
  );

  // -- what is shown ------------------------------------------------------------------
  /**
   * The classes, most probable first.
   * @param {Tensor} probs
   */
  function byProbability(probs) {
    return Array.from(probs.data.keys()).sort((a, b) => probs.data[b] - probs.data[a]);
  }

  /**
   * The values shown for `method`: the sanity check's map at the chosen step, else its map.
   * @param {string} method
   * @returns {Tensor | null} (h, w) float32
   */
  function shownMap(method) {
    const s = step();
    if (s > 0) return stepOf(decodeTensor(model.get("sanity_maps")[method]), s);
    return decodeTensor((model.get("maps") || {})[method]);
  }

  function cssSize(/** @type {number} */ side) {
    const [height, width] = inputSize();
    const scale = side / Math.max(height, width);
    return [Math.round(width * scale), Math.round(height * scale)];
  }

  // -- the panels ----------------------------------------------------------------------
  /** @param {string} method a method's name, or "input" for the image itself */
  function makePanel(method) {
    const info = entry(method);
    // arrow keys move the crosshair, not the notebook cursor
    const canvas = focusable("canvas", {
      class: "nnw-canvas nnw-attr-map",
      role: "img",
      "aria-label": `${info ? `${info.title} map over the image (in grey)` : "The input image"}. Hover a pixel, or use the arrow keys, to read every map's value there; Escape leaves.`,
    });
    const legend = createLegend();
    const name = h("b", {}, info ? info.title : "Input");
    const extra = h("span", { class: "nnw-attr-panel-options" });
    /** @type {HTMLSelectElement | null} */
    let layerSelect = null;
    if (method in model.get("method_layers")) {
      const picker = w.kernelOnly(
        h(
          "select",
          { class: "nnw-attr-layer", "aria-label": `Layer of ${info ? info.title : method}`, title: "The layer whose channels are weighted by their mean gradient" },
          ...model.get("layer_choices").map((layer) => h("option", { value: layer }, layer)),
        ),
      );
      picker.value = model.get("method_layers")[method];
      w.listen(picker, "change", () => w.send({ type: "layer", method, layer: picker.value }));
      layerSelect = picker;
    }
    const title = h("div", { class: "nnw-attr-panel-title", title: info ? info.summary : "" }, name, layerSelect, extra);
    const note = h("div", { class: "nnw-attr-panel-note", role: "status" });
    const panel = h("figure", { class: "nnw-attr-panel", "data-method": method }, title, canvas, note, legend.el);
    w.hover(
      canvas,
      (event) => {
        const [height, width] = inputSize();
        const pixel = pixelAt(canvas.getBoundingClientRect(), event.clientX, event.clientY, width, height);
        return pixel.inside ? { row: pixel.row, col: pixel.col } : null;
      },
      setHover,
      null,
    );
    w.listen(canvas, "keydown", (event) => {
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
    panelBox.replaceChildren(...["input", ...shownMethods()].map((name) => /** @type {{el: HTMLElement}} */ (panels.get(name)).el));
  }

  function drawPanels() {
    const names = ["input", ...shownMethods()];
    const room = panelBox.clientWidth || root.clientWidth || 4 * (PANEL_SIDE + PANEL_GAP);
    const fit = Math.floor((room + PANEL_GAP) / names.length) - PANEL_GAP - 4;
    const side = Math.max(MIN_PANEL_SIDE, Math.min(PANEL_SIDE, fit));
    const [cw, ch] = cssSize(side);
    const legendWidth = Math.min(LEGEND_WIDTH, cw);
    panelBox.style.setProperty("--nnw-attr-panel", `${cw + 4}px`);
    const pending = model.get("pending");
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
        if (hover) crosshair(ctx, cw, ch, hover, inputSize());
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
        const lut = lutOf(model, lutName(signed));
        drawScaled(ctx, overlayCanvas(map, scale.limit, lut, model.get("opacity"), scale.sign), 0, 0, cw, ch);
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
        panel.note.textContent =
          step() > 0
            ? "Not part of this sanity check: run it again."
            : pending.includes(name)
              ? "Computing…"
              : w.isStatic
                ? "Not computed in this saved page."
                : "Not computed (stopped): press Compute missing.";
      }
      panel.el.dataset.state = map ? "drawn" : pending.includes(name) ? "pending" : "missing";
      if (hover) crosshair(ctx, cw, ch, hover, inputSize());
    }
    drawn += 1;
    root.dataset.drawn = String(drawn);
    root.dataset.shown = drawnMethods.join(",");
    root.dataset.pending = pending.join(",");
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
      ...shownMethods().map((name) => {
        const map = shownMap(name);
        const value = map ? valueAt(map, row, col, inputSize()) : NaN;
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

  // -- text and controls --------------------------------------------------------------
  function describeInput() {
    const probs = getTensor(model, "probabilities");
    const labels = model.get("labels");
    if (!probs) return;
    const best = byProbability(probs)[0];
    const target = model.get("target");
    heading.replaceChildren("Predicted ", h("b", {}, labels[best]), ` (${(100 * probs.data[best]).toFixed(1)}%) for ${model.get("source")} · explaining `, h("b", {}, labels[target]));
    root.dataset.predicted = labels[best];
    root.dataset.target = String(target);
  }

  function syncControls() {
    const shown = shownMethods();
    const have = new Set(computed());
    for (const [name, box] of boxes) box.checked = shown.includes(name);
    opacityOut.textContent = `${Math.round(100 * model.get("opacity"))}%`;
    const size = model.get("dataset_size");
    indexBox.hidden = size === 0;
    indexInput.max = String(Math.max(0, size - 1));
    indexInput.value = String(model.get("index"));
    indexOut.textContent = `#${model.get("index")} of ${size}`;
    if (!w.isStatic) {
      stopButton.disabled = !model.get("busy");
      const missing = shown.some((name) => !have.has(name)) && model.get("pending").length === 0;
      computeButton.hidden = !missing;
      sanityButton.disabled = model.get("sanity_state") === "running" || shown.length === 0;
    } else {
      computeButton.hidden = true;
    }
    root.dataset.computed = String(model.get("computed"));
  }

  function loadImage() {
    image = imageCanvas(getTensor(model, "image"));
  }

  // -- user actions --------------------------------------------------------------------
  for (const [name, box] of boxes) {
    w.listen(box, "change", () => {
      const shown = shownMethods().filter((m) => m !== name);
      if (box.checked) shown.push(name);
      w.set("methods", shown);
    });
  }
  w.listen(indexInput, "input", () => {
    indexOut.textContent = `#${indexInput.value} of ${model.get("dataset_size")}`;
  });

  function redrawAll() {
    layoutPanels();
    syncControls();
    drawPanels();
    describeHover();
    describeInput();
    sanity.draw();
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
  w.onCleanup(() => resized.disconnect());

  const redraw = () => {
    drawPanels();
    describeHover();
  };
  w.observe({
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
    "change:sanity": sanity.draw,
    "change:sanity_maps": () => {
      sanity.draw();
      redraw();
    },
    "change:sanity_state": () => {
      sanity.draw();
      syncControls();
    },
    "change:sanity_step": () => {
      sanity.draw();
      redraw();
    },
  });

  return w.cleanup;
}

export default { render };
