// Tiny DOM helper shared by the front-ends.
/** @import { AnyModel } from "./types.js" */

/** Elements that take keys: created by `h`, they keep them (see `keepKeys`). */
const CONTROLS = new Set(["input", "select", "button", "textarea"]);
/** Input types whose value is typed: Enter commits it. */
const TYPED = new Set(["number", "text", "search", "email", "url"]);

/**
 * Make `control` keep the keys pressed on it. JupyterLab and Notebook 7 run their keyboard
 * shortcuts (arrow keys move the cell selection, Enter edits a cell) unless an element on the
 * way up says `data-lm-suppress-shortcuts`. Typed inputs also commit on Enter: a `change`
 * event, as leaving the box fires (the default action, which would fire another, is stopped).
 * @param {HTMLElement} control
 * @returns {HTMLElement} the same element
 */
export function keepKeys(control) {
  control.setAttribute("data-lm-suppress-shortcuts", "true");
  if (control instanceof HTMLInputElement && TYPED.has(control.type)) {
    control.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.isComposing || control.form) return; // a form submits
      event.preventDefault();
      control.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }
  return control;
}

/**
 * Create an element: h("button", {class: "x", onclick: f}, "Label").
 * Keys starting with "on" add listeners; others become attributes. Controls (input, select,
 * button, textarea) keep their keys in the notebook (see `keepKeys`).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...unknown} children nodes, text (anything else is written as text), or arrays of them;
 *   null, undefined and false are skipped
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  if (CONTROLS.has(tag)) keepKeys(el);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * A focusable element (canvas, list, scroll box) driven by keys: it takes the focus on Tab
 * and keeps its keys in the notebook (see `keepKeys`), so arrow keys move what it shows.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} attrs
 * @param {...unknown} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function focusable(tag, attrs, ...children) {
  const el = h(tag, { tabindex: "0", ...attrs }, ...children);
  keepKeys(el);
  return el;
}

/**
 * A labelled control: a small caption above `control`.
 * @param {string} text
 * @param {Node} control
 */
export function labelled(text, control) {
  return h("label", { class: "nnw-control" }, h("span", { class: "nnw-control-label" }, text), control);
}

/**
 * Format a number compactly for labels ("–" for null, NaN and infinities).
 * @param {number | null} value
 * @param {number} [digits]
 * @returns {string}
 */
export function fmt(value, digits = 3) {
  if (value === null || !Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e4)) return value.toExponential(1);
  return value.toFixed(digits);
}

/**
 * Subscribe to model changes; returns a function that unsubscribes them all.
 * @param {AnyModel} model
 * @param {Record<string, (...args: any[]) => void>} handlers by event name ("change:trait")
 * @returns {() => void}
 */
export function listen(model, handlers) {
  for (const [event, fn] of Object.entries(handlers)) model.on(event, fn);
  return () => {
    for (const [event, fn] of Object.entries(handlers)) model.off(event, fn);
  };
}
