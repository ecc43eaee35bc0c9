import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeTensor } from "../lib/wire.js";

test("null stays null", () => {
  assert.equal(decodeTensor(null), null);
  assert.equal(decodeTensor(undefined), null);
});

test("a DataView that starts inside its buffer decodes from its own offset", () => {
  const backing = new ArrayBuffer(64);
  const floats = new Float32Array(backing, 16, 6);
  floats.set([1, 2, 3, 4, 5, 6]);
  const view = new DataView(backing, 16, 24);
  const tensor = decodeTensor({ dtype: "float32", shape: [2, 3], buffer: view });
  assert.deepEqual(tensor.shape, [2, 3]);
  assert.deepEqual(Array.from(tensor.data), [1, 2, 3, 4, 5, 6]);
  assert.ok(tensor.data instanceof Float32Array);
});

test("a misaligned DataView is copied, not misread", () => {
  const backing = new ArrayBuffer(13);
  const view = new DataView(backing, 1, 12);
  view.setInt32(0, 7, true);
  view.setInt32(4, -2, true);
  view.setInt32(8, 123456, true);
  const tensor = decodeTensor({ dtype: "int32", shape: [3], buffer: view });
  assert.deepEqual(Array.from(tensor.data), [7, -2, 123456]);
});

test("uint8 images, plain ArrayBuffers and typed arrays decode", () => {
  const bytes = new Uint8Array([0, 128, 255, 1, 2, 3]);
  assert.deepEqual(Array.from(decodeTensor({ dtype: "uint8", shape: [1, 2, 3], buffer: bytes.buffer }).data), [0, 128, 255, 1, 2, 3]);
  assert.deepEqual(Array.from(decodeTensor({ dtype: "uint8", shape: [6], buffer: bytes.subarray(0) }).data), [0, 128, 255, 1, 2, 3]);
});

test("NaN survives the wire (maps mark missing values with NaN)", () => {
  const values = new Float32Array([Number.NaN, 0.5]);
  const tensor = decodeTensor({ dtype: "float32", shape: [2], buffer: new DataView(values.buffer) });
  assert.ok(Number.isNaN(tensor.data[0]));
  assert.equal(tensor.data[1], 0.5);
});

test("a buffer of the wrong length or an unknown dtype is an error", () => {
  const view = new DataView(new ArrayBuffer(8));
  assert.throws(() => decodeTensor({ dtype: "float32", shape: [3], buffer: view }), /needs 12 bytes, got 8/);
  assert.throws(() => decodeTensor({ dtype: "complex64", shape: [1], buffer: view }), /unsupported wire dtype/);
  assert.throws(() => decodeTensor({ dtype: "uint8", shape: [1], buffer: [1] }), /no binary buffer/);
});
