// Pointer -> image-pixel mapping, at any zoom, and occluder geometry.

/**
 * Map a pointer position (client coordinates) to an image pixel.
 * @param {{left:number, top:number, width:number, height:number}} rect element's bounding rect
 * @param {number} clientX
 * @param {number} clientY
 * @param {number} width image width in pixels
 * @param {number} height image height in pixels
 * @returns {{row:number, col:number, inside:boolean}} pixel (clamped) and whether it was inside
 */
export function pixelAt(rect, clientX, clientY, width, height) {
  const u = (clientX - rect.left) / rect.width;
  const v = (clientY - rect.top) / rect.height;
  const inside = u >= 0 && u < 1 && v >= 0 && v < 1;
  const col = Math.min(width - 1, Math.max(0, Math.floor(u * width)));
  const row = Math.min(height - 1, Math.max(0, Math.floor(v * height)));
  return { row, col, inside };
}

/**
 * Top-left corner of a `size`-long window centred on `centre`, kept inside `[0, extent)`.
 * @param {number} centre
 * @param {number} size
 * @param {number} extent
 * @returns {number}
 */
export function windowStart(centre, size, extent) {
  return Math.min(Math.max(centre - Math.floor(size / 2), 0), Math.max(extent - size, 0));
}

/**
 * Index along one axis of the sweep position nearest to a window starting at `start`.
 * @param {number} start
 * @param {number} stride
 * @param {number} count
 * @returns {number}
 */
export function nearestPosition(start, stride, count) {
  return Math.min(Math.max(Math.round(start / stride), 0), count - 1);
}
