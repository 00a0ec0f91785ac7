// x-ray's console text helpers (addon/xray/parent.js), which run in the
// browser's main process and, as source put before the process script, in
// every child. Loaded here with the privileged globals stubbed: only the
// pure helpers are called. The capture itself is proven in real browsers
// (tests/tests/devloop.rs).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const source = fs.readFileSync(path.join(__dirname, "../xray/parent.js"), "utf8");

function load() {
  const context = vm.createContext({
    ChromeUtils: { importESModule: () => ({ ExtensionCommon: { ExtensionAPI: class {} }, ExtensionUtils: {} }) },
  });
  // Top-level functions and consts of a script are reachable by name from a second script in the same context.
  vm.runInContext(source, context);
  return vm.runInContext("({ cut, format, jsonArg, makeLimiter, consoleChild, CONSOLE_TEXT_HELPERS })", context);
}

test("console text: format specifiers, objects as JSON, errors by name", () => {
  const { format, jsonArg } = load();
  assert.equal(format(["%s has %d items (%i%%)", "list", 3.7, 50]), "list has 3 items (50%)");
  assert.equal(format(["%cstyled", "color: red", { a: 1 }]), 'styled {"a":1}');
  const cyclic = { name: "c" };
  cyclic.self = cyclic;
  assert.equal(format(["obj", cyclic, undefined, () => 1]), 'obj {"name":"c","self":"[cycle]"} undefined function (anonymous)()');
  assert.equal(jsonArg(new TypeError("bad")).name, "TypeError");
  assert.deepEqual(JSON.parse(JSON.stringify(jsonArg({ nested: [1, { b: 2 }] }))), { nested: [1, { b: 2 }] });
});

test("console text: cut on a character boundary, lone surrogates made whole", () => {
  const { cut } = load();
  const emoji = "😀"; // two UTF-16 code units
  // Objects made in the other context: compared by their fields.
  const plain = (o) => JSON.parse(JSON.stringify(o));
  assert.deepEqual(plain(cut("ab" + emoji, 3)), { text: "ab", chars: 4 }, "half an emoji is not kept");
  if (typeof "".toWellFormed === "function") {
    assert.equal(cut("evil \ud800 title", 100).text, "evil \ufffd title");
  }
  assert.deepEqual(plain(cut("short", 100)), { text: "short", chars: 0 });
});

test("the process script's source parses as the browser will read it", () => {
  const { consoleChild, CONSOLE_TEXT_HELPERS } = load();
  // As console_.start builds it: every helper's source, then the call.
  const script = [...CONSOLE_TEXT_HELPERS.map(String), `(${consoleChild})("a", 1, 1, "m", "s", 1000);`].join("\n");
  assert.doesNotThrow(() => new vm.Script(script));
  for (const name of ["wellFormed", "cut", "show", "jsonArg", "format", "stackText", "makeLimiter", "droppedRecord", "later"]) {
    assert.match(script, new RegExp(`^function ${name}\\(`, "m"), `${name} is a declaration the child can call`);
  }
});

test("a flood is cut to the rate, counted, said once; errors have their own allowance", () => {
  const { makeLimiter } = load();
  const reports = [];
  const timers = [];
  const allow = makeLimiter(100, (id, n) => reports.push([id, n]), (fn) => timers.push(fn));
  let passed = 0;
  for (let i = 0; i < 10000; i++) if (allow("a@x", false)) passed += 1;
  assert.ok(passed >= 100 && passed < 200, `${passed} passed`);
  assert.ok(allow("a@x", true), "an error still passes after a flood of logs");
  assert.ok(allow("b@x", false), "another add-on is not held back");
  assert.equal(timers.length, 1, "one report pending, not one per drop");
  timers[0]();
  assert.deepEqual(JSON.parse(JSON.stringify(reports)), [["a@x", 10000 - passed]]);
});
