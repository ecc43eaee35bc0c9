// One frame of the MLPExplorer: every unit's map (uint8 codes on a symmetric per-unit scale,
// the code being the colour map index), the weights, biases and layer geometry, decoded
// once per frame from the model's traits.
import { getTensor } from "../lib/wire.js";
/** @import { AnyModel, Tensor } from "../lib/types.js" */

/**
 * Decode the current frame. `row(l, j)` is the map row of unit j of layer l (1 = the first
 * hidden layer; the last row, `prediction`, is the network's prediction); `values(row)` a
 * row's codes, `codes(layer, unit)` a unit's (layer 0: the inputs, x or y over the plane, on
 * the same scale), `decoded(row)` a row's values.
 * @param {AnyModel} model
 */
export function readFrame(model) {
  /** @type {number[]} */
  const sizes = model.get("layer_sizes");
  const maps = /** @type {Tensor} */ (getTensor(model, "maps"));
  const limits = /** @type {Tensor} */ (getTensor(model, "map_limits")).data;
  /** @type {number[]} */
  const extent = model.get("extent");
  const offsets = [0];
  for (let l = 1; l < sizes.length; l++) offsets.push(offsets[l - 1] + sizes[l]);
  const resolution = maps.shape[1];
  const size = maps.shape.slice(1).reduce((a, b) => a * b, 1);
  /** @param {number} row */
  const values = (row) => maps.data.subarray(row * size, (row + 1) * size);

  /** @param {number} unit 0: x, 1: y */
  function inputCodes(unit) {
    const r = resolution;
    const [x0, x1, y0, y1] = extent;
    const codes = new Uint8Array(sizes[0] === 1 ? r : r * r);
    const limit = unit === 0 ? Math.max(Math.abs(x0), Math.abs(x1)) : Math.max(Math.abs(y0), Math.abs(y1));
    for (let i = 0; i < codes.length; i++) {
      const col = sizes[0] === 1 ? i : i % r;
      const rowIndex = Math.floor(i / r);
      const value = unit === 0 ? x0 + ((x1 - x0) * col) / (r - 1) : y1 - ((y1 - y0) * rowIndex) / (r - 1);
      codes[i] = Math.round((value / limit + 1) * 127.5);
    }
    return codes;
  }

  /** @type {(l: number, j: number) => number} */
  const row = (l, j) => offsets[l - 1] + j;
  return {
    sizes,
    maps,
    limits,
    weights: /** @type {Tensor} */ (getTensor(model, "weights")).data,
    biases: /** @type {Tensor} */ (getTensor(model, "biases")).data,
    dims: sizes[0],
    resolution,
    extent,
    row,
    prediction: maps.shape[0] - 1,
    values,
    /** @type {(layer: number, unit: number) => ArrayLike<number>} */
    codes: (layer, unit) => (layer === 0 ? inputCodes(unit) : values(row(layer, unit))),
    /** @type {(r: number) => number[]} */
    decoded: (r) => Array.from(values(r), (code) => (code / 127.5 - 1) * limits[r]),
  };
}
