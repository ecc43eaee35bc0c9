// The shell every widget front-end stands on: the root element, its heading and status line,
// controls bound to traits, kernel-only controls, PNG download, image and colour-map canvases,
// and one cleanup that removes every listener and observer and cancels every frame and timer.
//
// API (`w = createWidget(model, el, {className, heading})`):
//   w.root                    <div class="nnw CLASSNAME">, appended to `el` by `w.mount`
//   w.heading                 <div class="nnw-heading" aria-live> first in the root, when
//                             `heading: true`
//   w.status                  the progress/error line (lib/progress.js), last in the root
//   w.mount(...children)      fill the root (heading, children, status), put it in `el`,
//                             disable the kernel-only controls in a saved page
//   w.cleanup                 what `render` returns: runs everything registered below
//   w.get(name) / w.set(name, value)   read a trait / set it and sync it to the kernel
//   w.send(message)           a message to the kernel (a no-op in a saved page)
//   w.isStatic                whether this is a saved page with no kernel
//   w.watch(names, fn)        run fn on a change of any of these traits
//   w.observe({"change:x": fn, "msg:custom": fn})   model events, by event name
//   w.listen(target, type, fn)          a DOM listener
//   w.hover(target, at, fn, none)       fn(at(event)) on pointer moves, fn(none) on leaving
//   w.frame(fn) -> schedule   schedule(...args) runs fn(...args) in the next animation frame,
//                             once however often it is called before then (latest arguments)
//   w.later(fn, ms)           a timeout; w.onCleanup(fn): any other teardown
//   w.kernelOnly(...controls) controls that need a kernel (greyed out in a saved page)
//   w.select(trait, {options, ...})     a <select> bound to a trait, its options from a trait
//                             (a list, or a value -> label dict), a list or a function
//                             (see SelectOptions)
//   w.number(trait, attrs, {integer, event})  a number box or slider bound to a trait
//   w.action(label, message, attrs)     a button that sends `message`
//                             (select, number and action controls are kernel-only unless
//                             given `kernel: false`; a bound control follows its trait)
//   w.savePng(canvas, filename, title)  a "Save PNG" button downloading the canvas
//   w.controls(...items)      <div class="nnw-controls">: [caption, control] pairs (labelled)
//                             or elements
// Canvases (functions): imageCanvas(rgbTensor), lutCanvas(codes, width, height, lut),
// overlayCanvas(map, limit, lut, opacity, sign), lutOf(model, name).
// Types: each front-end declares its model's synced traits as a typedef and takes
// `RenderProps<ThatModel>` (lib/types.js), so `model.get`, `w.get`, `w.set`, `w.select` and
// `w.watch` check trait names and types; `Widget` is the shell's type, for helper modules
// (e.g. js/activations/pad.js). Key-driven canvases: lib/dom.js `focusable`.
//
// Example:
//   /** @typedef {BaseModel & {layer: string, layers: string[], tiles: WireTensor | null}} M */
//   /** @param {RenderProps<M>} props */
//   function render({ model, el }) {
//     const w = createWidget(model, el, { className: "nnw-example" });
//     const layer = w.select("layer", { options: "layers", className: "nnw-layer-select" });
//     const canvas = h("canvas", { class: "nnw-canvas" });
//     const draw = () => { ... };
//     w.watch(["tiles", "layer"], draw);
//     w.mount(w.controls(["Layer", layer], w.savePng(canvas, "example.png")), canvas);
//     draw();
//     return w.cleanup;
//   }
import { pixelCanvas, rgbToRgba } from "./canvas.js";
import { colorize } from "./colormap.js";
import { h, labelled, listen } from "./dom.js";
import { isStatic, kernelOnly, send, setTrait } from "./kernel.js";
import { createStatus } from "./progress.js";
import { tileAtlas } from "./tiles.js";
import { getTensor } from "./wire.js";
/** @import { AnyModel, Tensor } from "./types.js" */

/**
 * Options of a select: values (shown as they are), [value, label] pairs, or a value -> label
 * record. Values are strings, numbers or booleans; an option's `value` attribute is the value
 * itself for a string, its JSON otherwise.
 * @typedef {Array<string | number | boolean | [string | number | boolean, string]> | Record<string, string>} OptionList
 */

/**
 * @typedef {object} SelectOptions
 * @property {string | OptionList | (() => OptionList)} options a trait holding the options
 *   (a list, or a value -> label dict), the options themselves, or a function giving them
 * @property {string[]} [watch] more traits whose changes re-read the options
 * @property {string} [className]
 * @property {string} [label] aria-label
 * @property {boolean} [offerCurrent] add the trait's value when the options lack it
 * @property {boolean} [kernel] whether the select needs a kernel (default true)
 * @property {(value: any) => void} [onChange] instead of setting the trait
 */

/**
 * The entries of an option list, as [value, label] pairs.
 * @param {OptionList} list
 * @returns {[string | number | boolean, string][]}
 */
function entries(list) {
  if (!Array.isArray(list)) return Object.entries(list);
  return list.map((item) => (Array.isArray(item) ? item : [item, String(item)]));
}

/** @param {unknown} value */
const optionValue = (value) => (typeof value === "string" ? value : JSON.stringify(value));

/** The shell of a widget front-end, for helper modules that take one. @typedef {ReturnType<typeof createWidget<any>>} Widget */

/**
 * The shell of a widget front-end (see the API at the top of this module).
 * @template [T=any]
 * @param {AnyModel<T>} model
 * @param {HTMLElement} el
 * @param {{className: string, heading?: boolean}} options
 */
export function createWidget(model, el, { className, heading = false }) {
  /** @type {(() => void)[]} */
  const teardown = [];
  /** @type {HTMLElement[]} */
  const needKernel = [];
  /** @type {Set<ReturnType<typeof setTimeout>>} */
  const timers = new Set();
  /** @type {AnyModel} */
  const anyModel = model;
  const status = createStatus(model);
  teardown.push(status.dispose);
  teardown.push(() => timers.forEach(clearTimeout));
  const root = h("div", { class: `nnw ${className}` });

  const w = {
    model,
    root,
    status: status.el,
    heading: heading ? h("div", { class: "nnw-heading", "aria-live": "polite" }) : null,
    isStatic: isStatic(),

    /**
     * @template {keyof T & string} K
     * @param {K} name
     * @returns {T[K]}
     */
    get: (name) => model.get(name),

    /**
     * @template {keyof T & string} K
     * @param {K} name
     * @param {T[K]} value
     */
    set(name, value) {
      setTrait(model, name, value);
    },

    /** @param {object} message */
    send(message) {
      send(model, message);
    },

    /** @param {() => void} fn */
    onCleanup(fn) {
      teardown.push(fn);
    },

    /** @param {Record<string, (...args: any[]) => void>} handlers */
    observe(handlers) {
      teardown.push(listen(model, handlers));
    },

    /**
     * @param {(keyof T & string)[]} names
     * @param {() => void} fn
     */
    watch(names, fn) {
      w.observe(Object.fromEntries(names.map((name) => [`change:${name}`, fn])));
    },

    /**
     * @template {keyof HTMLElementEventMap} K
     * @param {EventTarget} target
     * @param {K} type
     * @param {(event: HTMLElementEventMap[K]) => void} fn
     */
    listen(target, type, fn) {
      const listener = /** @type {EventListener} */ (fn);
      target.addEventListener(type, listener);
      teardown.push(() => target.removeEventListener(type, listener));
    },

    /**
     * @template V
     * @param {HTMLElement} target
     * @param {(event: PointerEvent) => V} at what is under the pointer
     * @param {(value: V) => void} fn
     * @param {V} none what is under no pointer
     */
    hover(target, at, fn, none) {
      w.listen(target, "pointermove", (event) => fn(at(event)));
      w.listen(target, "pointerleave", () => fn(none));
    },

    /**
     * @template {any[]} A
     * @param {(...args: A) => void} fn
     * @returns {(...args: A) => void}
     */
    frame(fn) {
      let pending = 0;
      /** @type {A | null} */
      let latest = null;
      teardown.push(() => {
        if (pending) cancelAnimationFrame(pending);
        pending = 0;
      });
      return (...args) => {
        latest = args;
        if (pending) return;
        pending = requestAnimationFrame(() => {
          pending = 0;
          fn(.../** @type {A} */ (latest));
        });
      };
    },

    /**
     * @param {() => void} fn
     * @param {number} ms
     */
    later(fn, ms) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        fn();
      }, ms);
      timers.add(timer);
      return timer;
    },

    /**
     * @template {HTMLElement} E
     * @param {...E} controls
     * @returns {E}
     */
    kernelOnly(...controls) {
      needKernel.push(...controls);
      return controls[0];
    },

    /**
     * A select bound to trait `name`: it shows the trait's value, sets the trait when changed
     * and follows the trait and its options.
     * @param {keyof T & string} name
     * @param {SelectOptions} options
     */
    select(name, { options, watch = [], className, label, offerCurrent = false, kernel = true, onChange }) {
      const select = h("select", { class: className, "aria-label": label });
      /** @type {Map<string, unknown>} */
      let values = new Map();
      let shown = "";
      const sync = () => {
        const list = typeof options === "string" ? anyModel.get(options) : typeof options === "function" ? options() : options;
        const items = entries(list);
        const current = anyModel.get(name);
        if (offerCurrent && !items.some(([value]) => value === current)) items.push([current, String(current)]);
        const key = JSON.stringify(items);
        if (key !== shown) {
          shown = key;
          values = new Map(items.map(([value]) => [optionValue(value), value]));
          select.replaceChildren(...items.map(([value, text]) => h("option", { value: optionValue(value) }, text)));
        }
        select.value = optionValue(current);
      };
      w.listen(select, "change", () => {
        const value = values.get(select.value);
        if (onChange) onChange(value);
        else setTrait(model, name, value);
      });
      w.observe(Object.fromEntries([name, ...(typeof options === "string" ? [options] : []), ...watch].map((trait) => [`change:${trait}`, sync])));
      sync();
      if (kernel) needKernel.push(select);
      return select;
    },

    /**
     * An input (a number box unless `attrs.type` says otherwise, e.g. "range") bound to trait
     * `name`: a value that is not a number shows the trait's value again.
     * @param {keyof T & string} name
     * @param {Record<string, unknown>} attrs
     * @param {{integer?: boolean, event?: "change" | "input", kernel?: boolean}} [options]
     */
    number(name, attrs, { integer = false, event = "change", kernel = true } = {}) {
      const type = attrs.type || "number";
      const input = h("input", { class: type === "number" ? "nnw-number" : undefined, ...attrs, type });
      const sync = () => {
        input.value = String(anyModel.get(name));
      };
      w.listen(input, event, () => {
        const value = integer ? Number.parseInt(input.value, 10) : Number.parseFloat(input.value);
        if (Number.isFinite(value)) setTrait(model, name, value);
        else sync();
      });
      w.observe({ [`change:${name}`]: sync });
      sync();
      if (kernel) needKernel.push(input);
      return input;
    },

    /**
     * A button sending `message` to the kernel when clicked (kernel-only).
     * @param {string} text
     * @param {object} message
     * @param {Record<string, unknown>} [attrs]
     */
    action(text, message, attrs = {}) {
      const button = h("button", { class: "nnw-button", ...attrs }, text);
      w.listen(button, "click", () => send(model, message));
      needKernel.push(button);
      return button;
    },

    /**
     * A "Save PNG" button that downloads `canvas` (it works in a saved page too).
     * @param {HTMLCanvasElement} canvas
     * @param {string | (() => string)} filename
     * @param {string} [title]
     */
    savePng(canvas, filename, title = "Download the image as PNG") {
      const button = h("button", { class: "nnw-button", title }, "Save PNG");
      w.listen(button, "click", () => {
        canvas.toBlob((blob) => {
          const name = typeof filename === "function" ? filename() : filename;
          const link = h("a", { href: URL.createObjectURL(/** @type {Blob} */ (blob)), download: name });
          link.click();
          URL.revokeObjectURL(link.href);
        });
      });
      return button;
    },

    /** @param {...([string, Node] | Node)} items */
    controls(...items) {
      return h("div", { class: "nnw-controls" }, ...items.map((item) => (Array.isArray(item) ? labelled(item[0], item[1]) : item)));
    },

    /** @param {...(Node | null)} children null is skipped */
    mount(...children) {
      root.append(...[w.heading, ...children, status.el].filter((child) => child !== null));
      el.append(root);
      kernelOnly(root, needKernel);
      return root;
    },

    cleanup() {
      for (const fn of teardown.splice(0).reverse()) fn();
    },
  };
  return w;
}

/**
 * An offscreen canvas of an (h, w, 3) uint8 image tensor; null for null.
 * @param {{shape: number[], data: ArrayLike<number>} | null} tensor
 * @returns {HTMLCanvasElement | null}
 */
export function imageCanvas(tensor) {
  return tensor && pixelCanvas(rgbToRgba(tensor), tensor.shape[1], tensor.shape[0]);
}

/**
 * An offscreen canvas of `width` x `height` uint8 codes, each coloured by `lut` (256*3 RGB).
 * @param {ArrayLike<number>} codes
 * @param {number} width
 * @param {number} height
 * @param {ArrayLike<number>} lut
 * @returns {HTMLCanvasElement}
 */
export function lutCanvas(codes, width, height, lut) {
  return tileAtlas(codes, 1, height, width, 1, lut);
}

/**
 * An offscreen canvas of a (h, w) map coloured to lay over an image (lib/colormap.js
 * `colorize`: two-sided with `sign` 0, else one-sided; transparent near zero).
 * @param {{shape: number[], data: ArrayLike<number>}} map
 * @param {number} limit
 * @param {ArrayLike<number>} lut
 * @param {number} opacity
 * @param {number} [sign]
 * @returns {HTMLCanvasElement}
 */
export function overlayCanvas(map, limit, lut, opacity, sign = 0) {
  return pixelCanvas(colorize(map.data, limit, lut, opacity, sign), map.shape[1], map.shape[0]);
}

/**
 * The colour map in trait `name` (a (256, 3) uint8 tensor) as 256*3 RGB values.
 * @param {AnyModel} model
 * @param {string} name
 * @returns {ArrayLike<number>}
 */
export function lutOf(model, name) {
  return /** @type {Tensor} */ (getTensor(model, name)).data;
}
