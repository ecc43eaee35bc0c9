// Compact before/after probability bars drawn in the browser: they answer within a frame, from
// the kernel's result or the sweep's cache, and in exported pages too.
import { h } from "./dom.js";

/**
 * Render rows {label, cls, before, after, target} into `container`.
 * @param {HTMLElement} container
 * @param {{label:string, cls:number, before:number, after:number|null, target:boolean}[]} rows
 * @param {(cls:number) => void} onSelect called when a row is activated
 */
export function renderBars(container, rows, onSelect) {
  container.replaceChildren(
    ...rows.map((row) => {
      const after = row.after === null ? row.before : row.after;
      const delta = after - row.before;
      const button = h(
        "button",
        {
          class: `nnw-bar-row${row.target ? " nnw-target" : ""}`,
          "aria-pressed": row.target ? "true" : "false",
          title: `Make '${row.label}' the target class`,
          "data-class": row.cls,
        },
        h("span", { class: "nnw-bar-label" }, row.label),
        h(
          "span",
          { class: "nnw-bar-track" },
          h("span", { class: "nnw-bar nnw-bar-before", style: `width:${(100 * row.before).toFixed(1)}%` }),
          h("span", { class: "nnw-bar nnw-bar-after", style: `width:${(100 * after).toFixed(1)}%` }),
        ),
        h("span", { class: "nnw-bar-value" }, after.toFixed(2)),
        h(
          "span",
          { class: `nnw-bar-delta ${delta <= -0.005 ? "nnw-down" : delta >= 0.005 ? "nnw-up" : ""}` },
          row.after === null ? "" : `${delta >= 0 ? "+" : "−"}${Math.abs(delta).toFixed(2)}`,
        ),
      );
      button.addEventListener("click", () => onSelect(row.cls));
      return button;
    }),
  );
}

/**
 * A key to the bars' two series: the thin grey bar is the original, the thick one the changed.
 * @param {string} after what the thick bar shows (e.g. "occluded")
 * @returns {HTMLElement}
 */
export function barsKey(after) {
  return h(
    "div",
    { class: "nnw-bars-key" },
    h("span", { class: "nnw-key-swatch nnw-bar-before" }),
    "original",
    h("span", { class: "nnw-key-swatch nnw-bar-after" }),
    after,
  );
}
