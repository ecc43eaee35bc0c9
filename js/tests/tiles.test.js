import assert from "node:assert/strict";
import { test } from "node:test";
import { gridLayout, tileAt } from "../lib/tiles.js";

test("grids are wider than tall and their tiles fit the width", () => {
  assert.deepEqual(gridLayout(16, 420, 2), { cols: 6, side: 56 });
  const big = gridLayout(512, 420, 2);
  assert.equal(big.cols, 32);
  assert.equal(big.side, 14); // never below 14 CSS pixels: the grid grows instead
  assert.deepEqual(gridLayout(1, 420, 2), { cols: 1, side: 56 });
});

test("the tile under the pointer, and -1 in the gaps' margin outside", () => {
  const rect = { left: 10.5, top: 20 };
  assert.equal(tileAt(rect, 10.5, 20, 16, 6, 58), 0);
  assert.equal(tileAt(rect, 10.5 + 58 * 2 + 30, 20 + 58 + 5, 16, 6, 58), 8);
  assert.equal(tileAt(rect, 10.5 + 58 * 3 + 1, 20 + 58 * 2 + 1, 16, 6, 58), 15);
  assert.equal(tileAt(rect, 10.5 + 58 * 4 + 1, 20 + 58 * 2 + 1, 16, 6, 58), -1, "past the last tile");
  assert.equal(tileAt(rect, 10.5 + 58 * 6 + 1, 20, 16, 6, 58), -1, "right of the grid");
  assert.equal(tileAt(rect, 5, 25, 16, 6, 58), -1, "left of the grid");
});
