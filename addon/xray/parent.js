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

// ----- every add-on's activity, from browser start-up on -----

// Records that arrive before the agent listens (x-ray starts with the
// browser, the agent's background page later) wait here, at most this many.
const MAX_WAITING = 20000;

const activity = {
  started: false,
  names: new Map(),
  subscribed: new Map(),
  sinks: new Set(),
  waiting: [],
  dropped: 0,
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
    const listener = (record) => this.deliver(summarise(id, this.names, record));
    ExtensionActivityLog.addListener(id, listener);
    this.subscribed.set(id, listener);
  },

  deliver(record) {
    if (this.sinks.size === 0) {
      if (this.waiting.length < MAX_WAITING) this.waiting.push(record);
      else this.dropped += 1;
      return;
    }
    for (const fire of this.sinks) {
      try { fire.async(record); } catch (e) { /* that context is closing */ }
    }
  },

  /** The agent listens: what waited goes first, and a count of what did not fit. */
  attach(fire) {
    this.sinks.add(fire);
    const waiting = this.waiting.splice(0);
    if (this.dropped > 0) {
      waiting.push({ extensionId: SELF, extensionName: "tabscope x-ray", type: "tabscope_dropped",
        name: `${this.dropped} records of other add-ons were dropped before the agent listened`,
        viewType: null, time: Date.now(), data: { dropped: this.dropped } });
      this.dropped = 0;
    }
    for (const r of waiting) fire.async(r);
    return () => this.sinks.delete(fire);
  },
};

var tabscopeXray = class extends ExtensionCommon.ExtensionAPI {
  /** At browser start-up ("events": ["startup"]), before most add-ons start. */
  onStartup() {
    try { activity.start(); } catch (e) { Cu.reportError(e); }
  }

  onShutdown() {
    activity.stop();
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
