// The shell (js/lib/widget.js) on a minimal stand-in DOM: bound controls follow and set their
// traits, and one cleanup removes every model handler and DOM listener it added and cancels
// its animation frames and timers.
import assert from "node:assert/strict";
import { test } from "node:test";

class FakeNode {}
class FakeElement extends FakeNode {
  constructor(tag) {
    super();
    this.tagName = tag;
    this.attributes = {};
    this.children = [];
    this.listeners = new Map();
    this.dataset = {};
    this.classList = { add() {}, remove() {}, toggle() {} };
    this.style = {};
    this.value = "";
    this.hidden = false;
  }
  setAttribute(key, value) {
    this.attributes[key] = value;
    if (key === "type") this.type = value;
  }
  removeAttribute(key) {
    delete this.attributes[key];
  }
  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
  }
  removeEventListener(type, fn) {
    this.listeners.get(type)?.delete(fn);
  }
  count(type) {
    return this.listeners.get(type)?.size ?? 0;
  }
  dispatch(type, event = {}) {
    for (const fn of [...(this.listeners.get(type) ?? [])]) fn(event);
  }
  append(...children) {
    this.children.push(...children);
  }
  prepend(...children) {
    this.children.unshift(...children);
  }
  replaceChildren(...children) {
    this.children = children;
  }
}
class FakeInput extends FakeElement {}
globalThis.Node = FakeNode;
globalThis.HTMLInputElement = FakeInput;
globalThis.document = {
  createElement: (tag) => (tag === "input" ? new FakeInput(tag) : new FakeElement(tag)),
  createTextNode: (text) => Object.assign(new FakeNode(), { text }),
};
const frames = new Map();
let nextFrame = 1;
globalThis.requestAnimationFrame = (fn) => {
  frames.set(nextFrame, fn);
  return nextFrame++;
};
globalThis.cancelAnimationFrame = (id) => frames.delete(id);
const runFrames = () => {
  const due = [...frames.values()];
  frames.clear();
  for (const fn of due) fn();
};

const { createWidget } = await import("../lib/widget.js");

/** A stand-in anywidget model: traits, change handlers, saved and sent messages. */
function fakeModel(traits) {
  const handlers = new Map();
  const model = {
    state: { busy: false, progress: null, progress_label: "", error: "", ...traits },
    saved: 0,
    sent: [],
    get: (name) => model.state[name],
    set(name, value) {
      model.state[name] = value;
      for (const fn of [...(handlers.get(`change:${name}`) ?? [])]) fn();
    },
    save_changes: () => {
      model.saved += 1;
    },
    send: (message) => model.sent.push(message),
    on(event, fn) {
      if (!handlers.has(event)) handlers.set(event, new Set());
      handlers.get(event).add(fn);
    },
    off: (event, fn) => handlers.get(event)?.delete(fn),
    handlerCount: () => [...handlers.values()].reduce((n, set) => n + set.size, 0),
  };
  return model;
}

test("a select follows its trait and its options' trait, and sets the trait it is bound to", () => {
  const model = fakeModel({ layer: "conv1", layers: ["conv1", "conv2"], maximize: true });
  const w = createWidget(model, new FakeElement("div"), { className: "nnw-test" });
  const layer = w.select("layer", { options: "layers", className: "nnw-layer-select" });
  const direction = w.select("maximize", { options: [[true, "maximize"], [false, "minimize"]] });
  assert.deepEqual(layer.children.map((o) => o.attributes.value), ["conv1", "conv2"]);
  assert.equal(layer.value, "conv1");
  model.set("layers", ["conv1", "conv2", "fc"]);
  assert.equal(layer.children.length, 3, "new options when the options' trait changes");
  model.set("layer", "fc");
  assert.equal(layer.value, "fc", "the select shows the trait's new value");
  layer.value = "conv2";
  layer.dispatch("change");
  assert.equal(model.get("layer"), "conv2");
  assert.equal(direction.value, "true");
  direction.value = "false";
  direction.dispatch("change");
  assert.equal(model.get("maximize"), false, "non-string values come back with their type");
  assert.ok(model.saved >= 2, "each choice is synced to the kernel");
});

test("a select can offer the trait's value when its options lack it", () => {
  const model = fakeModel({ activation: "custom", activations: ["relu", "tanh"] });
  const w = createWidget(model, new FakeElement("div"), { className: "nnw-test" });
  const select = w.select("activation", { options: "activations", offerCurrent: true });
  assert.deepEqual(select.children.map((o) => o.attributes.value), ["relu", "tanh", "custom"]);
  model.set("activation", "relu");
  assert.deepEqual(select.children.map((o) => o.attributes.value), ["relu", "tanh"]);
});

test("a number box sets its trait from a number and shows the trait again otherwise", () => {
  const model = fakeModel({ steps: 128 });
  const w = createWidget(model, new FakeElement("div"), { className: "nnw-test" });
  const box = w.number("steps", { min: "1" }, { integer: true });
  assert.equal(box.value, "128");
  box.value = "64";
  box.dispatch("change");
  assert.equal(model.get("steps"), 64);
  box.value = "many";
  box.dispatch("change");
  assert.equal(box.value, "64", "not a number: the trait's value is shown again");
  assert.equal(model.get("steps"), 64);
});

test("frames run once per animation frame with the latest arguments", () => {
  const model = fakeModel({});
  const w = createWidget(model, new FakeElement("div"), { className: "nnw-test" });
  const seen = [];
  const soon = w.frame((value) => seen.push(value));
  soon(1);
  soon(2);
  assert.equal(frames.size, 1, "one frame however often it is asked for");
  runFrames();
  assert.deepEqual(seen, [2]);
  w.cleanup();
});

test("cleanup removes every handler and listener and cancels frames and timers", async () => {
  const model = fakeModel({ layer: "a", layers: ["a", "b"], opacity: 0.5 });
  const el = new FakeElement("div");
  const w = createWidget(model, el, { className: "nnw-test", heading: true });
  const select = w.select("layer", { options: "layers" });
  const slider = w.number("opacity", { type: "range" }, { event: "input", kernel: false });
  const button = w.action("Go", { type: "go" });
  const canvas = new FakeElement("canvas");
  let hovered = null;
  w.hover(canvas, () => 3, (value) => (hovered = value), -1);
  let ran = 0;
  w.watch(["layer"], () => (ran += 1));
  const soon = w.frame(() => (ran += 100));
  let fired = false;
  w.later(() => (fired = true), 0);
  const root = w.mount(w.controls(["Layer", select], ["Opacity", slider], button));
  assert.equal(el.children[0], root);
  assert.equal(root.children[0], w.heading, "the heading comes first");
  assert.equal(root.children.at(-1), w.status, "the status line comes last");
  button.dispatch("click");
  assert.deepEqual(model.sent, [{ type: "go" }]);
  canvas.dispatch("pointermove");
  assert.equal(hovered, 3);
  canvas.dispatch("pointerleave");
  assert.equal(hovered, -1);
  soon();
  assert.ok(model.handlerCount() > 0);

  w.cleanup();
  assert.equal(model.handlerCount(), 0, "no model handler is left");
  for (const [target, type] of [[select, "change"], [slider, "input"], [button, "click"], [canvas, "pointermove"], [canvas, "pointerleave"]]) {
    assert.equal(target.count(type), 0, `the ${type} listener of a ${target.tagName} is removed`);
  }
  assert.equal(frames.size, 0, "the pending animation frame is cancelled");
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(fired, false, "the pending timer is cleared");
  model.set("layer", "b");
  assert.equal(ran, 0, "observers are gone");
});
