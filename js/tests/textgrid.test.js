import assert from "node:assert/strict";
import { test } from "node:test";
import { charAtCell, layoutText } from "../lib/textgrid.js";

test("rows end at newlines, which take a cell", () => {
  const g = layoutText("ab\ncd\n", 80);
  assert.equal(g.rows, 2);
  assert.deepEqual([...g.row], [0, 0, 0, 1, 1, 1]);
  assert.deepEqual([...g.col], [0, 1, 2, 0, 1, 2]);
  assert.deepEqual([...g.line], [0, 0, 0, 1, 1, 1]);
  assert.deepEqual(g.rowStart, [0, 3, 6]);
});

test("tabs reach the next tab stop", () => {
  const g = layoutText("a\tb\t\tc", 80);
  assert.deepEqual([...g.col], [0, 1, 4, 5, 8, 12]);
  assert.deepEqual([...g.span], [1, 3, 1, 3, 4, 1]);
});

test("long lines wrap without starting a new line number", () => {
  const g = layoutText("abcdefg\nh", 3);
  assert.deepEqual([...g.row], [0, 0, 0, 1, 1, 1, 2, 2, 3]);
  assert.deepEqual([...g.line], [0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal(g.rows, 4);
  assert.deepEqual(g.rowStart, [0, 3, 6, 8, 9]);
});

test("the character under a cell, tabs and empty cells included", () => {
  const g = layoutText("a\tb\nxy", 80);
  assert.equal(charAtCell(g, 0, 0), 0);
  assert.equal(charAtCell(g, 0, 3), 1); // inside the tab
  assert.equal(charAtCell(g, 0, 4), 2);
  assert.equal(charAtCell(g, 0, 5), 3); // the newline
  assert.equal(charAtCell(g, 0, 6), -1);
  assert.equal(charAtCell(g, 1, 1), 5);
  assert.equal(charAtCell(g, 2, 0), -1);
  assert.equal(charAtCell(g, -1, 0), -1);
});

test("an empty text has one empty row", () => {
  const g = layoutText("", 10);
  assert.equal(g.rows, 1);
  assert.deepEqual(g.rowStart, [0, 0]);
});
