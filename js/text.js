// Front-end of nnwidgets.TextNeuronExplorer (anywidget ESM module).
// Every unit's activation after every character arrives once, as uint8 codes (`activations`,
// units x characters, value = (code - 128) / 127 * unit_limits[unit]); the unit slider, the
// arrow keys and the layer picker recolour the text from them with no kernel round trip.
// The text is laid out on a monospace grid and drawn on a canvas that only paints the rows in
// view, so recolouring costs the same for any length of text.
import "./text.css";
import { sizeCanvas } from "./lib/canvas.js";
import { createLegend } from "./lib/colormap.js";
import { fmt, focusable, h } from "./lib/dom.js";
import { createFinder } from "./text/finder.js";
import { charAtCell, layoutText } from "./lib/textgrid.js";
import { createWidget, lutOf } from "./lib/widget.js";
import { getTensor } from "./lib/wire.js";
/** @import { BaseModel, RenderProps, WireTensor } from "./lib/types.js" */

/**
 * The synced traits of nnwidgets.TextNeuronExplorer (nnwidgets/widgets/text.py).
 * @typedef {BaseModel & {
 *   text: string, layers: string[], layer_sizes: number[], symbols: string[],
 *   activations: WireTensor | null, unit_limits: WireTensor | null,
 *   unknown_mask: WireTensor | null, top_ids: WireTensor | null, top_probs: WireTensor | null,
 *   ranking: {pattern?: string, matched?: number, units?: {layer: string, unit: number, auc: number, sign: number}[]},
 *   ranking_mask: WireTensor | null, layer: string, unit: number,
 * }} TextModel
 */

const VIEW_HEIGHT = 420; // CSS pixels of the text panel at most
const LINE = 18; // CSS pixels per text row
const FONT_SIZE = 13;
const PAD = 6;
const LEGEND_WIDTH = 260;

/** How a vocabulary entry or character is shown in labels. */
function visible(symbol) {
  return { "\n": "↵", " ": "␣", "\t": "⇥", "": "?" }[symbol] ?? symbol;
}

/** @param {RenderProps<TextModel>} props */
function render({ model, el }) {
  const w = createWidget(model, el, { className: "nnw-text" });
  let hovered = -1;
  let drawn = 0;
  let layout = null;
  let advance = 8; // CSS pixels per column, measured from the font
  let font = `${FONT_SIZE}px monospace`;
  let lineStarts = [0];

  const layerSelect = w.select("layer", {
    options: "layers",
    className: "nnw-layer-select",
    label: "Layer",
    kernel: false, // answered here, from the activations already sent
    onChange: (name) => select(name, unit()),
  });
  // arrow keys on the slider change the unit, not the notebook cell (lib/dom.js keepKeys)
  const slider = h("input", { type: "range", min: "0", step: "1", class: "nnw-unit-slider", "aria-label": "Unit" });
  const unitOut = h("output", { class: "nnw-value nnw-unit-name" });
  const legend = createLegend();
  const canvas = h("canvas", { class: "nnw-canvas nnw-text-canvas", role: "img" });
  const spacer = h("div", { class: "nnw-text-spacer" }, canvas);
  const scroller = focusable(
    "div",
    {
      class: "nnw-text-scroll",
      "aria-label": "The text, coloured by the selected unit. Left and right arrow keys change the unit.",
    },
    spacer,
  );
  const readout = h("div", { class: "nnw-readout", "aria-live": "polite" });
  const finder = createFinder(w, { select: (layer, u) => select(layer, u), onUnderline: () => draw() });

  const root = w.mount(
    w.controls(["Layer", layerSelect], ["Unit", h("span", { class: "nnw-inline" }, slider, unitOut)], legend.el),
    scroller,
    readout,
    finder.el,
  );

  // -- reading the state -------------------------------------------------------------------
  const text = () => model.get("text");
  const layers = () => model.get("layers");
  const sizes = () => model.get("layer_sizes");
  const layerIndex = () => Math.max(0, layers().indexOf(model.get("layer")));
  const unit = () => model.get("unit");
  const globalUnit = () => sizes().slice(0, layerIndex()).reduce((a, b) => a + b, 0) + unit();
  let codes = null;
  let limits = null;
  let lut = null;
  let unknown = null;
  let topIds = null;
  let topProbs = null;
  let matches = null;
  const decode = () => {
    codes = getTensor(model, "activations");
    limits = getTensor(model, "unit_limits");
    lut = lutOf(model, "colormap");
    unknown = getTensor(model, "unknown_mask");
    topIds = getTensor(model, "top_ids");
    topProbs = getTensor(model, "top_probs");
  };
  const decodeMatches = () => {
    matches = getTensor(model, "ranking_mask");
  };
  const code = (g, i) => codes.data[g * codes.shape[1] + i];
  const valueAt = (g, i) => ((code(g, i) - 128) / 127) * limits.data[g];

  // -- layout ----------------------------------------------------------------------------------
  function relayout() {
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
    const family = getComputedStyle(root).getPropertyValue("--jp-code-font-family").trim() || "monospace";
    font = `${FONT_SIZE}px ${family}`;
    ctx.font = font;
    advance = ctx.measureText("M".repeat(50)).width / 50 || 8;
    const width = Math.max(scroller.clientWidth, 200);
    const columns = Math.max(20, Math.floor((width - 2 * PAD) / advance));
    layout = layoutText(text(), columns);
    lineStarts = [0];
    const t = text();
    for (let i = 0; i < t.length; i++) if (t[i] === "\n") lineStarts.push(i + 1);
    const total = layout.rows * LINE + 2 * PAD;
    spacer.style.height = `${total}px`;
    scroller.style.height = `${Math.min(VIEW_HEIGHT, total)}px`;
    draw();
  }

  // -- drawing: only the rows in view ------------------------------------------------------
  function draw() {
    if (!layout || !codes) return;
    const start = performance.now();
    const width = Math.max(scroller.clientWidth, 200);
    const height = Math.max(scroller.clientHeight, LINE);
    const ctx = sizeCanvas(canvas, width, height);
    const top = scroller.scrollTop;
    ctx.clearRect(0, 0, width, height);
    ctx.font = font;
    ctx.textBaseline = "middle";
    const g = globalUnit();
    const t = text();
    const first = Math.max(0, Math.floor((top - PAD) / LINE));
    const last = Math.min(layout.rows - 1, Math.floor((top + height - PAD) / LINE));
    const underline = finder.underline() && matches && matches.shape[0] === t.length;
    for (let r = first; r <= last; r++) {
      const y = PAD + r * LINE - top;
      for (let i = layout.rowStart[r]; i < layout.rowStart[r + 1]; i++) {
        const x0 = Math.round(PAD + layout.col[i] * advance);
        const x1 = Math.round(PAD + (layout.col[i] + layout.span[i]) * advance);
        const k = code(g, i) * 3;
        const red = lut[k];
        const green = lut[k + 1];
        const blue = lut[k + 2];
        ctx.fillStyle = `rgb(${red},${green},${blue})`;
        ctx.fillRect(x0, y, x1 - x0, LINE);
        const dark = 0.299 * red + 0.587 * green + 0.114 * blue < 140;
        const ch = t[i];
        if (ch === "\n" || ch === "\t") {
          ctx.fillStyle = dark ? "rgba(255,255,255,0.6)" : "rgba(0,0,0,0.35)";
          ctx.fillText(visible(ch), x0 + 1, y + LINE / 2);
        } else if (ch !== " ") {
          ctx.fillStyle = dark ? "#ffffff" : "#111111";
          ctx.fillText(ch, x0, y + LINE / 2);
        }
        if (unknown && unknown.data[i]) {
          ctx.strokeStyle = dark ? "#ffffff" : "#a3161b";
          ctx.setLineDash([2, 2]);
          ctx.strokeRect(x0 + 0.5, y + 1.5, x1 - x0 - 1, LINE - 3);
          ctx.setLineDash([]);
        }
        if (underline && matches.data[i]) {
          ctx.fillStyle = dark ? "#ffd84d" : "#1b4f8a";
          ctx.fillRect(x0, y + LINE - 2, x1 - x0, 2);
        }
      }
    }
    if (hovered >= 0 && hovered < t.length && layout.row[hovered] >= first && layout.row[hovered] <= last) {
      const x0 = Math.round(PAD + layout.col[hovered] * advance);
      const x1 = Math.round(PAD + (layout.col[hovered] + layout.span[hovered]) * advance);
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#f2a900";
      ctx.strokeRect(x0 - 1, PAD + layout.row[hovered] * LINE - top - 1, x1 - x0 + 2, LINE + 2);
    }
    drawn += 1;
    root.dataset.drawn = String(drawn);
    root.dataset.unit = String(unit());
    root.dataset.layer = model.get("layer");
    root.dataset.drawMs = (performance.now() - start).toFixed(2);
    canvas.setAttribute("aria-label", `The text coloured by ${model.get("layer")}, unit ${unit()}`);
  }

  const drawSoon = w.frame(draw);

  // -- the selected unit -------------------------------------------------------------------
  function syncControls() {
    const size = sizes()[layerIndex()] ?? 1;
    slider.max = String(size - 1);
    slider.value = String(unit());
    unitOut.textContent = `${unit()} of ${size}`;
    if (limits) {
      const limit = limits.data[globalUnit()];
      legend.update(
        lut,
        limit,
        `${model.get("layer")}, unit ${unit()}: activation after each character. ±${fmt(limit)} is this unit's largest |value| on the text (stored in 8 bits, steps of ${fmt(limit / 127)}).`,
        LEGEND_WIDTH,
      );
    }
  }

  function select(layerName, u) {
    const index = layers().indexOf(layerName);
    if (index < 0) return;
    const next = Math.min(Math.max(0, u), sizes()[index] - 1);
    if (layerName === model.get("layer") && next === unit()) return;
    model.set("layer", layerName);
    w.set("unit", next); // one sync message carries both
    // drawn at once from the state, not after the kernel's echo
    syncControls();
    draw();
    updateReadout();
    finder.update();
  }

  w.listen(slider, "input", () => select(model.get("layer"), Number(slider.value)));
  w.listen(scroller, "keydown", (event) => {
    const moves = { ArrowLeft: -1, ArrowRight: 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    event.stopPropagation();
    select(model.get("layer"), unit() + moves[event.key]);
  });
  w.listen(scroller, "scroll", () => drawSoon());

  // -- hover: the value and the model's next-character predictions ----------------------------
  function charAt(event) {
    if (!layout) return -1;
    const rect = canvas.getBoundingClientRect();
    const x = event.clientX - rect.left - PAD;
    const y = event.clientY - rect.top + scroller.scrollTop - PAD;
    const r = Math.floor(y / LINE);
    if (x < 0) return -1;
    return charAtCell(layout, r, Math.floor(x / advance));
  }

  function updateReadout() {
    const t = text();
    if (hovered < 0 || hovered >= t.length || !topIds) {
      readout.replaceChildren(
        h("span", { class: "nnw-hint" }, "Hover a character: its activation, and the model's likeliest next characters there."),
      );
      root.dataset.hovered = "-1";
      return;
    }
    const i = hovered;
    const g = globalUnit();
    const line = layout.line[i];
    const column = i - lineStarts[line];
    const k = topIds.shape[1];
    const symbols = model.get("symbols");
    const actual = t[i + 1];
    const items = [];
    for (let j = 0; j < k; j++) {
      const symbol = symbols[topIds.data[i * k + j]] ?? "?";
      const p = topProbs.data[i * k + j] / 255;
      items.push(
        h(
          "span",
          { class: `nnw-next-item${symbol === actual ? " nnw-next-actual" : ""}`, title: symbol === actual ? "the character that follows in the text" : "" },
          h("code", { class: "nnw-next-char" }, visible(symbol)),
          h("span", { class: "nnw-next-bar", style: `width:${Math.max(1, Math.round(p * 48))}px` }),
          h("span", { class: "nnw-next-p" }, `${Math.round(p * 100)}%`),
        ),
      );
    }
    const unknownNote = unknown && unknown.data[i] ? h("span", { class: "nnw-unknown-note" }, " not in the vocabulary: read as unknown") : null;
    readout.replaceChildren(
      h(
        "div",
        { class: "nnw-readout-line" },
        h("code", { class: "nnw-readout-char" }, visible(t[i])),
        unknownNote,
        ` line ${line + 1}, column ${column + 1} · ${model.get("layer")} unit ${unit()} `,
        h("b", { class: "nnw-readout-value" }, `≈ ${valueAt(g, i) >= 0 ? "+" : ""}${fmt(valueAt(g, i))}`),
      ),
      h("div", { class: "nnw-next" }, h("span", { class: "nnw-next-title" }, "next character:"), ...items),
    );
    root.dataset.hovered = String(i);
  }

  w.hover(canvas, charAt, (i) => {
    if (i === hovered) return;
    hovered = i;
    updateReadout();
    drawSoon();
  }, -1);

  // -- kernel updates --------------------------------------------------------------------------
  const redrawAll = () => {
    decode();
    syncControls();
    relayout();
    updateReadout();
  };
  const selectionChanged = () => {
    syncControls();
    draw();
    updateReadout();
    finder.update();
  };
  w.observe({
    "change:text": redrawAll,
    "change:activations": redrawAll,
    "change:unit_limits": redrawAll,
    "change:top_ids": redrawAll,
    "change:layers": redrawAll,
    "change:layer": selectionChanged,
    "change:unit": selectionChanged,
    "change:ranking_mask": () => {
      decodeMatches();
      draw();
    },
  });
  const resize = new ResizeObserver(() => relayout());
  resize.observe(scroller);
  w.onCleanup(() => resize.disconnect());

  decode();
  decodeMatches();
  syncControls();
  relayout();
  updateReadout();
  return w.cleanup;
}

export default { render };
