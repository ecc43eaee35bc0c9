// Pages exported by `nnwidgets export` have no kernel: the widgets answer from their saved state
// and the controls that need a kernel are disabled with a note, never silently dead.
import { h } from "./dom.js";
/** @import { AnyModel } from "./types.js" */

export const KERNEL_NOTE = "needs a running kernel";

/**
 * Whether this page is a static export (the exporter writes the marker into the page).
 * @returns {boolean}
 */
export function isStatic() {
  return Boolean(/** @type {{__nnwidgetsStatic?: boolean}} */ (globalThis).__nnwidgetsStatic);
}

/**
 * Send a message to the kernel; a no-op in a static page.
 * @param {AnyModel} model
 * @param {object} message
 */
export function send(model, message) {
  if (!isStatic()) model.send(message);
}

/**
 * Set a trait here and sync it to the kernel (only set here in a static page).
 * @param {AnyModel} model
 * @param {string} name
 * @param {unknown} value
 */
export function setTrait(model, name, value) {
  model.set(name, value);
  if (!isStatic()) model.save_changes();
}

/**
 * In a static page, disable `controls` (elements with a `disabled` property, or any element,
 * made inert) and add a note at the top of `root`. Returns whether the page is static.
 * @param {HTMLElement} root
 * @param {Iterable<HTMLElement>} controls
 * @param {string} [note]
 * @returns {boolean}
 */
export function kernelOnly(root, controls, note = KERNEL_NOTE) {
  if (!isStatic()) return false;
  for (const control of controls) {
    if ("disabled" in control) /** @type {HTMLButtonElement} */ (control).disabled = true;
    else control.setAttribute("inert", "");
    control.classList.add("nnw-kernel-only");
    control.title = note;
  }
  root.dataset.static = "true";
  root.prepend(
    h("div", { class: "nnw-static-note", role: "note" }, "Saved page: hover, scrub and clicks answer from the saved results; greyed-out controls need a running kernel."),
  );
  return true;
}
