// The wire: decode tensors sent by nnwidgets/_serialization.py.
// A tensor arrives as {dtype, shape, buffer} where buffer is a DataView (or ArrayBuffer /
// typed array, depending on the widget manager). Typed arrays are built with the view's
// byteOffset and byteLength: the view need not span its whole ArrayBuffer.

/** @import { AnyModel, Tensor, WireTensor } from "./types.js" */

export const DTYPES = {
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  int16: Int16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  float64: Float64Array,
};

/**
 * Decode a wire tensor into {data, shape, dtype}; null stays null.
 * @param {WireTensor | null | undefined} value
 * @returns {Tensor | null}
 */
export function decodeTensor(value) {
  if (value === null || value === undefined) return null;
  const Ctor = DTYPES[/** @type {keyof DTYPES} */ (value.dtype)];
  if (!Ctor) throw new Error(`unsupported wire dtype ${value.dtype}`);
  const shape = Array.from(value.shape, Number);
  const size = shape.reduce((a, b) => a * b, 1);
  const raw = value.buffer;
  let buffer;
  let offset = 0;
  let length;
  if (raw instanceof ArrayBuffer) {
    buffer = raw;
    length = raw.byteLength;
  } else if (ArrayBuffer.isView(raw)) {
    buffer = /** @type {ArrayBuffer} */ (raw.buffer);
    offset = raw.byteOffset;
    length = raw.byteLength;
  } else {
    throw new Error("wire tensor has no binary buffer");
  }
  if (length !== size * Ctor.BYTES_PER_ELEMENT) {
    throw new Error(`wire tensor of shape [${shape}] and dtype ${value.dtype} needs ${size * Ctor.BYTES_PER_ELEMENT} bytes, got ${length}`);
  }
  const data =
    offset % Ctor.BYTES_PER_ELEMENT === 0
      ? new Ctor(buffer, offset, size)
      : new Ctor(buffer.slice(offset, offset + length));
  return { data, shape, dtype: value.dtype };
}

/**
 * Read a synced tensor trait of `model` (null when unset).
 * @param {AnyModel} model
 * @param {string} name
 * @returns {Tensor | null}
 */
export function getTensor(model, name) {
  return decodeTensor(model.get(name));
}
