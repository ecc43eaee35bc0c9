// The OcclusionExplorer's class bars: each shown class's probability on the original image
// and with the patch occluded (exact from the kernel, or answered at once from the sweep's
// per-position cache), a line saying which, and the heading naming the prediction.
import { barsKey, renderBars } from "../lib/bars.js";
import { h } from "../lib/dom.js";
import { nearestPosition } from "../lib/pointer.js";
import { getTensor } from "../lib/wire.js";
/** @import { Tensor } from "../lib/types.js" */
/** @import { Widget } from "../lib/widget.js" */

/**
 * The bars, their source line and key (`els`, for the side panel); `update(probe, answered)`
 * redraws them for the occluder at `probe` ({y, x} or null), `answered` saying whether the
 * kernel's result is for the latest request. Clicking a bar makes its class the target.
 * @param {Widget} w the OcclusionExplorer's shell (its heading shows the prediction)
 */
export function createClassBars(w) {
  const model = w.model;
  const source = h("div", { class: "nnw-source", "aria-live": "polite" });
  const bars = h("div", { class: "nnw-bars" });

  /**
   * Probabilities by class at the sweep position nearest to `probe`; null without a sweep of
   * this window.
   * @param {{y: number, x: number}} probe
   */
  function cachedProbs(probe) {
    const probs = getTensor(model, "sweep_probs");
    const classes = getTensor(model, "sweep_classes");
    const geometry = model.get("sweep_geometry");
    const [wh, ww] = model.get("window");
    if (!probs || !classes || !geometry.window || geometry.window[0] !== wh || geometry.window[1] !== ww) return null;
    const i = nearestPosition(probe.y, geometry.stride[0], geometry.counts[0]);
    const j = nearestPosition(probe.x, geometry.stride[1], geometry.counts[1]);
    const row = (i * geometry.counts[1] + j) * classes.data.length;
    /** @type {Map<number, number>} */
    const values = new Map();
    classes.data.forEach((cls, k) => values.set(cls, probs.data[row + k]));
    return values;
  }

  /**
   * @param {{y: number, x: number} | null} probe
   * @param {boolean} answered
   */
  function update(probe, answered) {
    const clean = /** @type {Tensor} */ (getTensor(model, "clean_probs")).data;
    /** @type {string[]} */
    const labels = model.get("labels");
    /** @type {number} */
    const target = model.get("target");
    /** @type {((cls: number) => number | null) | null} */
    let after = null;
    let kind = "none";
    if (probe) {
      if (answered && model.get("occluded_probs") !== null) {
        const probs = /** @type {Tensor} */ (getTensor(model, "occluded_probs")).data;
        after = (cls) => probs[cls];
        kind = "exact";
      } else {
        const cached = cachedProbs(probe);
        if (cached) {
          after = (cls) => cached.get(cls) ?? null;
          kind = "sweep";
        } else {
          kind = "pending";
        }
      }
    }
    const order = Array.from(clean.keys()).sort((a, b) => clean[b] - clean[a]);
    const shown = [...new Set([...order.slice(0, model.get("top_k")), target])];
    renderBars(
      bars,
      shown.map((cls) => ({ label: labels[cls], cls, before: clean[cls], after: after ? after(cls) : null, target: cls === target })),
      (cls) => w.set("target", cls),
    );
    source.textContent = /** @type {Record<string, string>} */ ({
      none: "Original prediction. Click the image to occlude a patch.",
      exact: "Occluded: exact result from the kernel.",
      sweep: w.isStatic
        ? "Occluded: answered from the sweep's saved results (nearest swept position); the exact result needs a running kernel."
        : "Occluded: instant estimate from the sweep (nearest swept position); exact result on its way.",
      pending: w.isStatic
        ? "Occluded: this position needs a running kernel (the saved page has no complete sweep to answer from)."
        : "Occluded: computing…",
    })[kind];
    w.root.dataset.source = kind;
    const top = order[0];
    /** @type {HTMLElement} */ (w.heading).replaceChildren(
      "Predicted ",
      h("b", {}, labels[top]),
      ` (${(100 * clean[top]).toFixed(1)}%) · mapping class `,
      h("b", {}, labels[target]),
    );
  }

  return { els: [source, bars, barsKey("occluded")], update };
}
