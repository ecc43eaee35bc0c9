// The AttributionExplorer's sanity check (Adebayo et al., 2018): a row of small maps per shown
// method, one per step of re-initialised layers, with its rank correlation to the trained
// model's map; a step slider and a click on a map choose the step the main view shows, and a
// banner above the panels says when it is not the trained model.
import { drawScaled, pixelCanvas, sizeCanvas } from "../lib/canvas.js";
import { colorize } from "../lib/colormap.js";
import { fmt, h, labelled } from "../lib/dom.js";
import { lutOf } from "../lib/widget.js";
import { decodeTensor } from "../lib/wire.js";
import { lutName, scaleOf, stepOf } from "./maps.js";
/** @import { Tensor } from "../lib/types.js" */
/** @import { Widget } from "../lib/widget.js" */

const THUMB_SIDE = 60; // CSS pixels of a sanity check map's longer side

const INTRO =
  "Sanity check (Adebayo et al., 2018): the layers of a copy of the model re-initialised from the output down, one more per step. A map that explains the model should change. Each small map is on its own scale; ρ is the Spearman rank correlation of its |values| with the trained model's map. Click one to show its step above.";

/**
 * The sanity check's section (`el`), the banner row above the panels (`banner`) and `draw()`,
 * which redraws both from the traits.
 * @param {Widget} w the AttributionExplorer's shell
 * @param {(side: number) => number[]} cssSize CSS [width, height] of a map whose longer side is `side`
 */
export function createSanity(w, cssSize) {
  const model = w.model;
  const step = () => /** @type {number} */ (w.get("sanity_step"));
  const stepInput = w.number("sanity_step", { type: "range", min: "0", step: "1", class: "nnw-attr-step", "aria-label": "Sanity check step shown above" }, { event: "input", integer: true, kernel: false });
  const stepOut = h("output", { class: "nnw-value nnw-attr-step-label" });
  const rows = h("div", { class: "nnw-attr-sanity-rows" });
  const el = h(
    "section",
    { class: "nnw-attr-sanity", "aria-label": "Sanity check" },
    h("div", { class: "nnw-attr-sanity-title" }, INTRO),
    labelled("Step shown above", h("span", { class: "nnw-inline" }, stepInput, stepOut)),
    rows,
  );
  const bannerText = h("div", { class: "nnw-attr-banner", "aria-live": "polite" });
  const back = h("button", { class: "nnw-button nnw-attr-back" }, "Back to the trained model");
  w.listen(back, "click", () => w.set("sanity_step", 0));
  const banner = h("div", { class: "nnw-attr-banner-row" }, bannerText, back);

  /**
   * The row of small maps of `name`, one per step so far.
   * @param {string} name
   * @param {{layer: string | null, layers: string[], rank_correlation: Record<string, number | null>}[]} steps
   */
  function row(name, steps) {
    const info = w.get("catalog").find((/** @type {{name: string}} */ m) => m.name === name);
    const signed = info ? info.signed : true;
    const stack = decodeTensor(w.get("sanity_maps")[name]);
    const [count, mh, mw] = stack ? stack.shape : [0, 0, 0];
    const [tw, th] = cssSize(THUMB_SIDE);
    const lut = lutOf(model, lutName(signed));
    const cells = [];
    for (let s = 0; s < count; s++) {
      const values = /** @type {Float32Array} */ (/** @type {Tensor} */ (stepOf(stack, s)).data);
      const scale = scaleOf(values, signed);
      const thumb = h("canvas", { class: "nnw-attr-thumb" });
      const ctx = sizeCanvas(thumb, tw, th);
      const rgba = colorize(values, scale.limit, lut, 1, scale.sign);
      for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255; // the map alone, opaque
      drawScaled(ctx, pixelCanvas(rgba, mw, mh), 0, 0, tw, th);
      const rho = s > 0 && steps[s] ? steps[s].rank_correlation[name] : null;
      const layer = s === 0 ? "trained" : steps[s] ? steps[s].layer : "";
      const rhoText = s === 0 ? "ρ 1" : typeof rho === "number" ? `ρ ${fmt(rho, 2)}` : "ρ n/a";
      const cell = h(
        "button",
        {
          class: `nnw-attr-thumb-cell${s === step() ? " nnw-current" : ""}`,
          "data-step": s,
          "data-rho": typeof rho === "number" ? String(rho) : "",
          title: s === 0 ? "The trained model's map" : `Layers re-initialised: ${steps[s] ? steps[s].layers.join(", ") : ""}${typeof rho === "number" ? "" : " (a constant map has no rank correlation)"}`,
          "aria-label": `${info ? info.title : name}, ${layer}, rank correlation ${rhoText.slice(2)}: show in the main view`,
          onclick: () => w.set("sanity_step", s),
        },
        thumb,
        h("span", { class: "nnw-attr-thumb-layer" }, layer),
        h("span", { class: "nnw-attr-thumb-rho" }, rhoText),
      );
      cells.push(cell);
    }
    return h("div", { class: "nnw-attr-sanity-row", "data-method": name }, h("div", { class: "nnw-attr-sanity-name" }, info ? info.title : name), h("div", { class: "nnw-attr-thumbs" }, ...cells));
  }

  function draw() {
    const steps = w.get("sanity");
    const state = w.get("sanity_state");
    const s = step();
    el.hidden = steps.length === 0 && state !== "running";
    stepInput.max = String(Math.max(0, steps.length - 1));
    stepInput.value = String(s);
    const current = steps[s];
    stepOut.textContent = !current ? "" : s === 0 ? "trained model" : `${s} of ${steps.length - 1}: re-initialised down to ${current.layer}`;
    const names = /** @type {string[]} */ (w.get("methods")).filter((name) => w.get("sanity_maps")[name]);
    rows.replaceChildren(...names.map((name) => row(name, steps)));
    w.root.dataset.sanity = String(steps.length);
    w.root.dataset.sanityState = state;
    w.root.dataset.step = String(s);
    bannerText.textContent = s > 0 && current ? `Sanity check step ${s}: the maps of a copy of the model with ${current.layers.join(", ")} re-initialised.` : "";
    banner.hidden = s === 0;
  }

  return { el, banner, draw };
}
