import assert from "node:assert/strict";
import { test } from "node:test";
import { nearestPosition, pixelAt, windowStart } from "../lib/pointer.js";

const rect = (left, top, width, height) => ({ left, top, width, height });

test("pixels map through any zoom, including fractional offsets", () => {
  // a 16x16 image shown at 360x360 CSS pixels starting at (10.5, 20.25)
  const r = rect(10.5, 20.25, 360, 360);
  assert.deepEqual(pixelAt(r, 10.5, 20.25, 16, 16), { row: 0, col: 0, inside: true });
  assert.deepEqual(pixelAt(r, 10.5 + 22.5 * 3 + 1, 20.25 + 22.5 * 7 + 22, 16, 16), { row: 7, col: 3, inside: true });
  assert.deepEqual(pixelAt(r, 10.5 + 359.9, 20.25 + 359.9, 16, 16), { row: 15, col: 15, inside: true });
});

test("non-square images and non-integer zoom map each axis on its own", () => {
  // a 224 wide x 100 high image shown at 360 x 160.7
  const r = rect(0, 0, 360, 160.7);
  const p = pixelAt(r, 180, 80, 224, 100);
  assert.equal(p.col, Math.floor((180 / 360) * 224));
  assert.equal(p.row, Math.floor((80 / 160.7) * 100));
});

test("points outside are clamped and flagged", () => {
  const r = rect(0, 0, 100, 100);
  assert.deepEqual(pixelAt(r, -5, 150, 10, 10), { row: 9, col: 0, inside: false });
  assert.equal(pixelAt(r, 100, 50, 10, 10).inside, false);
});

test("a window centred on a pixel stays inside the image", () => {
  assert.equal(windowStart(8, 4, 16), 6);
  assert.equal(windowStart(0, 4, 16), 0);
  assert.equal(windowStart(15, 4, 16), 12);
  assert.equal(windowStart(3, 5, 16), 1);
  assert.equal(windowStart(5, 16, 16), 0);
});

test("the nearest swept position rounds and clamps", () => {
  assert.equal(nearestPosition(0, 2, 7), 0);
  assert.equal(nearestPosition(5, 2, 7), 3); // 2.5 rounds up
  assert.equal(nearestPosition(12, 2, 7), 6);
  assert.equal(nearestPosition(13, 2, 7), 6);
  assert.equal(nearestPosition(9, 8, 27), 1);
});
