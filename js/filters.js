// Front-end of nnwidgets.FilterExplorer (anywidget ESM module).
// The kernel sends a Conv2d's filters as uint8 tiles in one of four views (see
// nnwidgets/compute/filters.py); they are drawn here, and hovering a tile reads its weights
// (exact when the kernel sent the float values, else decoded from the 8-bit codes).
import "./filters.css";
import { sizeCanvas } from "./lib/canvas.js";
import { createLegend } from "./lib/colormap.js";
import { fmt, h } from "./lib/dom.js";
import { gridLayout, tileAt, tileAtlas } from "./lib/tiles.js";
import { createWidget } from "./lib/widget.js";
import { getTensor } from "./lib/wire.js";
/** @import { BaseModel, RenderProps, Tensor, WireTensor } from "./lib/types.js" */

/**
 * The synced traits of nnwidgets.FilterExplorer (nnwidgets/widgets/filters.py).
 * @typedef {BaseModel & {
 *   layers: string[], views: string[], view_names: Record<string, string>,
 *   tiles: WireTensor | null, values: WireTensor | null, low: WireTensor | null,
 *   high: WireTensor | null, description: string, layer: string, view: string,
 *   scaling: string, scalings: Record<string, string>,
 * }} FilterModel
 */

const GRID_WIDTH = 480; // CSS pixels the grid aims at
const GAP = 2; // CSS pixels between tiles
const MAX_TABLE = 49; // largest kernel whose weights the readout lists one by one
const GREY = Uint8Array.from({ length: 256 * 3 }, (_, i) => Math.floor(i / 3));
/**
 * How a view's tiles are laid out: `count` tiles of `th` x `tw` codes with `channels`
 * colours each, in `cols` columns of `w` x `h` CSS pixels.
 * @param {string} view
 * @param {number[]} shape
 */
function layoutOf(view, shape) {
  if (view === "norm") {
    const [out, inputs] = shape;
    const cell = Math.max(4, Math.min(24, Math.floor(GRID_WIDTH / inputs)));
    return { count: 1, th: out, tw: inputs, channels: /** @type {1 | 3} */ (1), cols: 1, w: inputs * cell, h: out * cell, inputs };
  }
  const [out, a, b, c] = shape;
  const rgb = view === "rgb";
  const sliced = view === "channels" && a > 1;
  const count = sliced ? out * a : out;
  const [th, tw] = view === "rgb" || view === "spatial_norm" ? [a, b] : [b, c];
  let { cols, side } = gridLayout(count, GRID_WIDTH, GAP);
  if (sliced) {
    cols = a;
    side = Math.max(6, Math.min(56, Math.floor((GRID_WIDTH + GAP) / a) - GAP));
  }
  return { count, th, tw, channels: /** @type {1 | 3} */ (rgb ? 3 : 1), cols, w: side, h: side, inputs: sliced ? a : 1 };
}

/** @param {RenderProps<FilterModel>} props */
function render({ model, el }) {
  const w = createWidget(model, el, { className: "nnw-filters" });
  /** @type {HTMLCanvasElement | null} */
  let atlas = null;
  /** @type {Tensor | null} */
  let tiles = null;
  let layout = layoutOf("spatial_norm", [0, 1, 1]);
  let hovered = -1; // tile index (for the norm view: a cell of the matrix)
  let drawn = 0;

  const grid = h("canvas", { class: "nnw-canvas nnw-filter-grid", role: "img", "aria-label": "The layer's filters. Hover a tile to read its weights." });
  const legend = createLegend();
  const readout = h("div", { class: "nnw-filter-readout", "aria-live": "polite" });
  const axes = h("div", { class: "nnw-filter-axes" });
  const root = w.mount(
    w.controls(
      ["Layer", w.select("layer", { options: "layers", className: "nnw-layer-select" })],
      [
        "View",
        w.select("view", {
          options: () => model.get("views").map((v) => /** @type {[string, string]} */ ([v, model.get("view_names")[v] || v])),
          watch: ["views", "view_names"],
          className: "nnw-view-select",
        }),
      ],
      ["Scale", w.select("scaling", { options: "scalings", className: "nnw-scaling-select" })],
    ),
    axes,
    h("div", { class: "nnw-filter-scroll" }, grid),
    legend.el,
    readout,
  );

  const view = () => /** @type {string} */ (model.get("view"));

  function load() {
    tiles = getTensor(model, "tiles");
    if (!tiles) return;
    layout = layoutOf(view(), tiles.shape);
    atlas = tileAtlas(tiles.data, layout.count, layout.th, layout.tw, layout.channels, GREY);
    hovered = -1;
    const [out] = tiles.shape;
    const across = view() === "norm" || layout.inputs > 1;
    axes.textContent = across
      ? `${out} filters, one per row; their input channels across (${view() === "norm" ? tiles.shape[1] : layout.inputs})`
      : `${out} filters, ${layout.th}×${layout.tw}`;
  }

  function draw() {
    const { count, cols, w, h: th, tw, th: rows } = layout;
    const pitchX = w + (count > 1 ? GAP : 0);
    const pitchY = th + (count > 1 ? GAP : 0);
    const width = Math.max(1, cols * pitchX - (count > 1 ? GAP : 0));
    const height = Math.max(1, Math.ceil(count / cols) * pitchY - (count > 1 ? GAP : 0));
    const ctx = sizeCanvas(grid, width, height);
    ctx.clearRect(0, 0, width, height);
    grid.dataset.cols = String(cols);
    grid.dataset.pitch = String(pitchX);
    if (!atlas) return;
    ctx.imageSmoothingEnabled = false;
    for (let i = 0; i < count; i++) {
      const x = (i % cols) * pitchX;
      const y = Math.floor(i / cols) * pitchY;
      ctx.drawImage(atlas, i * tw, 0, tw, rows, x, y, w, th);
    }
    if (hovered >= 0) {
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#e8a317";
      if (view() === "norm") {
        const cell = w / tw;
        ctx.strokeRect((hovered % tw) * cell + 1, Math.floor(hovered / tw) * cell + 1, cell - 2, cell - 2);
      } else {
        ctx.strokeRect((hovered % cols) * pitchX + 1, Math.floor(hovered / cols) * pitchY + 1, w - 2, th - 2);
      }
    }
    drawn += 1;
    root.dataset.drawn = String(drawn);
    root.dataset.view = view();
    root.dataset.layer = model.get("layer");
  }

  /** The filter, input channel and values (kh*kw, or one) of tile/cell `index`. */
  function valuesAt(/** @type {number} */ index) {
    const t = /** @type {Tensor} */ (tiles);
    const exact = getTensor(model, "values");
    const low = /** @type {Tensor} */ (getTensor(model, "low")).data;
    const high = /** @type {Tensor} */ (getTensor(model, "high")).data;
    const size = view() === "norm" ? 1 : layout.th * layout.tw * layout.channels;
    const filter = view() === "norm" ? Math.floor(index / layout.tw) : Math.floor(index / layout.inputs);
    const channel = view() === "norm" ? index % layout.tw : layout.inputs > 1 ? index % layout.inputs : -1;
    const start = index * size;
    const values = Array.from({ length: size }, (_, k) =>
      exact ? exact.data[start + k] : low[filter] + (t.data[start + k] / 255) * (high[filter] - low[filter]),
    );
    return { filter, channel, values, exact: exact !== null };
  }

  function describe() {
    const low = getTensor(model, "low");
    const high = getTensor(model, "high");
    if (!low || !high) return;
    const symmetric = view() === "rgb" || view() === "channels";
    const perFilter = model.get("scaling") === "filter";
    const options = perFilter
      ? { sign: symmetric ? 0 : 1, ticks: symmetric ? ["−m", "0", "+m"] : ["0", "", "m"], detail: "m is each filter's own largest |value|: tiles cannot be compared by brightness." }
      : { sign: symmetric ? 0 : 1, range: /** @type {[number, number]} */ ([0, high.data[0]]) };
    legend.update(GREY, high.data[0], model.get("description"), 320, options);
    if (hovered < 0 || !tiles) {
      readout.textContent = "Hover a tile to read its weights.";
      root.dataset.hovered = "";
      return;
    }
    const { filter, channel, values, exact } = valuesAt(hovered);
    const approx = exact ? "" : "≈";
    const where = `Filter ${filter}${channel >= 0 ? `, input channel ${channel}` : ""}`;
    root.dataset.hovered = `${filter},${channel}`;
    if (values.length === 1) {
      readout.replaceChildren(`${where}: norm ${approx}${fmt(values[0])}`);
      return;
    }
    const { th: rows, tw: cols, channels } = layout;
    const tables = [];
    if (rows * cols <= MAX_TABLE) {
      for (let k = 0; k < channels; k++) {
        const cells = [];
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) cells.push(h("span", {}, `${approx}${fmt(values[(r * cols + c) * channels + k], 2)}`));
        }
        tables.push(h("div", { class: "nnw-filter-table", style: `grid-template-columns: repeat(${cols}, auto)`, title: channels === 3 ? "RGB"[k] : "" }, ...cells));
      }
    }
    const range = `from ${fmt(Math.min(...values))} to ${fmt(Math.max(...values))}`;
    readout.replaceChildren(h("div", {}, `${where}: ${range}${channels === 3 ? " (red, green, blue)" : ""}`), h("div", { class: "nnw-filter-tables" }, ...tables));
  }

  /** The tile (or, in the norm view, the matrix cell) under the pointer; -1 for none. */
  function indexAt(/** @type {PointerEvent} */ event) {
    if (view() !== "norm") return tileAt(grid.getBoundingClientRect(), event.clientX, event.clientY, layout.count, layout.cols, layout.w + GAP);
    const rect = grid.getBoundingClientRect();
    const cell = layout.w / layout.tw;
    const col = Math.floor((event.clientX - rect.left) / cell);
    const row = Math.floor((event.clientY - rect.top) / cell);
    return col >= 0 && col < layout.tw && row >= 0 && row < layout.th ? row * layout.tw + col : -1;
  }

  w.hover(
    grid,
    indexAt,
    (index) => {
      if (index === hovered) return;
      hovered = index;
      draw();
      describe();
    },
    -1,
  );

  function refresh() {
    load();
    draw();
    describe();
  }
  refresh();
  w.observe({ "change:tiles": refresh, "change:description": describe });
  return w.cleanup;
}

export default { render };
