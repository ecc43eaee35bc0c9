// Grids of small uint8 tiles (channels of a layer, filters of a conv): one offscreen atlas
// canvas, the grid's layout, and the tile under the pointer.
import { pixelCanvas } from "./canvas.js";

/**
 * An offscreen canvas holding `count` tiles of `height` x `width` side by side (tile c at
 * columns c*width..(c+1)*width), from uint8 codes laid out (count, height, width[, 3]).
 * One channel is coloured through `lut` (256*3 RGB); three channels are RGB as they are.
 * @param {ArrayLike<number>} codes
 * @param {number} count
 * @param {number} height
 * @param {number} width
 * @param {1 | 3} channels
 * @param {ArrayLike<number>} lut
 * @returns {HTMLCanvasElement}
 */
export function tileAtlas(codes, count, height, width, channels, lut) {
  const rgba = new Uint8ClampedArray(count * height * width * 4);
  for (let c = 0; c < count; c++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (c * height + y) * width + x;
        const o = (y * count * width + c * width + x) * 4;
        for (let k = 0; k < 3; k++) rgba[o + k] = channels === 3 ? codes[3 * i + k] : lut[codes[i] * 3 + k];
        rgba[o + 3] = 255;
      }
    }
  }
  return pixelCanvas(rgba, count * width, height);
}

/**
 * Columns and tile side (CSS pixels) of a grid of `count` tiles about `width` wide.
 * @param {number} count
 * @param {number} width CSS pixels the grid aims at
 * @param {number} gap CSS pixels between tiles
 * @returns {{cols: number, side: number}}
 */
export function gridLayout(count, width, gap) {
  const cols = Math.max(1, Math.min(count, Math.ceil(Math.sqrt(count) * 1.4)));
  const side = Math.max(14, Math.min(56, Math.floor((width + gap) / cols) - gap));
  return { cols, side };
}

/**
 * Index of the tile under the pointer in a grid of `cols` columns, `pitch` CSS pixels from
 * one tile to the next, or -1 outside the tiles.
 * @param {{left: number, top: number}} rect the grid's bounding rect
 * @param {number} clientX
 * @param {number} clientY
 * @param {number} count
 * @param {number} cols
 * @param {number} pitch
 * @returns {number}
 */
export function tileAt(rect, clientX, clientY, count, cols, pitch) {
  const x = clientX - rect.left;
  const y = clientY - rect.top;
  const col = Math.floor(x / pitch);
  const index = Math.floor(y / pitch) * cols + col;
  return x >= 0 && y >= 0 && col < cols && index < count ? index : -1;
}
