// Fast unit tests of the agent against a fake Thunderbird/Firefox.
// Run: node --test addon/test/
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const TabscopeAgent = require("../tabscope-agent.js");
const { createFakeBrowser } = require("./fake-browser.js");

const quietLog = { warn() {}, error() {}, log() {} };

/** Runs pending promise jobs and immediates until the agent is idle. */
async function settle(n = 20) {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/** Waits for the debounced re-snapshot that follows windows.onCreated. */
async function resnapshot() {
  await new Promise((r) => setTimeout(r, 10));
  await settle();
}

async function started(flavor = "thunderbird", extra = {}, browserOpts = {}) {
  const fake = createFakeBrowser(Object.assign({ flavor }, browserOpts));
  const logs = [];
  const log = { warn: (...a) => logs.push(["warn", a.join(" ")]), error: (...a) => logs.push(["error", a.join(" ")]) };
  const agent = TabscopeAgent.createAgent(Object.assign({ browser: fake.browser, log, snapshotDebounceMs: 1, retryMs: 5, missingHostRetryMs: 50 }, extra));
  await agent.start();
  await settle();
  const port = fake.ports[0];
  return { fake, agent, port, logs, sent: () => port.sent };
}

async function call(port, method, params, id = 100) {
  port.deliver({ type: "command", id, method, params });
  await settle();
  const reply = port.sent.find((m) => m.type === "reply" && m.id === id);
  assert.ok(reply, `no reply to ${method}`);
  return reply;
}

const events = (port, name) => port.sent.filter((m) => m.type === "event" && (!name || m.name === name));
const snapshots = (port) => port.sent.filter((m) => m.type === "snapshot");

test("hello names the browser and what it can do", async () => {
  const { port, agent } = await started();
  const hello = port.sent[0];
  assert.equal(hello.type, "hello");
  assert.equal(hello.protocol, 1);
  assert.equal(hello.browser.name, "Thunderbird");
  assert.equal(hello.extensionId, "tabscope-agent@tabscope.dev");
  assert.ok(hello.capabilities.tabs.includes("create"));
  assert.ok(hello.capabilities.tabsEvents.includes("onUpdated"));
  assert.ok(!hello.capabilities.tabsEvents.includes("onHighlighted"), "Thunderbird has no onHighlighted");
  assert.deepEqual(hello.capabilities.sessions, ["getTabValue", "removeTabValue", "setTabValue"]);
  agent.stop();
});

test("Thunderbird's empty start is not final: the world arrives by events and a new snapshot", async () => {
  const { fake, port, agent } = await started();
  assert.deepEqual(snapshots(port)[0].windows, []);
  fake.startUp();
  await resnapshot();
  const names = events(port).map((e) => e.name);
  assert.deepEqual(names.slice(0, 3), ["windows.onCreated", "tabs.onCreated", "windows.onFocusChanged"]);
  const last = snapshots(port).at(-1);
  assert.equal(last.windows.length, 1);
  assert.equal(last.windows[0].tabs[0].type, "mail");
  assert.equal(last.windows[0].tabs[0].splitViewId, -1, "unknown fields pass through");
  // After the probe on the first tab, hello says values are strings only.
  const hellos = port.sent.filter((m) => m.type === "hello");
  assert.equal(hellos.at(-1).capabilities.sessionObjectValues, false);
  agent.stop();
});

test("events carry a gapless sequence and the browser's time", async () => {
  const { fake, port, agent } = await started();
  fake.startUp();
  await call(port, "tabs.create", { createProperties: { url: "https://example.org/" } });
  await settle();
  const evs = events(port);
  evs.forEach((e, i) => assert.equal(e.seq, i + 1));
  assert.ok(evs.every((e) => typeof e.time === "number" && e.time > 1.6e12));
  // The bridge reads this layout in one pass (shared/src/raw_event/one_pass.rs).
  for (const e of evs) assert.deepEqual(Object.keys(e), ["type", "seq", "time", "name", "args"]);
  const names = evs.map((e) => e.name);
  const created = names.indexOf("tabs.onCreated", 2);
  assert.deepEqual(names.slice(created, created + 3), ["tabs.onCreated", "tabs.onActivated", "tabs.onUpdated"]);
  agent.stop();
});

test("commands map named params to the API and reply with the result", async () => {
  const { fake, port, agent } = await started();
  const { tabId } = fake.startUp();
  const r = await call(port, "tabs.get", { tabId });
  assert.equal(r.result.id, tabId);
  assert.equal(r.result.type, "mail");
  const q = await call(port, "tabs.query", { queryInfo: { type: "mail" } }, 101);
  assert.equal(q.result.length, 1);
  const none = await call(port, "tabs.getCurrent", {}, 102);
  assert.equal(none.result, null, "undefined becomes null");
  agent.stop();
});

test("the browser's own error message comes back", async () => {
  const { fake, port, agent } = await started();
  fake.startUp();
  const r = await call(port, "tabs.get", { tabId: 999999 });
  assert.equal(r.error, "Invalid tab ID: 999999");
  assert.equal(r.result, undefined);
  agent.stop();
});

test("unknown methods are refused, missing ones explained", async () => {
  const { fake, port, agent } = await started();
  fake.startUp();
  const r = await call(port, "tabs.explode", {});
  assert.match(r.error, /unknown method "tabs.explode"/);
  const w = await call(port, "sessions.setWindowValue", { windowId: 1, key: "k", value: "v" }, 101);
  assert.equal(w.error, "sessions.setWindowValue is not supported by Thunderbird 153.7.0");
  agent.stop();
});

test("commands are checked before the browser sees them", async () => {
  const { fake, port, agent } = await started();
  fake.startUp();
  const calls = [];
  const get = fake.browser.tabs.get;
  fake.browser.tabs.get = (...a) => { calls.push(a); return get(...a); };
  for (const [i, [method, params, why]] of [
    ["toString", {}, /unknown method "toString"/],
    ["__proto__", {}, /unknown method "__proto__"/],
    ["constructor", {}, /unknown method "constructor"/],
    ["tabs.get", { tab: 1 }, /unknown parameter "tab" \(parameters: tabId\)/],
    ["tabs.get", { tabId: "1" }, /tabId must be an integer id/],
    ["tabs.get", [1], /params must be a JSON object/],
    ["tabs.remove", { tabIds: [] }, /tabIds must be an integer id or a non-empty list/],
    ["sessions.getTabValue", { tabId: 1, key: "" }, /key must be a non-empty string/],
  ].entries()) {
    const r = await call(port, method, params, 300 + i);
    assert.match(r.error, why, method);
  }
  assert.equal(calls.length, 0, "nothing reached the browser");
  assert.equal((await call(port, "tabs.get", { tabId: 1 }, 400)).result.id, 1);
  agent.stop();
});

test("script injection can be turned off, and the hello says so", async () => {
  const { fake, port, agent } = await started("firefox", { scriptInjection: false });
  fake.startUp();
  assert.equal(port.sent[0].capabilities.scriptInjection, false);
  const tab = (await call(port, "tabs.query", {}, 1)).result.find((t) => t.type !== "mail") || { id: 1 };
  for (const [i, method] of ["tabs.executeScript", "tabs.insertCSS", "tabs.removeCSS"].entries()) {
    const r = await call(port, method, { tabId: tab.id, details: { code: "x" } }, 10 + i);
    assert.match(r.error, /script injection is turned off in this agent/);
  }
  const hellos = () => port.sent.filter((m) => m.type === "hello");
  agent.setScriptInjection(true);
  await settle();
  assert.equal(hellos().at(-1).capabilities.scriptInjection, true);
  // On, but without page access: the browser's refusal, and what to do.
  assert.equal(hellos().at(-1).capabilities.hostAccess, false);
  const refused = await call(port, "tabs.executeScript", { tabId: tab.id, details: { code: "x" } }, 20);
  assert.match(refused.error, /^Missing host permission for the tab: the tabscope agent may not script this page: allow it in the agent's options/);
  fake.setHostAccess(true);
  await settle();
  assert.equal(hellos().at(-1).capabilities.hostAccess, true, "the grant is told at once");
  const ran = await call(port, "tabs.executeScript", { tabId: tab.id, details: { code: "x" } }, 21);
  assert.deepEqual(ran.result, ["ran: x"]);
  assert.equal((await call(port, "tabs.removeCSS", { tabId: tab.id, details: { code: "p{}" } }, 22)).result, null);
  agent.stop();
});

test("a tab Thunderbird renumbered on moving to another window is read again", async () => {
  const { fake, port, agent } = await started("thunderbird", { snapshotDebounceMs: 1 });
  fake.startUp();
  await resnapshot();
  const w = await fake.browser.windows.create({ url: "about:blank" });
  await resnapshot();
  const before = snapshots(port).length;
  const t = (await fake.browser.tabs.query({})).find((x) => x.windowId !== w.id);
  await fake.browser.tabs.move(t.id, { windowId: w.id, index: -1 });
  await resnapshot();
  const renumbered = (await fake.browser.tabs.get(t.id)).id;
  assert.notEqual(renumbered, t.id, "the fake renumbers as Thunderbird does");
  assert.equal(snapshots(port).length, before + 1, "one snapshot after the move");
  const tabs = snapshots(port).at(-1).windows.flatMap((x) => x.tabs);
  assert.ok(tabs.some((x) => x.id === renumbered && x.windowId === w.id), "with the tab's new id");
  agent.stop();
});

test("window state, size and title are reported: after windows.update at once, else by looking", async () => {
  const { fake, port, agent } = await started("thunderbird", { windowPollMs: 5 });
  fake.startUp();
  await resnapshot();
  const w = snapshots(port).at(-1).windows[0];
  const reply = port.sent.length;
  port.deliver({ type: "command", id: 7, method: "windows.update", params: { windowId: w.id, updateInfo: { state: "minimized" } } });
  await settle();
  const after = port.sent.slice(reply);
  const i = after.findIndex((m) => m.type === "event" && m.name === "tabscope.onWindowUpdated");
  assert.ok(i >= 0 && after[i].args[0].state === "minimized", "reported");
  assert.ok(i < after.findIndex((m) => m.type === "reply" && m.id === 7), "before the reply");
  assert.equal(after[i].args[0].tabs, undefined, "without its tabs");
  // The user resizes it: the next look reports it, once.
  fake.changeWindow(w.id, { width: 800, title: "Inbox" });
  await new Promise((r) => setTimeout(r, 30));
  await settle();
  const updates = events(port, "tabscope.onWindowUpdated").filter((e) => e.args[0].width === 800);
  assert.equal(updates.length, 1);
  assert.equal(updates[0].args[0].title, "Inbox");
  agent.stop();
});

test("the agent takes commands from its own native host only", async () => {
  const { fake, agent } = await started();
  const rt = fake.browser.runtime;
  for (const ev of ["onMessage", "onMessageExternal", "onConnect", "onConnectExternal"]) {
    assert.equal(rt[ev].listeners.length, 0, `${ev} is not listened to`);
  }
  assert.deepEqual(fake.ports.map((p) => p.name), ["tabscope_bridge"]);
  agent.stop();
});

test("Thunderbird stores strings only; the agent reports what is stored", async () => {
  const { fake, port, agent } = await started();
  const { tabId } = fake.startUp();
  const ok = await call(port, "sessions.setTabValue", { tabId, key: "color", value: "red" });
  assert.equal(ok.result, null);
  const bad = await call(port, "sessions.setTabValue", { tabId, key: "obj", value: { a: 1 } }, 101);
  assert.equal(bad.error, "Incorrect argument types for sessions.setTabValue.");
  const change = events(port, "tabscope.onSessionValueChanged").at(-1);
  assert.deepEqual(change.args[0], { scope: "tab", id: tabId, key: "color", value: { type: "string", value: "red" } });
  const json = await call(port, "sessions.setTabValue", { tabId, key: "j", value: "{\"a\":1}" }, 102);
  assert.equal(json.error, undefined);
  const j = events(port, "tabscope.onSessionValueChanged").at(-1);
  assert.deepEqual(j.args[0].value, { type: "string", value: "{\"a\":1}" }, "a JSON text stays a string");
  await call(port, "sessions.removeTabValue", { tabId, key: "color" }, 103);
  assert.equal(events(port, "tabscope.onSessionValueChanged").at(-1).args[0].value, null);
  agent.stop();
});

test("Firefox stores objects and window values", async () => {
  const { fake, port, agent } = await started("firefox");
  const { tabId, windowId } = fake.startUp();
  await resnapshot();
  await call(port, "sessions.setTabValue", { tabId, key: "obj", value: { a: [1, 2] } });
  const change = events(port, "tabscope.onSessionValueChanged").at(-1);
  assert.deepEqual(change.args[0].value, { type: "json", value: { a: [1, 2] } });
  const w = await call(port, "sessions.setWindowValue", { windowId, key: "wk", value: "wv" }, 101);
  assert.equal(w.error, undefined);
  const hello = port.sent.filter((m) => m.type === "hello").at(-1);
  assert.equal(hello.capabilities.sessionObjectValues, true);
  assert.ok(hello.capabilities.tabsEvents.includes("onHighlighted"));
  agent.stop();
});

test("known keys are remembered, persisted, reported in snapshots and probed", async () => {
  const { fake, port, agent } = await started();
  const { tabId } = fake.startUp();
  await call(port, "sessions.setTabValue", { tabId, key: "color", value: "red" });
  await settle();
  assert.deepEqual(fake.storage["tabscope.knownKeys"], { tab: ["color"], window: [] });
  await call(port, "agent.snapshot", {}, 101);
  await settle();
  const snap = snapshots(port).at(-1);
  assert.deepEqual(snap.tabValues[String(tabId)], { color: { type: "string", value: "red" } });
  // A key set behind the agent's back (straight into the fake's store) is
  // found by a probe.
  fake.values.tab.get(tabId).secret = "s";
  const probe = await call(port, "agent.probeKey", { key: "secret" }, 102);
  assert.deepEqual(probe.result.tabs[String(tabId)], { type: "string", value: "s" });
  const keys = await call(port, "agent.knownKeys", {}, 103);
  assert.deepEqual(keys.result.tab, ["color", "secret"]);
  agent.stop();
});

test("the embedding add-on's own sessions calls are seen through the wrapper", async () => {
  const { fake, port, agent } = await started();
  const { tabId } = fake.startUp();
  await fake.browser.sessions.setTabValue(tabId, "mine", "x");
  await settle();
  const change = events(port, "tabscope.onSessionValueChanged").at(-1);
  assert.deepEqual(change.args[0], { scope: "tab", id: tabId, key: "mine", value: { type: "string", value: "x" } });
  assert.ok(agent.knownKeys.tab.has("mine"));
  agent.stop();
});

test("values an add-on sets while the agent is still starting are not missed", async () => {
  // An embedding add-on calls TabscopeAgent.start() and goes straight on to
  // its own listeners; the agent's start awaits the browser info and the key
  // registry first. The mail tab can open in between (seen on a slow CI run).
  const fake = createFakeBrowser({ flavor: "thunderbird" });
  fake.storage["tabscope.knownKeys"] = { tab: ["saved"], window: [] };
  const agent = TabscopeAgent.createAgent({ browser: fake.browser, log: quietLog, snapshotDebounceMs: 1 });
  const starting = agent.start(); // not awaited, as in a background script
  fake.browser.tabs.onCreated.addListener((tab) => fake.browser.sessions.setTabValue(tab.id, "early", "v"));
  const { tabId } = fake.startUp();
  await starting;
  await resnapshot();
  const snap = snapshots(fake.ports[0]).at(-1);
  assert.deepEqual(snap.tabValues[String(tabId)], { early: { type: "string", value: "v" } });
  // Learning a key before the saved registry was read must not overwrite it.
  assert.deepEqual(fake.storage["tabscope.knownKeys"], { tab: ["early", "saved"], window: [] });
  agent.stop();
});

test("events during a snapshot are held until after it", async () => {
  const { fake, port, agent } = await started();
  port.sent.length = 0;
  port.deliver({ type: "command", id: 7, method: "agent.snapshot", params: {} });
  fake.startUp(); // fires window and tab events while the snapshot is being built
  await settle();
  const kinds = port.sent.map((m) => m.type);
  const snap = kinds.indexOf("snapshot");
  const firstEvent = kinds.indexOf("event");
  assert.ok(snap >= 0, kinds.join(","));
  assert.ok(firstEvent > snap, `an event overtook the snapshot: ${kinds.join(",")}`);
  agent.stop();
});

test("a dying host is reconnected with backoff; a missing one reported once", async () => {
  const { fake, port, agent, logs } = await started();
  port.drop(null);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(fake.ports.length, 2, "reconnected");
  assert.equal(fake.ports[1].sent[0].type, "hello", "the new host gets a hello first");
  assert.equal(agent.status.state, "connected");
  fake.ports[1].drop("No such native application tabscope_bridge");
  await settle();
  assert.equal(agent.status.state, "no-host");
  await new Promise((r) => setTimeout(r, 70));
  fake.ports.at(-1).drop("No such native application tabscope_bridge");
  await settle();
  const errors = logs.filter(([l]) => l === "error");
  assert.equal(errors.length, 1, "reported once");
  assert.match(errors[0][1], /tabscope install/);
  agent.stop();
});

test("stop removes every listener and closes the port", async () => {
  const { fake, port, agent } = await started();
  agent.stop();
  fake.startUp();
  await settle();
  assert.equal(events(port).length, 0);
  assert.equal(port.connected, false);
});

test("the method table is exported for the Rust side to compare", () => {
  assert.deepEqual(TabscopeAgent.API_METHODS["sessions.setTabValue"], ["tabId", "key", "value", "extensionId"]);
  assert.ok(Object.keys(TabscopeAgent.API_METHODS).length > 40);
});

// ----- x-ray (the experiment is modelled in the fake; tests/tests/xray.rs
// proves each behaviour in real Thunderbird and Firefox ESR) -----

const OTHER = "other@example.com";

test("x-ray: the hello says on, off or refused, and why", async () => {
  for (const [xray, want] of [["on", "on"], [undefined, "off"], ["refused", "refused"]]) {
    const { port, agent } = await started("firefox", {}, { xray });
    const caps = port.sent.find((m) => m.type === "hello").capabilities;
    assert.equal(caps.xray, want);
    if (want === "refused") assert.match(caps.xrayWhy, /does not run WebExtension experiments.*ESR/);
    agent.stop();
  }
});

test("x-ray: other add-ons' values are in the snapshot and their changes are events", async () => {
  const { fake, port, agent } = await started("thunderbird", { xrayPollMs: 5 }, { xray: "on" });
  const { tabId } = fake.startUp();
  fake.otherSets(OTHER, "Other", tabId, "k", "v1");
  await resnapshot();
  const snap = port.sent.filter((m) => m.type === "snapshot").at(-1);
  assert.deepEqual(snap.addonValues.values, [{ scope: "tab", id: tabId, extensionId: OTHER, key: "k", value: { type: "string", value: "v1" } }]);
  assert.equal(snap.addonValues.extensions[0].name, "Other");
  const changes = () => port.sent.filter((m) => m.type === "event" && m.name === "tabscope.onAddonValueChanged").map((m) => m.args[0]);
  fake.otherSets(OTHER, "Other", tabId, "k", "v2");
  await new Promise((r) => setTimeout(r, 20));
  await settle();
  assert.deepEqual(changes().at(-1), { extensionName: "Other", scope: "tab", id: tabId, extensionId: OTHER, key: "k", value: { type: "string", value: "v2" } });
  const n = changes().length;
  await new Promise((r) => setTimeout(r, 20));
  await settle();
  assert.equal(changes().length, n, "no change, no event");
  agent.stop();
});

test("x-ray: sessions calls with an extensionId act on that add-on's values", async () => {
  const { fake, port, agent } = await started("thunderbird", {}, { xray: "on" });
  const { tabId } = fake.startUp();
  await settle();
  const set = await call(port, "sessions.setTabValue", { tabId, key: "k", value: "mine", extensionId: OTHER }, 1);
  assert.equal(set.error, undefined);
  assert.equal(fake.otherValue(OTHER, tabId, "k"), "mine", "stored as the other add-on's");
  assert.equal(fake.values.tab.get(tabId)?.k, undefined, "not as the agent's own");
  const ev = port.sent.find((m) => m.name === "tabscope.onAddonValueChanged");
  assert.equal(ev.args[0].value.value, "mine", "reported at once");
  assert.equal((await call(port, "sessions.getTabValue", { tabId, key: "k", extensionId: OTHER }, 2)).result, "mine");
  const bad = await call(port, "sessions.setTabValue", { tabId, key: "k", value: { n: 1 }, extensionId: OTHER }, 3);
  assert.match(bad.error, /strings only/);
  await call(port, "sessions.removeTabValue", { tabId, key: "k", extensionId: OTHER }, 4);
  assert.equal(fake.otherValue(OTHER, tabId, "k"), undefined);
  assert.equal(port.sent.filter((m) => m.name === "tabscope.onAddonValueChanged").at(-1).args[0].value, null);
  // The agent's own id is the agent's own values, as without it.
  await call(port, "sessions.setTabValue", { tabId, key: "own", value: "x", extensionId: "tabscope-agent@tabscope.dev" }, 5);
  assert.equal(fake.values.tab.get(tabId).own, "x");
  agent.stop();
});

test("x-ray: without it, an extensionId is refused with the reason", async () => {
  const { fake, port, agent } = await started("firefox", {}, { xray: "refused" });
  const { tabId } = fake.startUp();
  const r = await call(port, "sessions.getTabValue", { tabId, key: "k", extensionId: OTHER }, 1);
  assert.match(r.error, /needs x-ray, which is refused in this agent: .*experiments/);
  agent.stop();
});

test("x-ray: other add-ons' activity is forwarded in order with the tab events", async () => {
  const { fake, port, agent } = await started("firefox", {}, { xray: "on" });
  fake.otherCalls({ extensionId: OTHER, type: "api_call", name: "tabs.query", data: { args: [{}] } });
  fake.startUp();
  fake.otherCalls({ extensionId: OTHER, type: "api_call", name: "sessions.setTabValue", data: { args: [1, "k", "v"] } });
  await settle();
  const names = port.sent.filter((m) => m.type === "event").map((m) => m.name + (m.args[0] && m.args[0].name ? ":" + m.args[0].name : ""));
  const first = names.indexOf("tabscope.onAddonActivity:tabs.query");
  const created = names.indexOf("tabs.onCreated");
  const last = names.indexOf("tabscope.onAddonActivity:sessions.setTabValue");
  assert.ok(first >= 0 && first < created && created < last, names.join(" "));
  agent.stop();
  fake.otherCalls({ extensionId: OTHER, type: "api_call", name: "late", data: null });
  assert.ok(!port.sent.some((m) => m.args && m.args[0] && m.args[0].name === "late"), "stop removes the listener");
});

test("x-ray: activity before the bridge is connected waits for it, after the snapshot", async () => {
  const fake = createFakeBrowser({ flavor: "thunderbird", xray: "on" });
  const agent = TabscopeAgent.createAgent({ browser: fake.browser, log: quietLog, snapshotDebounceMs: 1 });
  try {
    const starting = agent.start();
    // x-ray hands over what it saw since browser start-up before the port exists.
    fake.otherCalls({ extensionId: OTHER, type: "api_call", name: "runtime.getPlatformInfo", data: { args: [] } });
    await starting;
    await settle();
    const sent = fake.ports[0].sent;
    const at = sent.findIndex((m) => m.name === "tabscope.onAddonActivity" && m.args[0].name === "runtime.getPlatformInfo");
    assert.ok(at >= 0, "the early record was lost");
    assert.ok(sent.findIndex((m) => m.type === "snapshot") < at, "after the snapshot");
  } finally {
    agent.stop();
  }
});

test("x-ray: other add-ons' console records are forwarded, and wait for the bridge like activity", async () => {
  const fake = createFakeBrowser({ flavor: "thunderbird", xray: "on" });
  const agent = TabscopeAgent.createAgent({ browser: fake.browser, log: quietLog, snapshotDebounceMs: 1 });
  try {
    const starting = agent.start();
    fake.otherLogs({ extensionId: OTHER, source: "console", level: "log", text: "early", time: 1 });
    await starting;
    fake.otherLogs({ extensionId: OTHER, source: "error", level: "error", text: "Error: boom", time: 2 });
    await settle();
    const sent = fake.ports[0].sent.filter((m) => m.name === "tabscope.onAddonConsole").map((m) => m.args[0].text);
    assert.deepEqual(sent, ["early", "Error: boom"]);
  } finally {
    agent.stop();
  }
});

test("x-ray: reloading an add-on answers, marks the reload in its console, and says why not", async () => {
  const { fake, port, agent } = await started("thunderbird", {}, { xray: "on" });
  fake.otherSets(OTHER, "Other", 1, "k", "v");
  const ok = await call(port, "agent.reloadAddon", { extensionId: OTHER }, 1);
  assert.equal(ok.result.ok, true);
  assert.deepEqual(fake.reloaded, [OTHER]);
  const bad = await call(port, "agent.reloadAddon", { extensionId: "nobody@x" }, 2);
  assert.match(bad.error, /reload of nobody@x failed: no add-on nobody@x is installed/);
  await settle();
  const marks = port.sent.filter((m) => m.name === "tabscope.onAddonConsole").map((m) => m.args[0]);
  assert.deepEqual(marks.map((r) => [r.extensionId, r.source, r.level]), [[OTHER, "reload", "info"], ["nobody@x", "reload", "error"]]);
  agent.stop();
  const off = await started("firefox", {}, { xray: "refused" });
  const r = await call(off.port, "agent.reloadAddon", { extensionId: OTHER }, 1);
  assert.match(r.error, /reloading an add-on needs x-ray, which is refused/);
  off.agent.stop();
});
