// The MLPExplorer's network diagram: a thumbnail per unit (drawn by the caller) and an SVG
// edge per weight, coloured and sized by the weight. The elements are made once per network
// shape (`build`); each frame only recolours them (`update`).
import { fmt, h } from "../lib/dom.js";
import { isStatic, send } from "../lib/kernel.js";
/** @import { AnyModel } from "../lib/types.js" */

export const THUMB = 34; // CSS pixels of a unit's thumbnail
const ROW = 46; // vertical pitch of the units
const COLUMN = 104; // horizontal pitch of the layers

/**
 * @typedef {object} DiagramHooks
 * @property {() => any} frame the current frame (see mlp/frame.js readFrame)
 * @property {() => ArrayLike<number>} lut the colour map
 * @property {(view: {layer: number, unit: number} | null) => void} show hover a unit (null: leave)
 * @property {(target: object, node: HTMLElement | null, event?: Event) => void} openEditor
 * @property {(layer: number, unit: number) => string} unitName
 * @property {(canvas: HTMLCanvasElement, layer: number, unit: number) => void} drawThumb
 */

/**
 * @param {AnyModel} model
 * @param {DiagramHooks} hooks
 */
export function createDiagram(model, hooks) {
  const edges = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  edges.classList.add("nnw-edges");
  const nodes = h("div", { class: "nnw-nodes" });
  const diagram = h("div", { class: "nnw-diagram" }, edges, nodes);

  function position(layer, unit) {
    const frame = hooks.frame();
    const tallest = Math.max(...frame.sizes);
    const top = ((tallest - frame.sizes[layer]) / 2) * ROW + 8;
    return [10 + layer * COLUMN, top + unit * ROW];
  }

  function buildDiagram() {
    const frame = hooks.frame();
    const tallest = Math.max(...frame.sizes);
    const width = 10 + (frame.sizes.length - 1) * COLUMN + THUMB + 40;
    const height = tallest * ROW + 40;
    diagram.style.width = `${width}px`;
    diagram.style.height = `${height}px`;
    edges.setAttribute("width", String(width));
    edges.setAttribute("height", String(height));
    const elements = [];
    frame.sizes.forEach((count, layer) => {
      for (let unit = 0; unit < count; unit++) {
        const [x, y] = position(layer, unit);
        const thumb = h("canvas", { class: "nnw-thumb" });
        const node = h(
          "div",
          {
            class: `nnw-node${layer === 0 ? " nnw-input" : ""}`,
            tabindex: "0",
            role: "button",
            "data-layer": String(layer),
            "data-unit": String(unit),
            style: `left:${x}px;top:${y}px`,
          },
          thumb,
        );
        node.addEventListener("pointerenter", () => hooks.show({ layer, unit }));
        node.addEventListener("focus", () => hooks.show({ layer, unit }));
        node.addEventListener("pointerleave", () => hooks.show(null));
        node.addEventListener("blur", () => hooks.show(null));
        if (layer > 0) {
          node.title = `${hooks.unitName(layer, unit)}. Click to set its bias.`;
          node.addEventListener("click", () => hooks.openEditor({ kind: "bias", layer: layer - 1, unit }, node));
          node.addEventListener("keydown", (event) => {
            if (event.key === "Enter") hooks.openEditor({ kind: "bias", layer: layer - 1, unit }, node);
          });
        } else {
          node.title = hooks.unitName(layer, unit);
        }
        elements.push(node);
      }
      if (layer > 0 && layer < frame.sizes.length - 1 && model.get("editable") && !isStatic()) {
        const [x] = position(layer, 0);
        elements.push(
          h(
            "div",
            { class: "nnw-resize", style: `left:${x - 6}px;top:${height - 28}px` },
            h("button", { class: "nnw-mini", title: "Add a unit", onclick: () => send(model, { type: "resize", layer: layer - 1, delta: 1 }) }, "+"),
            h("button", { class: "nnw-mini", title: "Remove a unit", onclick: () => send(model, { type: "resize", layer: layer - 1, delta: -1 }) }, "−"),
          ),
        );
      }
    });
    nodes.replaceChildren(...elements);
    buildEdges();
  }

  /** @type {{line: SVGLineElement, title: SVGTitleElement, layer: number, out: number, in: number, index: number}[]} */
  let edgeList = [];

  /** The edges' SVG lines, made once per structure (drawEdges only recolours them). */
  function buildEdges() {
    const frame = hooks.frame();
    const svg = "http://www.w3.org/2000/svg";
    const elements = [];
    edgeList = [];
    let offset = 0;
    for (let layer = 1; layer < frame.sizes.length; layer++) {
      const inputs = frame.sizes[layer - 1];
      for (let j = 0; j < frame.sizes[layer]; j++) {
        for (let i = 0; i < inputs; i++) {
          const [x0, y0] = position(layer - 1, i);
          const [x1, y1] = position(layer, j);
          const coords = { x1: x0 + THUMB + 2, y1: y0 + THUMB / 2 + 2, x2: x1, y2: y1 + THUMB / 2 + 2 };
          const line = document.createElementNS(svg, "line");
          const hit = document.createElementNS(svg, "line");
          for (const [key, value] of Object.entries(coords)) {
            line.setAttribute(key, String(value));
            hit.setAttribute(key, String(value));
          }
          hit.setAttribute("class", "nnw-edge-hit");
          hit.dataset.layer = String(layer - 1);
          hit.dataset.out = String(j);
          hit.dataset.in = String(i);
          const title = document.createElementNS(svg, "title");
          hit.append(title);
          hit.addEventListener("click", (event) =>
            hooks.openEditor({ kind: "weight", layer: layer - 1, out: j, in: i }, null, event),
          );
          elements.push(line, hit);
          edgeList.push({ line, title, layer, out: j, in: i, index: offset + j * inputs + i });
        }
      }
      offset += inputs * frame.sizes[layer];
    }
    edges.replaceChildren(...elements);
  }

  /** Colour and width of every edge from its weight (on one scale: the largest |weight|). */
  function drawEdges() {
    const frame = hooks.frame();
    const colours = hooks.lut();
    let largest = 1e-6;
    for (const w of frame.weights) largest = Math.max(largest, Math.abs(w));
    for (const edge of edgeList) {
      const w = frame.weights[edge.index];
      const k = Math.round((w / largest + 1) * 127.5) * 3;
      edge.line.setAttribute("stroke", `rgb(${colours[k]},${colours[k + 1]},${colours[k + 2]})`);
      edge.line.setAttribute("stroke-width", String(0.5 + (3.5 * Math.abs(w)) / largest));
      edge.title.textContent = `weight ${fmt(w)} from ${hooks.unitName(edge.layer - 1, edge.in)} to ${hooks.unitName(edge.layer, edge.out)}. Click to set it.`;
    }
  }

  function drawThumbs() {
    for (const node of /** @type {NodeListOf<HTMLElement>} */ (nodes.querySelectorAll(".nnw-node"))) {
      hooks.drawThumb(/** @type {HTMLCanvasElement} */ (node.firstChild), Number(node.dataset.layer), Number(node.dataset.unit));
    }
  }

  return {
    el: diagram,
    build: buildDiagram,
    update() {
      drawEdges();
      drawThumbs();
    },
  };
}
