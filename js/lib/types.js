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
 * events, custom messages to the kernel.
 * @typedef {object} AnyModel
 * @property {(name: string) => any} get
 * @property {(name: string, value: unknown) => void} set
 * @property {() => void} save_changes
 * @property {(event: string, callback: (...args: any[]) => void) => void} on
 * @property {(event: string, callback: (...args: any[]) => void) => void} off
 * @property {(message: object, callbacks?: unknown, buffers?: ArrayBuffer[]) => void} send
 */

/**
 * What anywidget passes to a module's `render`.
 * @typedef {{model: AnyModel, el: HTMLElement}} RenderProps
 */

export {};
