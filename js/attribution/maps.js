// The AttributionExplorer's maps as values: their colour scale, one step of a sanity check's
// stack, the value under a pixel, and the crosshair drawn over the hovered pixel.
/** @import { Tensor } from "../lib/types.js" */

/**
 * The values of a map and how to colour them: symmetric about 0 for signed methods, from 0 for
 * non-negative ones.
 * @param {Float32Array} values
 * @param {boolean} signed
 */
export function scaleOf(values, signed) {
  let low = Infinity;
  let high = -Infinity;
  for (const v of values) {
    if (v < low) low = v;
    if (v > high) high = v;
  }
  const limit = signed ? Math.max(Math.abs(low), Math.abs(high)) : Math.max(high, 0);
  return { low, high, limit, sign: signed ? 0 : 1 };
}

/**
 * The colour map of a signed (two-sided) or non-negative (one-sided) method's maps.
 * @param {boolean} signed
 */
export const lutName = (signed) => (signed ? "colormap" : "colormap_sequential");

/**
 * Step `step` of a (steps, h, w) stack of maps, as a (h, w) map; null past its end.
 * @param {Tensor | null} stack
 * @param {number} step
 * @returns {Tensor | null}
 */
export function stepOf(stack, step) {
  if (!stack || stack.shape[0] <= step) return null;
  const [, mh, mw] = stack.shape;
  return { data: stack.data.subarray(step * mh * mw, (step + 1) * mh * mw), shape: [mh, mw], dtype: stack.dtype };
}

/**
 * The value of a (h, w) map at input pixel (row, col) of an input of `size` [H, W].
 * @param {Tensor} map
 * @param {number} row
 * @param {number} col
 * @param {number[]} size
 */
export function valueAt(map, row, col, [height, width]) {
  const [mh, mw] = map.shape;
  const r = Math.min(mh - 1, Math.floor((row * mh) / height));
  const c = Math.min(mw - 1, Math.floor((col * mw) / width));
  return map.data[r * mw + c];
}

/**
 * Mark pixel `at` of an input of `size` [H, W], drawn `cw` x `ch`: a box around it and lines
 * from it to the edges.
 * @param {CanvasRenderingContext2D} ctx
 * @param {number} cw
 * @param {number} ch
 * @param {{row: number, col: number}} at
 * @param {number[]} size
 */
export function crosshair(ctx, cw, ch, at, [height, width]) {
  const px = cw / width;
  const py = ch / height;
  const x = (at.col + 0.5) * px;
  const y = (at.row + 0.5) * py;
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
