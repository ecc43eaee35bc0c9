import assert from "node:assert/strict";
import { test } from "node:test";
import { classColour, drawBoundary, niceTicks } from "../mlp/plane.js";

test("axis ticks are round values inside the range", () => {
  assert.deepEqual(niceTicks(-1.05, 1.05, 5), { ticks: [-1, -0.5, 0, 0.5, 1], digits: 1 });
  const { ticks, digits } = niceTicks(-0.13, 1.13, 5);
  assert.deepEqual(ticks.map((v) => v.toFixed(digits)), ["0.0", "0.5", "1.0"]);
  assert.deepEqual(niceTicks(0, 100, 5).ticks, [0, 20, 40, 60, 80, 100]);
});

test("classes 0 and 1 get the colour-blind-safe blue and vermilion", () => {
  assert.equal(classColour(0), "#0072B2");
  assert.equal(classColour(1), "#D55E00");
  assert.notEqual(classColour(2), classColour(1));
});

test("the decision boundary is traced where the codes cross ½", () => {
  // a 3x3 grid: left column below the level, the others above: a vertical boundary
  const codes = Uint8Array.from([0, 255, 255, 0, 255, 255, 0, 255, 255]);
  const segments = [];
  const ctx = {
    beginPath() {},
    moveTo(x, y) {
      segments.push([[x, y]]);
    },
    lineTo(x, y) {
      segments[segments.length - 1].push([x, y]);
    },
    stroke() {},
  };
  drawBoundary(/** @type {any} */ (ctx), codes, 3, 200);
  assert.equal(segments.length, 2, "one segment per row of cells");
  for (const [[x0], [x1]] of segments) {
    assert.ok(Math.abs(x0 - 50) < 1 && Math.abs(x1 - 50) < 1, `boundary at x = 50, got ${x0}, ${x1}`);
  }
});
