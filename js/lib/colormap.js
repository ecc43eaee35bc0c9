// Colour maps (lookup tables sent by the kernel, see nnwidgets/colormaps.py) and legends.
import { sizeCanvas } from "./canvas.js";
import { fmt, h } from "./dom.js";

/**
 * RGBA pixels colouring `values` on a symmetric [-limit, limit] scale. The alpha grows with
 * |value| (opacity * sqrt(|v| / limit)), so values near zero leave the image visible; NaN is
 * transparent. nnwidgets/colormaps.py `overlay` computes the same blend in Python.
 * @param {ArrayLike<number>} values
 * @param {number} limit
 * @param {ArrayLike<number>} lut 256*3 RGB
 * @param {number} opacity 0..1
 * @returns {Uint8ClampedArray<ArrayBuffer>} RGBA
 */
export function colorize(values, limit, lut, opacity) {
  const out = new Uint8ClampedArray(values.length * 4);
  const scale = limit > 0 ? 1 / limit : 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) continue;
    const t = Math.min(1, Math.max(-1, v * scale));
    const k = Math.round(127.5 + 127.5 * t) * 3;
    out[4 * i] = lut[k];
    out[4 * i + 1] = lut[k + 1];
    out[4 * i + 2] = lut[k + 2];
    out[4 * i + 3] = Math.round(255 * opacity * Math.sqrt(Math.abs(t)));
  }
  return out;
}

/**
 * A legend element: gradient bar with ticks at -limit, 0, +limit and a units caption.
 * @returns {{el: HTMLElement, update(lut: ArrayLike<number>, limit: number, units: string, widthPx: number): void}}
 */
export function createLegend() {
  const bar = h("canvas", { class: "nnw-legend-bar", "aria-hidden": "true" });
  const ticks = h("div", { class: "nnw-legend-ticks" });
  const caption = h("div", { class: "nnw-legend-caption" });
  const el = h("div", { class: "nnw-legend", role: "img" }, bar, ticks, caption);
  return {
    el,
    update(lut, limit, units, widthPx) {
      const height = 12;
      const ctx = sizeCanvas(bar, widthPx, height);
      for (let x = 0; x < widthPx; x++) {
        const k = Math.round((x / Math.max(widthPx - 1, 1)) * 255) * 3;
        ctx.fillStyle = `rgb(${lut[k]},${lut[k + 1]},${lut[k + 2]})`;
        ctx.fillRect(x, 0, 1, height);
      }
      ticks.replaceChildren(h("span", {}, fmt(-limit)), h("span", {}, "0"), h("span", {}, `+${fmt(limit)}`));
      caption.textContent = units;
      el.setAttribute("aria-label", `colour scale from ${fmt(-limit)} to ${fmt(limit)}: ${units}`);
    },
  };
}
