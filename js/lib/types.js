// Types shared by the front-ends, for the type check (`npm run typecheck`, JSDoc read by tsc).
// This module holds no code: the entry modules and js/lib import its types with `@import`.

/** @typedef {Uint8Array | Int8Array | Uint16Array | Int16Array | Int32Array | Uint32Array | Float32Array | Float64Array} TypedArray */

/**
 * A tensor as it arrives from nnwidgets/_serialization.py: a typed array over a binary buffer.
 * @typedef {{data: TypedArray, shape: number[], dtype: string}} Tensor
 */

/**
 * A tensor trait's value on the wire, before decoding.
 * @typedef {{dtype: string, shape: number[], buffer: DataView | ArrayBuffer | ArrayBufferView}} WireTensor
 */

/**
 * The part of anywidget's model that the front-ends use: trait values by name, their change
 * events, custom messages to the kernel. `T` maps each synced trait to its JS type (each
 * front-end declares its own, e.g. `OcclusionModel` in js/occlusion.js), so that `get` and
 * `set` are checked per widget; the default, `any`, accepts every name (js/lib's helpers).
 * @template [T=any]
 * @typedef {object} AnyModel
 * @property {<K extends keyof T & string>(name: K) => T[K]} get
 * @property {<K extends keyof T & string>(name: K, value: T[K]) => void} set
 * @property {() => void} save_changes
 * @property {(event: string, callback: (...args: any[]) => void) => void} on
 * @property {(event: string, callback: (...args: any[]) => void) => void} off
 * @property {(message: object, callbacks?: unknown, buffers?: ArrayBuffer[]) => void} send
 */

/**
 * The traits every nnwidgets widget has (nnwidgets/widgets/_base.py NNWidget).
 * @typedef {object} BaseModel
 * @property {boolean} busy
 * @property {number | null} progress
 * @property {string} progress_label
 * @property {string} error
 * @property {WireTensor} colormap (256, 3) uint8 RGB lookup table of the two-sided maps
 * @property {WireTensor} colormap_sequential (256, 3) uint8 RGB lookup table of one-sided maps
 */

/**
 * What anywidget passes to a module's `render`.
 * @template [T=any]
 * @typedef {{model: AnyModel<T>, el: HTMLElement}} RenderProps
 */

export {};
