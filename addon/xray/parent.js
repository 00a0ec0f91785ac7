/*
 * tabscope x-ray: the privileged half of the agent (a WebExtension
 * experiment, scope addon_parent). It reads and writes every add-on's
 * session values where the browser keeps them, and forwards every add-on's
 * API activity. Everything it returns is plain JSON; errors are caught here
 * and returned as messages, since a throw in parent code reaches the agent
 * only as "An unexpected error occurred".
 *
 * Where the values live (measured on Thunderbird and Firefox ESR 153):
 * - Thunderbird: tabInfo._ext.extensionSession[makeWidgetId(id)][key], a string.
 * - Firefox: SessionStore custom values "extension:<id>:<key>", JSON text.
 */
"use strict";

/* global ChromeUtils, Services, WebExtensionPolicy, Cc, Ci, Cu */

var { ExtensionCommon } = ChromeUtils.importESModule("resource://gre/modules/ExtensionCommon.sys.mjs");
var { ExtensionUtils } = ChromeUtils.importESModule("resource://gre/modules/ExtensionUtils.sys.mjs");

const THUNDERBIRD_ID = "{3550f703-e582-4d05-9a08-453d09bdfdc6}";
const isThunderbird = () => Services.appinfo.ID === THUNDERBIRD_ID;
// The agent's own id: its own values and calls are not x-rayed (it reports
// those itself, and its polling would drown everything else).
const SELF = "tabscope-agent@tabscope.dev";
// An activity record's arguments are cut to this many characters of JSON.
const MAX_ARGS_CHARS = 16 * 1024;

function trackers() {
  const { ExtensionParent } = ChromeUtils.importESModule("resource://gre/modules/ExtensionParent.sys.mjs");
  const g = ExtensionParent.apiManager.global;
  return { tabTracker: g.tabTracker, windowTracker: g.windowTracker };
}

/** Every add-on the browser knows: active ones, and disabled ones whose values stay. */
async function addons() {
  const out = new Map();
  try {
    const { AddonManager } = ChromeUtils.importESModule("resource://gre/modules/AddonManager.sys.mjs");
    for (const a of await AddonManager.getAddonsByTypes(["extension"])) {
      out.set(a.id, { id: a.id, name: a.name, active: a.isActive });
    }
  } catch (e) { /* the AddonManager is optional; active policies follow */ }
  for (const p of WebExtensionPolicy.getActiveExtensions()) {
    out.set(p.id, { id: p.id, name: p.name, active: true });
  }
  return out;
}

/** Thunderbird keys values by widget id; maps one back to extension ids. */
function widgetIds(known) {
  const map = new Map();
  for (const id of known.keys()) {
    const w = ExtensionCommon.makeWidgetId(id);
    map.set(w, (map.get(w) || []).concat(id));
  }
  return map;
}

function* thunderbirdTabs() {
  for (const win of Services.wm.getEnumerator("mail:3pane")) {
    if (!win.gTabmail) continue; // still starting
    for (const info of win.gTabmail.tabInfo) yield info;
  }
}

function* firefoxWindows() {
  for (const win of Services.wm.getEnumerator("navigator:browser")) {
    if (win.gBrowser) yield win;
  }
}

function sessionStore() {
  return ChromeUtils.importESModule("resource:///modules/sessionstore/SessionStore.sys.mjs").SessionStore;
}

/** Splits "extension:<id>:<key>"; Gecko ids hold no colon. */
function splitFirefoxKey(k) {
  if (!k.startsWith("extension:")) return null;
  const rest = k.slice("extension:".length);
  const i = rest.indexOf(":");
  return i < 0 ? null : { extensionId: rest.slice(0, i), key: rest.slice(i + 1) };
}

async function listValues() {
  const known = await addons();
  const values = [];
  const { tabTracker, windowTracker } = trackers();
  if (isThunderbird()) {
    const widgets = widgetIds(known);
    for (const info of thunderbirdTabs()) {
      const session = info._ext && info._ext.extensionSession;
      if (!session) continue;
      let id;
      try { id = tabTracker.getId(info); } catch (e) { continue; }
      for (const [widget, kv] of Object.entries(session)) {
        // Two ids can share a widget id; then the value is listed for each.
        const owners = widgets.get(widget) || [`(widget ${widget})`];
        for (const extensionId of owners) {
          if (extensionId === SELF) continue;
          for (const [key, value] of Object.entries(kv || {})) {
            values.push({ scope: "tab", id, extensionId, key, value, ambiguous: owners.length > 1 });
          }
        }
      }
    }
  } else {
    const store = sessionStore();
    const add = (scope, id, extData) => {
      for (const [k, text] of Object.entries(extData || {})) {
        const s = splitFirefoxKey(k);
        if (!s || s.extensionId === SELF) continue;
        let value;
        try { value = JSON.parse(text); } catch (e) { value = text; }
        values.push({ scope, id, extensionId: s.extensionId, key: s.key, value });
      }
    };
    for (const win of firefoxWindows()) {
      try {
        const w = JSON.parse(store.getWindowState(win));
        add("window", windowTracker.getId(win), w.windows && w.windows[0] && w.windows[0].extData);
      } catch (e) { /* a window still opening */ }
      for (const tab of win.gBrowser.tabs) {
        try {
          add("tab", tabTracker.getId(tab), JSON.parse(store.getTabState(tab)).extData);
        } catch (e) { /* a tab still opening */ }
      }
    }
  }
  const extensions = [...known.values()].filter((a) => a.id !== SELF);
  // Owners of values the browser no longer knows: an add-on removed with its values left.
  for (const v of values) {
    if (!known.has(v.extensionId) && !extensions.some((e) => e.id === v.extensionId)) {
      extensions.push({ id: v.extensionId, name: null, active: false, gone: true });
    }
  }
  return { extensions, values };
}

/** Thunderbird writes session.json every few minutes: write it now. */
async function persistThunderbird() {
  const { SessionStoreManager } = ChromeUtils.importESModule("resource:///modules/SessionStoreManager.sys.mjs");
  SessionStoreManager._saveState();
  await SessionStoreManager.store._save();
}

async function change(scope, id, extensionId, key, value, remove) {
  if (!extensionId || extensionId === SELF) throw new Error("x-ray edits other add-ons' values; use the agent's own sessions for its values");
  const { tabTracker, windowTracker } = trackers();
  if (isThunderbird()) {
    if (scope !== "tab") throw new Error("Thunderbird's sessions API stores tab values only");
    if (!remove && typeof value !== "string") {
      throw new Error("Thunderbird stores session values as strings only, for every add-on: send a string (JSON text for structured data)");
    }
    const nativeTab = tabTracker.getTab(id);
    const widget = ExtensionCommon.makeWidgetId(extensionId);
    const ext = nativeTab._ext || (nativeTab._ext = {});
    const session = ext.extensionSession || (ext.extensionSession = {});
    const mine = session[widget] || (session[widget] = {});
    if (remove) delete mine[key];
    else mine[key] = value;
    await persistThunderbird();
    return remove ? null : mine[key];
  }
  const store = sessionStore();
  const k = `extension:${extensionId}:${key}`;
  if (scope === "tab") {
    const tab = tabTracker.getTab(id);
    if (remove) store.deleteCustomTabValue(tab, k);
    else store.setCustomTabValue(tab, k, JSON.stringify(value));
  } else {
    const win = windowTracker.getWindow(id);
    if (remove) store.deleteCustomWindowValue(win, k);
    else store.setCustomWindowValue(win, k, JSON.stringify(value));
  }
  return remove ? null : value;
}

// ----- activity -----

/** A record made safe to send: plain JSON, arguments cut to a size, and said so. */
function summarise(extensionId, names, r) {
  const out = {
    extensionId,
    extensionName: names.get(extensionId) || null,
    type: String(r.type),
    name: String(r.name),
    viewType: r.viewType ? String(r.viewType) : null,
    time: r.timeStamp instanceof Date ? r.timeStamp.getTime() : Date.now(),
  };
  let text;
  try {
    const seen = new WeakSet();
    text = JSON.stringify(r.data === undefined ? null : r.data, (k, v) => {
      if (typeof v === "object" && v !== null) {
        if (seen.has(v)) return "[cycle]";
        seen.add(v);
      }
      if (typeof v === "function") return "[function]";
      if (typeof v === "bigint") return v.toString();
      return v;
    });
  } catch (e) {
    text = JSON.stringify(`[not serialisable: ${e.message}]`);
  }
  if (text === undefined) text = "null";
  if (text.length > MAX_ARGS_CHARS) {
    out.data = null;
    out.truncated = { chars: text.length, head: text.slice(0, MAX_ARGS_CHARS) };
  } else {
    out.data = JSON.parse(text);
  }
  return out;
}

// ----- records for the agent, from browser start-up on -----

// Records that arrive before the agent listens (x-ray starts with the
// browser, the agent's background page later) wait here, at most this many.
const MAX_WAITING = 20000;

/** Where records go: the agent's listeners, or a bounded queue until one listens. */
class Channel {
  constructor() {
    this.sinks = new Set();
    this.waiting = [];
    this.dropped = 0;
  }

  deliver(record) {
    if (this.sinks.size === 0) {
      if (this.waiting.length < MAX_WAITING) this.waiting.push(record);
      else this.dropped += 1;
      return;
    }
    for (const fire of this.sinks) {
      try { fire.async(record); } catch (e) { /* that context is closing */ }
    }
  }

  /** The agent listens: what waited goes first, then a count of what did not fit. */
  attach(fire, droppedRecord) {
    this.sinks.add(fire);
    const waiting = this.waiting.splice(0);
    if (this.dropped > 0) {
      waiting.push(droppedRecord(this.dropped));
      this.dropped = 0;
    }
    for (const r of waiting) fire.async(r);
    return () => this.sinks.delete(fire);
  }
}

const activity = {
  started: false,
  names: new Map(),
  subscribed: new Map(),
  channel: new Channel(),
  // Native host name -> the add-on that connected to it (for its stderr).
  nativeApps: new Map(),
  timer: null,

  /** One listener per id, no wildcard: every add-on known now, and each that appears later. */
  start() {
    if (this.started) return;
    this.started = true;
    this.subscribeActive();
    // Installed add-ons, before they start: their first calls are seen too.
    addons().then((all) => {
      for (const a of all.values()) this.subscribe(a.id, a.name);
    }, () => {});
    this.onStartup = () => this.subscribeActive();
    this.apiManager().on("startup", this.onStartup);
    this.timer = Cc["@mozilla.org/timer;1"].createInstance(Ci.nsITimer);
    this.timer.initWithCallback(() => this.subscribeActive(), 500, Ci.nsITimer.TYPE_REPEATING_SLACK);
  },

  stop() {
    if (!this.started) return;
    this.started = false;
    this.timer.cancel();
    this.apiManager().off("startup", this.onStartup);
    const { ExtensionActivityLog } = ChromeUtils.importESModule("resource://gre/modules/ExtensionActivityLog.sys.mjs");
    for (const [id, listener] of this.subscribed) ExtensionActivityLog.removeListener(id, listener);
    this.subscribed.clear();
  },

  apiManager() {
    return ChromeUtils.importESModule("resource://gre/modules/ExtensionParent.sys.mjs").ExtensionParent.apiManager;
  },

  subscribeActive() {
    for (const p of WebExtensionPolicy.getActiveExtensions()) this.subscribe(p.id, p.name);
  },

  subscribe(id, name) {
    if (name) this.names.set(id, name);
    if (id === SELF || this.subscribed.has(id)) return;
    const { ExtensionActivityLog } = ChromeUtils.importESModule("resource://gre/modules/ExtensionActivityLog.sys.mjs");
    const listener = (record) => {
      if (record.type === "api_call" && /^runtime\.(connectNative|sendNativeMessage)$/.test(record.name)) {
        const app = record.data && record.data.args && record.data.args[0];
        if (typeof app === "string") this.nativeApps.set(app, id);
      }
      this.channel.deliver(summarise(id, this.names, record));
    };
    ExtensionActivityLog.addListener(id, listener);
    this.subscribed.set(id, listener);
  },

  attach(fire) {
    return this.channel.attach(fire, (dropped) => ({
      extensionId: SELF, extensionName: "tabscope x-ray", type: "tabscope_dropped",
      name: `${dropped} records of other add-ons were dropped before the agent listened`,
      viewType: null, time: Date.now(), data: { dropped },
    }));
  },
};

// ----- every add-on's console and errors -----
//
// Add-ons run out of process (background and extension pages in the
// extension process, content scripts in the page's), so their console calls
// and errors never reach this process whole. A process script in every
// child listens there and sends records here; this process adds the add-ons'
// own experiment code and the browser's messages about add-ons.

const CONSOLE_MESSAGE = "tabscope:console";
const CONSOLE_STOP = "tabscope:console-stop";
// A console record's text and its arguments are each cut to this many
// characters (as an activity record's arguments are); a stack to STACK_CHARS.
const MAX_TEXT_CHARS = 16 * 1024;
const STACK_CHARS = 8 * 1024;
// Records of one add-on a second, in each process, logs and errors apart.
const MAX_PER_SECOND = 1000;

// ----- console text, the same in every process -----
//
// These run here and, as source put before the process script, in every
// child: they may use nothing else of this file.

function wellFormed(t) { return typeof t.toWellFormed === "function" ? t.toWellFormed() : t; }
/** Cut on a character boundary, never inside a surrogate pair. */
function cut(text, max) {
  if (text.length <= max) return { text: wellFormed(text), chars: 0 };
  let end = max;
  const c = text.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end -= 1;
  return { text: wellFormed(text.slice(0, end)), chars: text.length };
}

function show(v) {
  if (typeof v === "string") return v;
  if (v === undefined) return "undefined";
  if (typeof v === "function") return `function ${v.name || "(anonymous)"}()`;
  if (typeof v === "symbol" || typeof v === "bigint") return String(v);
  if (v && typeof v === "object" && typeof v.message === "string" && typeof v.name === "string") {
    return `${v.name}: ${v.message}`;
  }
  try {
    const seen = new WeakSet();
    const t = JSON.stringify(v, (k, x) => {
      if (typeof x === "object" && x !== null) {
        if (seen.has(x)) return "[cycle]";
        seen.add(x);
      }
      if (typeof x === "function") return "[function]";
      if (typeof x === "bigint") return x.toString();
      if (x === undefined) return null;
      return x;
    });
    return t === undefined ? String(v) : t;
  } catch (e) {
    try { return String(v); } catch (e2) { return "[object]"; }
  }
}
/** The arguments as JSON values (objects as JSON, errors by name and message). */
function jsonArg(v) {
  if (v === undefined) return null;
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean" || v === null) return v;
  if (typeof v === "object" && typeof v.message === "string" && typeof v.name === "string") {
    return { name: v.name, message: v.message, stack: typeof v.stack === "string" ? v.stack : null };
  }
  const t = show(v);
  try { return JSON.parse(t); } catch (e) { return t; }
}
/** The text the console would show: format specifiers applied, arguments joined by spaces. */
function format(args) {
  const out = [];
  let i = 0;
  if (typeof args[0] === "string" && /%[sdifoOc]/.test(args[0])) {
    i = 1;
    out.push(args[0].replace(/%([sdifoOc%])/g, (m, f) => {
      if (f === "%") return "%";
      if (i >= args.length) return m;
      const a = args[i++];
      if (f === "c") return "";
      if (f === "d" || f === "i") return String(parseInt(a, 10));
      if (f === "f") return String(Number(a));
      return show(a);
    }));
  }
  for (; i < args.length; i++) out.push(show(args[i]));
  return out.join(" ");
}

function stackText(frames) {
  if (!frames) return null;
  try {
    if (Array.isArray(frames)) {
      return frames.map((f) => `${f.functionName || ""}@${f.filename}:${f.lineNumber}:${f.columnNumber}`).join("\n") || null;
    }
    return String(frames) || null;
  } catch (e) { return null; }
}

/**
 * At most `rate` records a second of each add-on (bursts of as many), kept
 * apart for errors so that a flood of logs never hides one; the rest are
 * counted and `report(id, dropped)` says so once a second (`later` is the
 * process's timer). So a chatty add-on costs the browser little more than
 * its own console calls.
 */
function makeLimiter(rate, report, later) {
  const buckets = new Map(); // "id|error" -> { id, tokens, at, dropped }
  let flushing = false;
  function flush() {
    flushing = false;
    for (const b of buckets.values()) {
      if (b.dropped) {
        report(b.id, b.dropped);
        b.dropped = 0;
      }
    }
  }
  return function allow(id, error) {
    const key = `${id}|${error ? 1 : 0}`;
    const now = Date.now();
    let b = buckets.get(key);
    if (!b) buckets.set(key, (b = { id, tokens: rate, at: now, dropped: 0 }));
    b.tokens = Math.min(rate, b.tokens + ((now - b.at) * rate) / 1000);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    b.dropped += 1;
    if (!flushing) {
      flushing = true;
      later(flush, 1000);
    }
    return false;
  };
}

/** The record that says how many were dropped. */
function droppedRecord(id, dropped, rate) {
  return {
    extensionId: id, source: "tabscope", level: "warn", time: Date.now(), dropped, earlier: false,
    text: `${dropped} console records of this add-on were dropped: more than ${rate} a second (tabscope keeps the browser responsive)`,
  };
}

/** setTimeout for code without a window (the parent's, a process script's). */
function later(fn, ms) {
  const t = Components.classes["@mozilla.org/timer;1"].createInstance(Components.interfaces.nsITimer);
  t.initWithCallback(fn, ms, Components.interfaces.nsITimer.TYPE_ONE_SHOT);
  return t;
}

const CONSOLE_TEXT_HELPERS = [wellFormed, cut, show, jsonArg, format, stackText, makeLimiter, droppedRecord, later];

/**
 * The process script, run in every content and extension process (made a
 * data: URL from its source, after CONSOLE_TEXT_HELPERS). It must use
 * nothing else of this file: it runs in another process.
 */
function consoleChild(self, maxText, stackChars, messageName, stopName, rate) {
  /* global Services, Cc, Ci, Cu, WebExtensionPolicy, WindowGlobalChild, ChromeUtils */
  const { classes: Cc, interfaces: Ci, utils: Cu } = Components;
  // The parent process runs process scripts too; it is covered there, and
  // gets only copies of the children's errors.
  if (Services.appinfo.processType === Ci.nsIXULRuntime.PROCESS_TYPE_DEFAULT) return;
  // A second load in this process (x-ray restarted) replaces the first.
  Services.obs.notifyObservers(null, stopName);

  function policyOf(url) {
    const m = /^moz-extension:\/\/([^/]+)/.exec(url || "");
    if (!m) return null;
    try { return WebExtensionPolicy.getByHostname(m[1]); } catch (e) { return null; }
  }
  function windowOf(innerId) {
    try {
      const id = Number(innerId);
      return id ? WindowGlobalChild.getByInnerWindowId(id) : null;
    } catch (e) { return null; }
  }
  /** Whose: the add-on id the browser gives, else the file's add-on, else the window's. */
  function owner(addonId, file, innerId) {
    let id = addonId || null;
    let where = null;
    let doc = null;
    try { doc = windowOf(innerId).browsingContext.window.document; } catch (e) { /* no window, or gone */ }
    const pageUrl = doc ? doc.documentURI : null;
    if (!id) { const p = policyOf(file); if (p) id = p.id; }
    if (!id && doc) {
      try { id = doc.nodePrincipal.addonId || null; } catch (e) { /* gone */ }
    }
    if (!id) return null;
    const page = policyOf(pageUrl);
    if (page && page.id === id) {
      const path = pageUrl.replace(/^moz-extension:\/\/[^/]+\//, "");
      where = /_generated_background_page\.html$/.test(path) ? "background" : path.split(/[?#]/)[0];
    } else if (pageUrl) {
      where = "content script";
    }
    return { id, where, pageUrl: where === "content script" ? pageUrl : null };
  }
  const builtIn = (id) => /@(mozilla\.(org|com)|thunderbird\.net)$/.test(id);
  const wanted = (o) => o && o.id !== self && !builtIn(o.id);

  const allow = makeLimiter(rate, (id, n) => send(droppedRecord(id, n, rate)), later);

  function send(r) {
    const text = cut(r.text, maxText);
    r.text = text.text;
    if (text.chars) r.truncated = { chars: text.chars };
    if (r.stack) r.stack = cut(r.stack, stackChars).text;
    if (r.args !== undefined) {
      let json;
      try { json = JSON.stringify(r.args); } catch (e) { json = null; }
      if (json === null || json === undefined || json.length > maxText) {
        r.args = null;
        r.truncated = Object.assign(r.truncated || { chars: text.chars || 0 }, { args: json ? json.length : 0 });
      } else {
        r.args = JSON.parse(wellFormed(json));
      }
    }
    r.process = Services.appinfo.remoteType || "parent";
    try { Services.cpmm.sendAsyncMessage(messageName, r); } catch (e) { /* the parent is going away */ }
  }

  function fromConsoleEvent(message, earlier) {
    const m = message && message.wrappedJSObject ? message.wrappedJSObject : message;
    if (!m) return;
    const o = owner(m.addonId, m.filename, m.innerID);
    if (!wanted(o) || !allow(o.id, m.level === "error")) return;
    let raw = [];
    try { raw = Array.from(Cu.waiveXrays(m.arguments) || []); } catch (e) { /* none */ }
    raw = raw.map((a) => { try { return Cu.waiveXrays(a); } catch (e) { return a; } });
    const level = ["log", "info", "warn", "error", "debug", "trace"].includes(m.level) ? m.level : "log";
    send({
      extensionId: o.id, source: "console", level, text: format(raw), args: raw.map(jsonArg),
      file: m.filename || null, line: m.lineNumber || 0, column: m.columnNumber || 0,
      functionName: m.functionName || null, time: m.timeStamp || Date.now(),
      stack: level === "error" || level === "trace" ? stackText(m.stacktrace) : null,
      where: o.where, page: o.pageUrl, earlier,
    });
  }

  // The console service gets some errors twice, with their window and
  // without (innerWindowID 0): keep the first of such a pair.
  const recent = new Map(); // signature -> [time, had a window]
  function repeated(e) {
    const now = Date.now();
    const sig = `${e.sourceName}:${e.lineNumber}:${e.columnNumber}:${e.errorMessage}`;
    const windowed = Boolean(e.innerWindowID);
    const seen = recent.get(sig);
    if (recent.size > 200) {
      for (const [k, [t]] of recent) if (now - t > 5000) recent.delete(k);
    }
    if (seen && now - seen[0] < 5000 && seen[1] !== windowed) {
      recent.delete(sig);
      return true;
    }
    recent.set(sig, [now, windowed]);
    return false;
  }

  function fromScriptError(e, earlier) {
    if (!(e instanceof Ci.nsIScriptError)) return;
    const o = owner(null, e.sourceName, e.innerWindowID);
    if (!wanted(o) || repeated(e) || !allow(o.id, true)) return;
    let stack = null;
    try { stack = e.stack ? String(e.stack) : null; } catch (x) { /* none */ }
    if (!stack) {
      try {
        const ex = e.exception;
        stack = ex && typeof ex.stack === "string" ? ex.stack : null;
      } catch (x) { /* none */ }
    }
    const warning = (e.flags & Ci.nsIScriptError.warningFlag) !== 0;
    send({
      extensionId: o.id, source: e.isPromiseRejection ? "rejection" : "error", level: warning ? "warn" : "error",
      text: e.errorMessage || e.message || "", file: e.sourceName || null, line: e.lineNumber || 0,
      column: e.columnNumber || 0, time: e.timeStamp || Date.now(), stack, category: e.category || null,
      where: o.where, page: o.pageUrl, earlier,
    });
  }

  const storage = Cc["@mozilla.org/consoleAPI-storage;1"].getService(Ci.nsIConsoleAPIStorage);
  const onConsole = (message) => { try { fromConsoleEvent(message, false); } catch (e) { /* never break the page's console */ } };
  const errors = { observe(e) { try { fromScriptError(e, false); } catch (x) { /* as above */ } } };

  // What the browser still holds from before, then everything new: no
  // message can slip between the two (one thread).
  try { for (const ev of storage.getEvents()) fromConsoleEvent(ev, true); } catch (e) { /* none kept */ }
  try { for (const e of Services.console.getMessageArray() || []) fromScriptError(e, true); } catch (e) { /* none */ }
  storage.addLogEventListener(onConsole, Services.scriptSecurityManager.getSystemPrincipal());
  Services.console.registerListener(errors);

  const stop = {
    observe() {
      try { storage.removeLogEventListener(onConsole); } catch (e) { /* gone */ }
      try { Services.console.unregisterListener(errors); } catch (e) { /* gone */ }
      try { Services.obs.removeObserver(stop, stopName); } catch (e) { /* gone */ }
      try { Services.cpmm.removeMessageListener(stopName, stopMessage); } catch (e) { /* gone */ }
    },
  };
  const stopMessage = { receiveMessage() { stop.observe(); } };
  Services.obs.addObserver(stop, stopName);
  Services.cpmm.addMessageListener(stopName, stopMessage);
}

/** A Log.sys.mjs line, "<time>\t<logger>\t<LEVEL>\t<message>", taken apart. */
function loggerLine(text) {
  const m = /^\d+\t(\S+)\t(\w+)\t([\s\S]*)$/.exec(text);
  return m ? { logger: m[1], level: m[2], message: m[3] } : null;
}

/** Who owns a file: the add-on whose root (file:, jar:) or moz-extension: host it lies under. */
function ownerOfFile(file) {
  if (!file) return null;
  const m = /^moz-extension:\/\/([^/]+)/.exec(file);
  if (m) {
    const p = WebExtensionPolicy.getByHostname(m[1]);
    return p ? p.id : null;
  }
  for (const p of WebExtensionPolicy.getActiveExtensions()) {
    const root = p.extension && p.extension.rootURI && p.extension.rootURI.spec;
    if (root && file.startsWith(root)) return p.id;
  }
  return null;
}

const console_ = {
  started: false,
  channel: new Channel(),
  scriptUrl: null,

  start() {
    if (this.started) return;
    // Off by the user's choice (`--pref extensions.tabscope.console=false`).
    if (!Services.prefs.getBoolPref("extensions.tabscope.console", true)) return;
    this.started = true;
    this.allow = makeLimiter(MAX_PER_SECOND, (id, n) => this.deliver(droppedRecord(id, n, MAX_PER_SECOND)), later);
    const args = [SELF, MAX_TEXT_CHARS, STACK_CHARS, CONSOLE_MESSAGE, CONSOLE_STOP, MAX_PER_SECOND].map((a) => JSON.stringify(a));
    const source = [...CONSOLE_TEXT_HELPERS.map(String), `(${consoleChild})(${args.join(",")});`].join("\n");
    this.scriptUrl = `data:application/javascript;charset=utf-8,${encodeURIComponent(source)}`;
    // A child names the add-on; only an add-on this browser runs is taken.
    this.fromChild = {
      receiveMessage: (m) => {
        if (m.data && typeof m.data.extensionId === "string" && WebExtensionPolicy.getByID(m.data.extensionId)) {
          this.deliver(m.data);
        }
      },
    };
    Services.ppmm.addMessageListener(CONSOLE_MESSAGE, this.fromChild);
    // Every child, present and future.
    Services.ppmm.loadProcessScript(this.scriptUrl, true);
    // This process: the add-ons' own experiment code, and the browser's
    // messages about add-ons. Earlier ones first.
    this.storage = Cc["@mozilla.org/consoleAPI-storage;1"].getService(Ci.nsIConsoleAPIStorage);
    this.onConsole = (m) => { try { this.parentConsole(m, false); } catch (e) { /* never break the console */ } };
    this.errors = { observe: (e) => { try { this.parentMessage(e, false); } catch (x) { /* as above */ } } };
    try { for (const ev of this.storage.getEvents()) this.parentConsole(ev, true); } catch (e) { /* none */ }
    try { for (const e of Services.console.getMessageArray() || []) this.parentMessage(e, true); } catch (e) { /* none */ }
    this.storage.addLogEventListener(this.onConsole, Services.scriptSecurityManager.getSystemPrincipal());
    Services.console.registerListener(this.errors);
  },

  stop() {
    if (!this.started) return;
    this.started = false;
    try { Services.ppmm.removeDelayedProcessScript(this.scriptUrl); } catch (e) { /* gone */ }
    // Loaded scripts stay loaded: tell them to stop listening.
    try { Services.ppmm.broadcastAsyncMessage(CONSOLE_STOP, {}); } catch (e) { /* gone */ }
    Services.ppmm.removeMessageListener(CONSOLE_MESSAGE, this.fromChild);
    try { this.storage.removeLogEventListener(this.onConsole); } catch (e) { /* gone */ }
    try { Services.console.unregisterListener(this.errors); } catch (e) { /* gone */ }
  },

  deliver(r) {
    if (!r || typeof r.extensionId !== "string") return;
    r.extensionName = activity.names.get(r.extensionId) || null;
    if (!r.extensionName) {
      const p = WebExtensionPolicy.getByID(r.extensionId);
      if (p) r.extensionName = p.name;
    }
    r.earlier = Boolean(r.earlier);
    this.channel.deliver(r);
  },

  /** A record made in this process, cut and sent as a child's would be. */
  own(r) {
    if (!this.allow(r.extensionId, r.level === "error")) return;
    const text = cut(String(r.text), MAX_TEXT_CHARS);
    r.text = text.text;
    if (text.chars) r.truncated = { chars: text.chars };
    if (r.stack) r.stack = cut(r.stack, STACK_CHARS).text;
    r.process = "parent";
    this.deliver(r);
  },

  /** console.* in this process: an add-on's experiment code (by file), or nothing of ours. */
  parentConsole(message, earlier) {
    const m = message && message.wrappedJSObject ? message.wrappedJSObject : message;
    if (!m) return;
    const id = m.addonId || ownerOfFile(m.filename);
    if (!id || id === SELF) return;
    let raw = [];
    try { raw = Array.from(Cu.waiveXrays(m.arguments) || []); } catch (e) { /* none */ }
    const args = raw.map(jsonArg);
    let json = null;
    try { json = JSON.stringify(args); } catch (e) { /* left out below */ }
    this.own({
      extensionId: id, source: "console", level: m.level || "log", text: format(raw),
      args: json !== null && json.length <= MAX_TEXT_CHARS ? args : null,
      file: m.filename || null, line: m.lineNumber || 0, column: m.columnNumber || 0,
      functionName: m.functionName || null, time: m.timeStamp || Date.now(), where: "experiment", earlier,
    });
  },

  /** Errors of experiment code, and the browser's messages about an add-on. */
  parentMessage(e, earlier) {
    if (e instanceof Ci.nsIScriptError) {
      // Children's errors arrive here as degraded copies (not always marked
      // as forwarded); the child's own record went first. Only when add-ons
      // run in this process are their pages' errors this process's own.
      if (e.isForwardedFromContentProcess) return;
      if (WebExtensionPolicy.useRemoteWebExtensions && /^moz-extension:/.test(e.sourceName || "")) return;
      const id = ownerOfFile(e.sourceName);
      if (!id || id === SELF) return;
      let stack = null;
      try { stack = e.stack ? String(e.stack) : null; } catch (x) { /* none */ }
      this.own({
        extensionId: id, source: e.isPromiseRejection ? "rejection" : "error",
        level: (e.flags & Ci.nsIScriptError.warningFlag) !== 0 ? "warn" : "error",
        text: e.errorMessage || "", file: e.sourceName || null, line: e.lineNumber || 0,
        column: e.columnNumber || 0, time: e.timeStamp || Date.now(), stack, where: "experiment", earlier,
      });
      return;
    }
    const text = e && typeof e.message === "string" ? e.message : "";
    const time = e && e.timeStamp ? e.timeStamp : Date.now();
    const logged = loggerLine(text);
    if (logged && logged.logger.startsWith("addons.webextension.")) {
      const { level: lvl, message: msg } = logged;
      const id = logged.logger.slice("addons.webextension.".length);
      if (id === SELF) return;
      const level = /^(ERROR|FATAL)$/.test(lvl) ? "error" : /^WARN/.test(lvl) ? "warn" : /^(DEBUG|TRACE)$/.test(lvl) ? "debug" : "info";
      this.own({ extensionId: id, source: "browser", level, text: msg, time, where: "browser", earlier });
      return;
    }
    const stderr = /^stderr output from native app (\S+): ([\s\S]*)$/.exec(text);
    if (stderr) {
      const [, app, msg] = stderr;
      if (app === "tabscope_bridge") return; // the agent's own host: its log is bridge.log
      const id = activity.nativeApps.get(app) || `(native app ${app})`;
      this.own({ extensionId: id, source: "browser", level: "warn", text: msg, time, where: `native app ${app}`, earlier });
    }
  },

  attach(fire) {
    return this.channel.attach(fire, (dropped) => ({
      extensionId: SELF, extensionName: "tabscope x-ray", source: "tabscope", level: "warn",
      text: `${dropped} console records of other add-ons were dropped before the agent listened`,
      time: Date.now(), earlier: false, dropped,
    }));
  },
};

// ----- reloading an add-on -----

/** Reloads an installed add-on from its files, as about:debugging's Reload does. */
async function reloadAddon(id) {
  if (typeof id !== "string" || !id) throw new Error("reloadAddon needs an add-on id");
  if (id === SELF) throw new Error("the tabscope agent does not reload itself");
  const { AddonManager } = ChromeUtils.importESModule("resource://gre/modules/AddonManager.sys.mjs");
  const addon = await AddonManager.getAddonByID(id);
  if (!addon) throw new Error(`no add-on ${id} is installed in this browser`);
  // Experiment scripts are loaded through the script cache, keyed by their
  // URL: without this the old parent code runs again after the reload.
  Services.obs.notifyObservers(null, "startupcache-invalidate");
  const started = Date.now();
  // Messages about the add-on while it restarts: a broken manifest or a
  // syntax error is said here, in the browser's words.
  const said = [];
  const listen = { observe: (e) => {
    const text = e && typeof e.message === "string" ? e.message : "";
    if (e instanceof Ci.nsIScriptError) {
      if (ownerOfFile(e.sourceName) === id) said.push(`${e.errorMessage} (${e.sourceName}:${e.lineNumber})`);
    } else if (text.includes(id)) {
      const logged = loggerLine(text);
      said.push(logged ? logged.message : text);
    }
  } };
  Services.console.registerListener(listen);
  try {
    await addon.reload();
    // Startup continues after reload() resolves; give it a moment to fail.
    for (let i = 0; i < 20 && !WebExtensionPolicy.getByID(id); i++) await new Promise((r) => later(r, 50));
  } finally {
    Services.console.unregisterListener(listen);
  }
  const policy = WebExtensionPolicy.getByID(id);
  const after = await AddonManager.getAddonByID(id);
  const result = {
    extensionId: id, extensionName: (after && after.name) || addon.name || null,
    version: after ? after.version : null, ms: Date.now() - started, ok: Boolean(policy && after && after.isActive),
  };
  if (!result.ok) {
    result.error = said.length ? said.join("\n") : `${id} did not start again after the reload`;
  }
  return result;
}

var tabscopeXray = class extends ExtensionCommon.ExtensionAPI {
  /** At browser start-up ("events": ["startup"]), before most add-ons start. */
  onStartup() {
    try { activity.start(); } catch (e) { Cu.reportError(e); }
    try { console_.start(); } catch (e) { Cu.reportError(e); }
  }

  onShutdown() {
    activity.stop();
    console_.stop();
  }

  getAPI(context) {
    const guard = (fn) => async (...args) => {
      try {
        return await fn(...args);
      } catch (e) {
        // An ExtensionError keeps its message; anything else would reach
        // the agent as "An unexpected error occurred".
        throw new ExtensionUtils.ExtensionError(`x-ray: ${e && e.message ? e.message : e}`);
      }
    };
    return {
      tabscopeXray: {
        info: guard(async () => ({
          app: isThunderbird() ? "thunderbird" : "firefox",
          extensions: [...(await addons()).values()].filter((a) => a.id !== SELF),
        })),
        listValues: guard(listValues),
        setValue: guard((scope, id, extensionId, key, value) => change(scope, id, extensionId, key, value, false)),
        removeValue: guard((scope, id, extensionId, key) => change(scope, id, extensionId, key, undefined, true)),
        reloadAddon: guard(reloadAddon),
        onConsole: new ExtensionCommon.EventManager({
          context,
          name: "tabscopeXray.onConsole",
          register: (fire) => {
            console_.start();
            return console_.attach(fire);
          },
        }).api(),
        onActivity: new ExtensionCommon.EventManager({
          context,
          name: "tabscopeXray.onActivity",
          register: (fire) => {
            activity.start();
            return activity.attach(fire);
          },
        }).api(),
      },
    };
  }
};
