// Colour maps (lookup tables sent by the kernel, see nnwidgets/colormaps.py) and legends.
import { sizeCanvas } from "./canvas.js";
import { fmt, h } from "./dom.js";

/**
 * RGBA pixels colouring `values`. With `sign` 0 the scale is symmetric, [-limit, limit] on a
 * diverging `lut`; with `sign` 1 (or -1) it is one-sided, [0, limit] (or [-limit, 0]) on a
 * sequential `lut`, |value| / limit from its first colour to its last. The alpha grows with
 * |value| (opacity * sqrt(|v| / limit)), so values near zero leave the image visible; NaN is
 * transparent. nnwidgets/colormaps.py `overlay` computes the same blend in Python.
 * @param {ArrayLike<number>} values
 * @param {number} limit
 * @param {ArrayLike<number>} lut 256*3 RGB
 * @param {number} opacity 0..1
 * @param {number} [sign] 0: two-sided; 1 or -1: one-sided, the sign every value has
 * @returns {Uint8ClampedArray<ArrayBuffer>} RGBA
 */
export function colorize(values, limit, lut, opacity, sign = 0) {
  const out = new Uint8ClampedArray(values.length * 4);
  const scale = limit > 0 ? 1 / limit : 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) continue;
    let t;
    let k;
    if (sign === 0) {
      t = Math.min(1, Math.max(-1, v * scale));
      k = Math.round(127.5 + 127.5 * t) * 3;
    } else {
      t = Math.min(1, Math.max(0, v * sign * scale));
      k = Math.round(255 * t) * 3;
    }
    out[4 * i] = lut[k];
    out[4 * i + 1] = lut[k + 1];
    out[4 * i + 2] = lut[k + 2];
    out[4 * i + 3] = Math.round(255 * opacity * Math.sqrt(Math.abs(t)));
  }
  return out;
}

/**
 * @typedef {object} LegendOptions
 * @property {number} [sign] 0: ticks at -limit, 0, +limit; 1: 0 to +limit; -1: 0 to -limit
 * @property {string} [detail] a line under the caption (e.g. the largest value)
 * @property {string} [note] a highlighted line under that (e.g. "negligible", "partial")
 * @property {[number, number]} [range] with `sign` 1: the values at the bar's two ends, when
 *   the scale does not start at 0 (e.g. a layer's minimum to its maximum)
 * @property {string[]} [ticks] three tick labels that replace the numbers (e.g. "min", "max")
 */

/**
 * A legend element: gradient bar with ticks, a units caption and optional detail and note
 * lines. `update(lut, limit, units, widthPx, options)` redraws it.
 * @returns {{el: HTMLElement, update: (lut: ArrayLike<number>, limit: number, units: string, widthPx: number, options?: LegendOptions) => void}}
 */
export function createLegend() {
  const bar = h("canvas", { class: "nnw-legend-bar", "aria-hidden": "true" });
  const ticks = h("div", { class: "nnw-legend-ticks" });
  const caption = h("div", { class: "nnw-legend-caption" });
  const detail = h("div", { class: "nnw-legend-detail" });
  const note = h("div", { class: "nnw-legend-note", role: "status" });
  const el = h("div", { class: "nnw-legend", role: "img" }, bar, ticks, caption, detail, note);
  return {
    el,
    update(lut, limit, units, widthPx, options = {}) {
      const sign = options.sign || 0;
      const height = 12;
      const ctx = sizeCanvas(bar, widthPx, height);
      for (let x = 0; x < widthPx; x++) {
        const k = Math.round((x / Math.max(widthPx - 1, 1)) * 255) * 3;
        ctx.fillStyle = `rgb(${lut[k]},${lut[k + 1]},${lut[k + 2]})`;
        ctx.fillRect(x, 0, 1, height);
      }
      const signed = (/** @type {number} */ value) => (value > 0 ? `+${fmt(value)}` : fmt(value));
      const [low, high] = options.range || [0, sign * limit];
      const stops = sign === 0 ? [-limit, 0, limit] : [low, (low + high) / 2, high];
      const labels = options.ticks || stops.map((value) => (value === 0 ? "0" : signed(value)));
      ticks.replaceChildren(...labels.map((label) => h("span", {}, label)));
      caption.textContent = units;
      detail.textContent = options.detail || "";
      detail.hidden = !options.detail;
      note.textContent = options.note || "";
      note.hidden = !options.note;
      const range = `colour scale from ${labels[0]} to ${labels[2]}`;
      el.setAttribute("aria-label", [`${range}: ${units}`, options.detail, options.note].filter(Boolean).join(". "));
    },
  };
}
