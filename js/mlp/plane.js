// Drawing the MLPExplorer's main view: data markers, curves, the decision boundary, axes and
// region colours. Pure helpers: they draw what they are given.
import { h } from "../lib/dom.js";

// Class colours of the data points (Okabe-Ito, safe for colour-blind readers): class 0 blue
// and class 1 vermilion, the ends of the diverging background, drawn with a white halo and a
// dark rim so that they stand out on every background colour.
const CLASS_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"];
const RIM = "rgba(20,20,20,0.85)";

/** About `count` round tick values spanning [low, high]. */
export function niceTicks(low, high, count = 5) {
  const span = high - low || 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((m) => m >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return { ticks, digits: Math.max(0, -Math.floor(Math.log10(step))) };
}

/** RGB of a region id: golden-angle hues, so neighbouring ids differ clearly. */
export function regionColour(id) {
  const hue = (id * 137.508) % 360;
  const s = 0.55;
  const l = 0.62;
  const f = (n) => {
    const k = (n + hue / 30) % 12;
    return Math.round(255 * (l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

/** Stroke a 1-D map (uint8 codes on the symmetric scale `limit`) across `box` [x, y, w, h], the values' `range` [low, high] spanning its height. */
export function drawCurve(ctx, codes, limit, box, range, style) {
  const [x, y, w, hgt] = box;
  const [low, high] = range;
  ctx.beginPath();
  for (let i = 0; i < codes.length; i++) {
    const value = (codes[i] / 127.5 - 1) * limit;
    const px = x + (i / (codes.length - 1)) * w;
    const py = y + hgt - ((value - low) / (high - low || 1)) * hgt;
    if (i === 0) ctx.moveTo(px, py);
    else ctx.lineTo(px, py);
  }
  Object.assign(ctx, style);
  ctx.stroke();
}

/** A data point: filled for a training point, a ring for a held-out (test) one. */
export function marker(ctx, cx, cy, colour, test) {
  ctx.beginPath();
  ctx.arc(cx, cy, 4.2, 0, 2 * Math.PI);
  ctx.fillStyle = "white";
  ctx.fill();
  ctx.lineWidth = 1;
  ctx.strokeStyle = RIM;
  ctx.stroke();
  ctx.beginPath();
  ctx.arc(cx, cy, test ? 2.4 : 3.1, 0, 2 * Math.PI);
  if (test) {
    ctx.lineWidth = 1.8;
    ctx.strokeStyle = colour;
    ctx.stroke();
  } else {
    ctx.fillStyle = colour;
    ctx.fill();
  }
}

/** Colour of class `target` (a class index). */
export function classColour(target) {
  return CLASS_COLOURS[Math.max(0, Math.round(target)) % CLASS_COLOURS.length];
}

/** The decision boundary (prediction code 127.5) as a contour, by marching squares. */
export function drawBoundary(ctx, codes, r, size) {
  const step = size / (r - 1); // grid points sit on the view's edges
  const level = 127.5;
  ctx.beginPath();
  for (let i = 0; i + 1 < r; i++) {
    for (let j = 0; j + 1 < r; j++) {
      const corners = [
        [i, j],
        [i, j + 1],
        [i + 1, j + 1],
        [i + 1, j],
      ];
      const crossings = [];
      for (let k = 0; k < 4; k++) {
        const [ai, aj] = corners[k];
        const [bi, bj] = corners[(k + 1) % 4];
        const a = codes[ai * r + aj] - level;
        const b = codes[bi * r + bj] - level;
        if (a < 0 !== b < 0) {
          const t = a / (a - b);
          crossings.push([(aj + t * (bj - aj)) * step, (ai + t * (bi - ai)) * step]);
        }
      }
      for (let k = 0; k + 1 < crossings.length; k += 2) {
        ctx.moveTo(...crossings[k]);
        ctx.lineTo(...crossings[k + 1]);
      }
    }
  }
  ctx.lineWidth = 2;
  ctx.strokeStyle = "rgba(20,20,20,0.9)";
  ctx.stroke();
}

/**
 * The main view with axes around it: `update(x0, x1, y0, y1, names)` labels the ticks of the
 * data ranges [x0, x1] and [y0, y1] and names the axes.
 * @param {HTMLCanvasElement} canvas
 */
export function createPlot(canvas) {
  const xAxis = h("div", { class: "nnw-axis nnw-axis-x", "aria-hidden": "true" });
  const yAxis = h("div", { class: "nnw-axis nnw-axis-y", "aria-hidden": "true" });
  const xName = h("div", { class: "nnw-axis-name nnw-axis-name-x" });
  const yName = h("div", { class: "nnw-axis-name nnw-axis-name-y" });
  const el = h("div", { class: "nnw-plot" }, yName, yAxis, canvas, h("span"), h("span"), xAxis, h("span"), h("span"), xName);
  /** @type {(x0: number, x1: number, y0: number, y1: number, names: string[]) => void} */
  const update = (x0, x1, y0, y1, names) => {
    const place = (axis, low, high, vertical) => {
      const { ticks, digits } = niceTicks(low, high, 5);
      axis.replaceChildren(
        ...ticks.map((v) => {
          const at = ((v - low) / (high - low)) * 100;
          return h("span", { class: "nnw-tick", style: vertical ? `bottom:${at}%` : `left:${at}%` }, v.toFixed(digits));
        }),
      );
    };
    place(xAxis, x0, x1, false);
    place(yAxis, y0, y1, true);
    xName.textContent = names[0];
    yName.textContent = names[1];
  };
  return { el, update };
}
