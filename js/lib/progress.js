// Progress bar and error box driven by the base widget's traits (busy, progress, error).
import { h, listen } from "./dom.js";
/** @import { AnyModel } from "./types.js" */

/**
 * Elements showing `progress`/`progress_label` and `error`; returns {el, dispose}.
 * @param {AnyModel} model
 * @returns {{el: HTMLElement, dispose: () => void}}
 */
export function createStatus(model) {
  const bar = h("progress", { class: "nnw-progress-bar", max: "1" });
  const label = h("span", { class: "nnw-progress-label", "aria-live": "polite" });
  const progress = h("div", { class: "nnw-progress" }, bar, label);
  const message = h("span", { class: "nnw-error-text" });
  const dismiss = h("button", { class: "nnw-error-dismiss", "aria-label": "Dismiss error", title: "Dismiss" }, "×");
  const error = h("div", { class: "nnw-error", role: "alert" }, message, dismiss);
  dismiss.addEventListener("click", () => {
    model.set("error", "");
    model.save_changes();
  });
  const update = () => {
    const value = model.get("progress");
    const busy = model.get("busy");
    progress.hidden = !busy && value === null;
    if (value === null) bar.removeAttribute("value");
    else bar.value = value;
    label.textContent = model.get("progress_label") || (busy ? "working…" : "");
    message.textContent = model.get("error");
    error.hidden = !model.get("error");
  };
  update();
  const dispose = listen(model, {
    "change:progress": update,
    "change:progress_label": update,
    "change:busy": update,
    "change:error": update,
  });
  return { el: h("div", { class: "nnw-status" }, progress, error), dispose };
}
