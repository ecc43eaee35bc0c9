// The MLPExplorer's editor: a small form that sets one weight or bias by hand. It keeps its
// space while closed (hidden from view and from the keyboard), so that the layout never jumps.
import { h } from "../lib/dom.js";

/**
 * `open(label, value)` shows the form for one value; `onSet(value)` gets the number entered on
 * Set (or Enter); Cancel and Escape close it, then `onClose()` runs.
 * @param {(value: number) => void} onSet
 * @param {() => void} onClose
 */
export function createEditor(onSet, onClose) {
  const input = h("input", { type: "number", step: "0.1", class: "nnw-number", "aria-label": "New value" });
  const label = h("span", { class: "nnw-editor-label" });
  const el = h(
    "form",
    { class: "nnw-editor nnw-invisible", inert: true },
    label,
    input,
    h("button", { class: "nnw-button nnw-primary", type: "submit" }, "Set"),
    h("button", { class: "nnw-button", type: "button", onclick: () => close() }, "Cancel"),
  );

  /** @param {string} text @param {number} value */
  function open(text, value) {
    label.textContent = text;
    input.value = String(Number(value.toFixed(4)));
    el.classList.remove("nnw-invisible");
    el.inert = false;
    input.focus();
    input.select();
  }

  function close() {
    el.classList.add("nnw-invisible");
    el.inert = true;
    onClose();
  }

  el.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = Number.parseFloat(input.value);
    if (!Number.isFinite(value)) return;
    onSet(value);
    close();
  });
  el.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
    // number boxes turn Enter into a change (lib/dom.js keepKeys), which cancels the form's own
    // submit on Enter: submit here
    if (event.key === "Enter" && event.target === input) el.requestSubmit();
    event.stopPropagation();
  });
  return { el, open };
}
