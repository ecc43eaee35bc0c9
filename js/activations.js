// Front-end of nnwidgets.ActivationExplorer (anywidget ESM module).
// The kernel sends the chosen layer's channels as uint8 tiles (one binary buffer, see
// nnwidgets/widgets/activation.py); the grid, the enlarged map over the input and the
// ranking's highlights are drawn here; the drawing pad (activations/pad.js) sends what is drawn.
import "./activations.css";
import { drawScaled, sizeCanvas } from "./lib/canvas.js";
import { createLegend } from "./lib/colormap.js";
import { fmt, focusable, h, labelled } from "./lib/dom.js";
import { pixelAt } from "./lib/pointer.js";
import { createPad } from "./activations/pad.js";
import { gridLayout, tileAt as tileIndexAt, tileAtlas } from "./lib/tiles.js";
import { createWidget, imageCanvas, lutOf, overlayCanvas } from "./lib/widget.js";
import { getTensor } from "./lib/wire.js";
/** @import { BaseModel, RenderProps, Tensor, WireTensor } from "./lib/types.js" */

/**
 * One row of the layer table (nnwidgets/widgets/activation.py `layer_stats`).
 * @typedef {{name: string, channels: number, size: number[], zero_fraction: number, mean: number, max: number}} LayerStats
 */

/**
 * The synced traits of nnwidgets.ActivationExplorer (nnwidgets/widgets/activation.py).
 * @typedef {BaseModel & {
 *   layers: string[], image: WireTensor | null, image_size: number[], source: string,
 *   tiles: WireTensor | null, tile_low: WireTensor | null, tile_high: WireTensor | null,
 *   layer_stats: LayerStats[], labels: string[], probabilities: WireTensor | null,
 *   ranking: {row: number, col: number, cell: number[], channels: number[], values: number[]} | {row?: undefined, channels?: undefined},
 *   dataset_size: number, drawable: boolean, computed: number, layer: string, scaling: string,
 *   scalings: Record<string, string>, index: number, channel: number,
 *   drawing: WireTensor | null,
 * }} ActivationModel
 */

const VIEW_SIDE = 240; // CSS pixels of the input's longer side
const GRID_WIDTH = 420; // CSS pixels the tile grid aims at
const GAP = 2; // CSS pixels between tiles
const RANKED = 5; // channels highlighted after a click on the input
const TOP = 5; // classes in the prediction

/** @param {RenderProps<ActivationModel>} props */
function render({ model, el }) {
  const w = createWidget(model, el, { className: "nnw-activations", heading: true });
  const heading = /** @type {HTMLElement} */ (w.heading);
  /** @type {HTMLCanvasElement | null} */
  let image = null; // offscreen canvas of the input
  /** @type {HTMLCanvasElement | null} */
  let atlas = null; // offscreen canvas: every tile side by side, at native resolution
  /** @type {Tensor | null} */
  let tiles = null;
  let hovered = -1;
  let drawn = 0;
  let sent = 0;

  const view = h("canvas", {
    class: "nnw-canvas nnw-act-input",
    role: "img",
    "aria-label": "The input. Click a position to rank the channels by their activation there.",
  });
  const pad = createPad(w, () => model.get("image_size"), (drawing) => {
    sent += 1;
    root.dataset.sent = String(sent);
    w.set("drawing", drawing);
  });
  const padBox = pad.el;
  const indexInput = w.kernelOnly(h("input", { type: "range", min: "0", step: "1", class: "nnw-act-index" }));
  const indexOut = h("output", { class: "nnw-value" });
  const indexBox = labelled("Dataset image", h("span", { class: "nnw-inline" }, indexInput, indexOut));
  // arrow keys move through the tiles, not the notebook's cells
  const grid = focusable("canvas", { class: "nnw-canvas nnw-act-grid", role: "img", "aria-label": "Every channel of the layer. Hover a tile to enlarge it over the input; click to pin it. Arrow keys move through the tiles, Enter pins, Escape leaves." });
  const legend = createLegend();
  const readout = h("div", { class: "nnw-act-readout", "aria-live": "polite" });
  const ranking = h("div", { class: "nnw-act-ranking" });
  const prediction = h("div", { class: "nnw-act-prediction" });
  const stats = h("div", { class: "nnw-act-stats", role: "table" });

  const root = w.mount(
    w.controls(
      ["Layer", w.select("layer", { options: "layers", className: "nnw-layer-select" })],
      ["Colour scale", w.select("scaling", { options: "scalings", className: "nnw-scaling-select" })],
      indexBox,
    ),
    h(
      "div",
      { class: "nnw-main" },
      h("div", { class: "nnw-act-left" }, view, padBox, prediction),
      h("div", { class: "nnw-act-right" }, grid, legend.el, readout, ranking),
    ),
    stats,
  );

  const inputSize = () => /** @type {number[]} */ (model.get("image_size"));
  const lut = () => lutOf(model, "colormap_sequential");
  const channelCount = () => (tiles ? tiles.shape[0] : 0);
  const pinned = () => /** @type {number} */ (model.get("channel"));
  const shown = () => (hovered >= 0 ? hovered : pinned());

  // -- state from the kernel -----------------------------------------------------------
  function loadImage() {
    const img = getTensor(model, "image");
    image = imageCanvas(img);
  }

  function loadTiles() {
    tiles = getTensor(model, "tiles");
    if (!tiles) {
      atlas = null;
      return;
    }
    const [count, height, width] = tiles.shape;
    atlas = tileAtlas(tiles.data, count, height, width, 1, lut());
    if (hovered >= count) hovered = -1;
  }

  // -- drawing -------------------------------------------------------------------------
  function viewSize() {
    const [height, width] = inputSize();
    const scale = VIEW_SIDE / Math.max(height, width);
    return [Math.round(width * scale), Math.round(height * scale)];
  }

  function drawView() {
    const [cw, ch] = viewSize();
    const ctx = sizeCanvas(view, cw, ch);
    ctx.clearRect(0, 0, cw, ch);
    if (image) drawScaled(ctx, image, 0, 0, cw, ch);
    const channel = shown();
    if (tiles && channel >= 0 && channel < channelCount()) {
      const [, height, width] = tiles.shape;
      const size = height * width;
      const codes = tiles.data.subarray(channel * size, (channel + 1) * size);
      const values = Float32Array.from(codes, (v) => v / 255);
      drawScaled(ctx, overlayCanvas({ data: values, shape: [height, width] }, 1, lut(), 0.85, 1), 0, 0, cw, ch);
    }
    const rank = model.get("ranking");
    if (rank.row !== undefined) {
      const [height, width] = inputSize();
      const x = ((rank.col + 0.5) * cw) / width;
      const y = ((rank.row + 0.5) * ch) / height;
      for (const [colour, line] of [["rgba(0,0,0,0.9)", 3], ["#fff", 1.5]]) {
        ctx.strokeStyle = /** @type {string} */ (colour);
        ctx.lineWidth = /** @type {number} */ (line);
        ctx.beginPath();
        ctx.arc(x, y, 6, 0, 2 * Math.PI);
        ctx.stroke();
      }
    }
    root.dataset.shown = String(channel);
  }

  function drawGrid() {
    const count = channelCount();
    const { cols, side } = gridLayout(count, GRID_WIDTH, GAP);
    const rows = Math.ceil(count / cols);
    const width = cols * (side + GAP) - GAP;
    const height = Math.max(1, rows * (side + GAP) - GAP);
    const ctx = sizeCanvas(grid, width, height);
    ctx.clearRect(0, 0, width, height);
    grid.dataset.cols = String(cols);
    grid.dataset.side = String(side + GAP); // CSS pixels from one tile to the next
    if (!tiles || !atlas) return;
    const [, th, tw] = tiles.shape;
    ctx.imageSmoothingEnabled = side / tw < 4;
    const rank = model.get("ranking");
    const top = rank.channels ? rank.channels.slice(0, RANKED) : [];
    for (let c = 0; c < count; c++) {
      const x = (c % cols) * (side + GAP);
      const y = Math.floor(c / cols) * (side + GAP);
      ctx.drawImage(atlas, c * tw, 0, tw, th, x, y, side, side);
      const place = top.indexOf(c);
      const frame = c === pinned() ? "#e8a317" : place >= 0 ? "#1b4f8a" : c === hovered ? "#fff" : null;
      if (frame) {
        ctx.lineWidth = 2;
        ctx.strokeStyle = frame;
        ctx.strokeRect(x + 1, y + 1, side - 2, side - 2);
      }
      if (place >= 0) {
        ctx.fillStyle = "#1b4f8a";
        ctx.fillRect(x, y, 13, 13);
        ctx.fillStyle = "#fff";
        ctx.font = "10px sans-serif";
        ctx.fillText(String(place + 1), x + 3, y + 10);
      }
    }
    drawn += 1;
    root.dataset.drawn = String(drawn);
    root.dataset.ranked = top.join(",");
  }

  // -- text ------------------------------------------------------------------------------
  function describeLayer() {
    const layer = model.get("layer");
    const low = getTensor(model, "tile_low");
    const high = getTensor(model, "tile_high");
    const count = channelCount();
    const perChannel = model.get("scaling") === "channel";
    const widthPx = Math.min(GRID_WIDTH, 320);
    if (perChannel || !low || !high) {
      legend.update(lut(), 1, `${layer}: activation, each channel scaled on its own`, widthPx, {
        sign: 1,
        ticks: ["its min", "", "its max"],
        detail: "Per-channel scaling: tiles cannot be compared by brightness; hover one for its range.",
      });
    } else {
      legend.update(lut(), 1, `${layer}: activation, one scale for all ${count} channels`, widthPx, {
        sign: 1,
        range: [low.data[0], high.data[0]],
      });
    }
    const channel = shown();
    if (channel >= 0 && channel < count && low && high) {
      const state = channel === pinned() && hovered < 0 ? " (pinned; click it again to unpin)" : "";
      readout.textContent = `Channel ${channel}${state}: from ${fmt(low.data[channel])} (dark) to ${fmt(high.data[channel])} (bright)`;
    } else {
      readout.textContent = "Hover a tile to see it over the input; click to pin it.";
    }
    const rank = model.get("ranking");
    if (rank.channels) {
      ranking.replaceChildren(
        h("span", { class: "nnw-control-label" }, `Strongest at row ${rank.row}, column ${rank.col}`),
        ...rank.channels.slice(0, RANKED).map((/** @type {number} */ c, /** @type {number} */ i) =>
          h("span", { class: "nnw-act-rank-item" }, `${i + 1}. channel ${c}: ${fmt(rank.values[i])}`),
        ),
      );
    } else {
      ranking.replaceChildren(h("span", { class: "nnw-hint" }, "Click the input to rank the channels there."));
    }
  }

  function describeInput() {
    const probs = getTensor(model, "probabilities");
    const labels = model.get("labels");
    if (!probs) return;
    const order = Array.from(probs.data.keys()).sort((a, b) => probs.data[b] - probs.data[a]);
    const best = order[0];
    heading.replaceChildren("Predicted ", h("b", {}, labels[best]), ` (${(100 * probs.data[best]).toFixed(1)}%) for ${model.get("source")}`);
    root.dataset.predicted = labels[best];
    prediction.replaceChildren(
      h("span", { class: "nnw-control-label" }, "Prediction"),
      ...order.slice(0, TOP).map((k) =>
        h(
          "div",
          { class: "nnw-act-class" },
          h("span", { class: "nnw-act-class-label" }, labels[k]),
          h("span", { class: "nnw-bar-track" }, h("span", { class: "nnw-bar nnw-bar-after", style: `width:${(100 * probs.data[k]).toFixed(1)}%` })),
          h("span", { class: "nnw-bar-value" }, probs.data[k].toFixed(2)),
        ),
      ),
    );
    const current = model.get("layer");
    stats.replaceChildren(
      h(
        "div",
        { class: "nnw-act-stat nnw-act-stat-head", role: "row" },
        ...["layer", "channels × size", "zeros", "", "mean", "max"].map((t) => h("span", { role: "columnheader" }, t)),
      ),
      ...model.get("layer_stats").map((/** @type {any} */ s) => {
        const row = h(
          "button",
          { class: `nnw-act-stat${s.name === current ? " nnw-current" : ""}`, role: "row", "data-layer": s.name, title: `Show ${s.name}` },
          h("span", {}, s.name),
          h("span", {}, `${s.channels} × ${s.size.join("×")}`),
          h("span", { class: "nnw-bar-track" }, h("span", { class: "nnw-bar nnw-bar-after", style: `width:${(100 * s.zero_fraction).toFixed(1)}%` })),
          h("span", {}, `${(100 * s.zero_fraction).toFixed(0)}%`),
          h("span", {}, fmt(s.mean)),
          h("span", {}, fmt(s.max)),
        );
        row.addEventListener("click", () => {
          if (!w.isStatic) w.set("layer", s.name);
        });
        return row;
      }),
    );
  }

  function syncControls() {
    const size = model.get("dataset_size");
    indexBox.hidden = size === 0;
    indexInput.max = String(Math.max(0, size - 1));
    indexInput.value = String(model.get("index"));
    indexOut.textContent = `#${model.get("index")} of ${size}`;
    padBox.hidden = !model.get("drawable");
    root.dataset.layer = model.get("layer");
    root.dataset.computed = String(model.get("computed"));
  }

  // -- the grid: hover and pin ----------------------------------------------------------
  /** @param {PointerEvent} event */
  function tileAt(event) {
    const count = channelCount();
    const { cols, side } = gridLayout(count, GRID_WIDTH, GAP);
    return tileIndexAt(grid.getBoundingClientRect(), event.clientX, event.clientY, count, cols, side + GAP);
  }

  function setHovered(/** @type {number} */ index) {
    if (index === hovered) return;
    hovered = index;
    drawGrid();
    drawView();
    describeLayer();
  }

  w.hover(grid, tileAt, setHovered, -1);
  function togglePin(/** @type {number} */ index) {
    hovered = -1;
    w.set("channel", index === pinned() ? -1 : index);
    drawGrid();
    drawView();
    describeLayer();
  }

  w.listen(grid, "click", (event) => {
    const index = tileAt(event);
    if (index >= 0) togglePin(index);
  });
  w.listen(grid, "keydown", (event) => {
    const count = channelCount();
    const { cols } = gridLayout(count, GRID_WIDTH, GAP);
    const at = shown() >= 0 ? shown() : 0;
    const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -cols, ArrowDown: cols };
    if (event.key in moves) {
      setHovered(Math.min(count - 1, Math.max(0, at + moves[/** @type {keyof moves} */ (event.key)])));
    } else if (event.key === "Enter" || event.key === " ") {
      togglePin(at);
    } else if (event.key === "Escape") {
      setHovered(-1);
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  });

  // -- the input: rank the channels at a position --------------------------------------
  w.listen(view, "click", (event) => {
    const [height, width] = inputSize();
    const { row, col, inside } = pixelAt(view.getBoundingClientRect(), event.clientX, event.clientY, width, height);
    if (inside) w.send({ type: "rank", row, col });
  });

  // -- controls --------------------------------------------------------------------------
  // a message, not a trait write: moving back to the current index after drawing shows it again
  w.listen(indexInput, "input", () => w.send({ type: "show_example", index: Number(indexInput.value) }));

  function redrawAll() {
    syncControls();
    drawView();
    drawGrid();
    describeLayer();
    describeInput();
  }

  loadImage();
  loadTiles();
  redrawAll();
  pad.show(getTensor(model, "drawing"));

  w.observe({
    "change:drawing": () => pad.show(getTensor(model, "drawing")),
    "change:image": () => {
      loadImage();
      drawView();
    },
    "change:tiles": () => {
      loadTiles();
      drawGrid();
      drawView();
      describeLayer();
    },
    "change:tile_low": describeLayer,
    "change:channel": () => {
      drawGrid();
      drawView();
      describeLayer();
    },
    "change:ranking": () => {
      drawGrid();
      drawView();
      describeLayer();
    },
    "change:probabilities": describeInput,
    "change:layer_stats": describeInput,
    "change:layer": redrawAll,
    "change:scaling": redrawAll,
    "change:index": syncControls,
    "change:computed": syncControls,
  });

  return w.cleanup;
}

export default { render };
