// The TextNeuronExplorer's "Find units" box: a regular expression (typed, or one of the
// presets) goes to the kernel, which ranks every unit by how well it tells the matching
// characters from the rest; the ranking is listed here, and a click selects a unit.
import { h, labelled } from "../lib/dom.js";
/** @import { Widget } from "../lib/widget.js" */

const PRESETS = [
  ["quoted strings", String.raw`"[^"\n]*"|'[^'\n]*'`],
  ["indentation", String.raw`^[ \t]+`],
  ["URLs", String.raw`https?://[^\s'"]+`],
];

/**
 * The box, its "underline matches" switch and the ranking, which follows the `ranking` trait;
 * `update()` redraws the ranking after the selection changed.
 * @param {Widget} w the shell of the TextNeuronExplorer
 * @param {{select: (layer: string, unit: number) => void, onUnderline: () => void}} hooks
 *   select a unit; the underline switch changed
 */
export function createFinder(w, { select, onUnderline }) {
  const patternInput = w.kernelOnly(
    h("input", {
      type: "text",
      class: "nnw-pattern",
      placeholder: "a regular expression, e.g. https?://\\S+",
      "aria-label": "Regular expression",
      spellcheck: "false",
    }),
  );
  const findButton = w.kernelOnly(h("button", { class: "nnw-button nnw-primary nnw-find" }, "Find units"));
  const presetButtons = PRESETS.map(([label, pattern]) =>
    w.kernelOnly(h("button", { class: "nnw-button nnw-preset", "data-pattern": pattern, title: pattern }, label)),
  );
  const showMatches = h("input", { type: "checkbox", class: "nnw-show-matches", checked: true });
  const rankingTitle = h("div", { class: "nnw-section-title" });
  const rankingList = h("div", { class: "nnw-ranking", role: "list" });
  const el = h(
    "div",
    { class: "nnw-find-box" },
    h(
      "div",
      { class: "nnw-find-form" },
      labelled("Find units", h("span", { class: "nnw-inline" }, patternInput, findButton)),
      h("span", { class: "nnw-presets" }, ...presetButtons),
      h("label", { class: "nnw-inline nnw-check" }, showMatches, "underline matches"),
    ),
    rankingTitle,
    rankingList,
  );

  /** @param {string} pattern */
  function find(pattern) {
    patternInput.value = pattern;
    w.send({ type: "find_units", pattern });
  }
  w.listen(findButton, "click", () => find(patternInput.value));
  w.listen(patternInput, "keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    event.stopPropagation(); // Enter searches; it does not run the notebook cell
    find(patternInput.value);
  });
  for (const button of presetButtons) w.listen(button, "click", () => find(/** @type {string} */ (button.dataset.pattern)));
  w.listen(showMatches, "change", onUnderline);

  const showPattern = () => {
    const pattern = w.get("ranking")?.pattern;
    if (pattern) patternInput.value = pattern;
  };

  function drawRanking() {
    const ranking = w.get("ranking") || {};
    /** @type {{layer: string, unit: number, auc: number, sign: number}[]} */
    const units = ranking.units || [];
    if (!units.length) {
      rankingTitle.textContent = "";
      rankingList.replaceChildren();
      return;
    }
    rankingTitle.textContent = `Units that best tell the ${(ranking.matched ?? 0).toLocaleString()} characters matching /${ranking.pattern}/ from the rest (AUC: 1 or 0 separate perfectly, 0.5 not at all). Click one to select it.`;
    const current = w.get("layer");
    const unit = w.get("unit");
    rankingList.replaceChildren(
      ...units.map((entry, rank) => {
        const chosen = entry.layer === current && entry.unit === unit;
        const direction = entry.sign > 0 ? "higher on matches" : "lower on matches";
        return h(
          "button",
          {
            class: `nnw-rank${chosen ? " nnw-chosen" : ""}`,
            role: "listitem",
            "aria-pressed": chosen ? "true" : "false",
            "data-layer": entry.layer,
            "data-unit": String(entry.unit),
            title: `Select ${entry.layer}, unit ${entry.unit}`,
            onclick: () => select(entry.layer, entry.unit),
          },
          h("span", { class: "nnw-rank-n" }, `${rank + 1}.`),
          h("span", { class: "nnw-rank-name" }, `${entry.layer} · unit ${entry.unit}`),
          h("span", { class: "nnw-rank-auc" }, `AUC ${entry.auc.toFixed(3)}`),
          h("span", { class: `nnw-rank-sign ${entry.sign > 0 ? "nnw-up" : "nnw-down"}` }, `${entry.sign > 0 ? "▲" : "▼"} ${direction}`),
        );
      }),
    );
  }

  w.observe({
    "change:ranking": () => {
      drawRanking();
      showPattern();
    },
  });
  drawRanking();
  showPattern();
  return { el, update: drawRanking, underline: () => showMatches.checked };
}
