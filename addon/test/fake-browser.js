// A fake `browser` that behaves like Thunderbird 153 as measured (see
// ../shared/docs/browser-facts.md): string-only session values, "Invalid tab
// ID: N" errors, onCreated -> onActivated -> onUpdated for a new tab,
// tabs.onRemoved with isWindowClosing before windows.onRemoved.
"use strict";

class EventTarget {
  constructor() { this.listeners = []; }
  addListener(fn) { this.listeners.push(fn); }
  removeListener(fn) { this.listeners = this.listeners.filter((f) => f !== fn); }
  hasListener(fn) { return this.listeners.includes(fn); }
  fire(...args) { for (const fn of [...this.listeners]) fn(...args); }
}

function clone(v) { return v === undefined ? undefined : JSON.parse(JSON.stringify(v)); }

/**
 * @param {object} o
 *   flavor: "thunderbird" (default) or "firefox";
 *   connectNative: (name) => port, the native side (default: a MemoryPort);
 *   xray: "on" (the experiment runs: browser.tabscopeXray, modelled on
 *     addon/xray/parent.js), "refused" (declared in the manifest, but the
 *     browser runs no experiments), or absent.
 */
function createFakeBrowser(o = {}) {
  const flavor = o.flavor || "thunderbird";
  const tb = flavor === "thunderbird";
  let nextTab = 1;
  let nextWindow = 1;
  const windows = new Map(); // id -> {win, tabs: [tab]}
  const values = { tab: new Map(), window: new Map() };
  const storage = {};
  let hostAccess = o.hostAccess === true;
  const tick = () => new Promise((r) => setImmediate(r));

  const ev = () => new EventTarget();
  const tabsEvents = { onActivated: ev(), onAttached: ev(), onCreated: ev(), onDetached: ev(),
    onMoved: ev(), onRemoved: ev(), onUpdated: ev() };
  if (!tb) Object.assign(tabsEvents, { onHighlighted: ev(), onReplaced: ev(), onZoomChange: ev() });

  // Thunderbird renumbers a tab it moves to another window, with no event;
  // the old id still finds it (measured on 153.8, tests/tests/browsers.rs).
  const renamed = new Map();
  function findTab(id) {
    id = renamed.get(id) ?? id;
    for (const w of windows.values()) {
      const t = w.tabs.find((x) => x.id === id);
      if (t) return { w, t };
    }
    throw new Error(`Invalid tab ID: ${id}`);
  }
  function findWindow(id) {
    const w = windows.get(id);
    if (!w) throw new Error(`Invalid window ID: ${id}`);
    return w;
  }
  function reindex(w) { w.tabs.forEach((t, i) => { t.index = i; t.windowId = w.win.id; }); }
  function tabObj(t) { return clone(t); }
  function winObj(w, populate) {
    const out = clone(w.win);
    if (populate) out.tabs = w.tabs.map(tabObj);
    return out;
  }

  function newTab(windowId, props = {}) {
    const w = findWindow(windowId);
    const content = props.url !== undefined || props.type === "content";
    const t = tb && !content
      ? { id: nextTab++, index: 0, windowId, highlighted: false, active: false, status: "complete",
          width: 0, height: 0, groupId: -1, splitViewId: -1, cookieStoreId: "firefox-default",
          favIconUrl: "chrome://messenger/skin/icons/new/compact/folder.svg", spaceId: 1, type: "mail", mailTab: true }
      : { id: nextTab++, index: 0, windowId, highlighted: false, active: false, status: "loading",
          width: 1321, height: 626, groupId: -1, splitViewId: -1, cookieStoreId: "firefox-default",
          url: "about:blank", title: "Loading…", type: "content", mailTab: false };
    const at = props.index === undefined ? w.tabs.length : Math.min(props.index, w.tabs.length);
    w.tabs.splice(at, 0, t);
    reindex(w);
    return { w, t };
  }

  function activate(w, t) {
    const prev = w.tabs.find((x) => x.active);
    for (const x of w.tabs) { x.active = x === t; x.highlighted = x === t; }
    tabsEvents.onActivated.fire({ tabId: t.id, windowId: w.win.id, previousTabId: prev ? prev.id : undefined });
  }

  function update(t, change) {
    Object.assign(t, change);
    tabsEvents.onUpdated.fire(t.id, clone(change), tabObj(t));
  }

  function checkValue(fn, value) {
    if (tb && typeof value !== "string") throw new Error(`Incorrect argument types for sessions.${fn}.`);
    if (value === undefined) throw new Error(`Incorrect argument types for sessions.${fn}.`);
  }

  const tabs = Object.assign({
    async create(p = {}) {
      const windowId = p.windowId || [...windows.keys()][0];
      const { w, t } = newTab(windowId, { url: p.url, index: p.index, type: "content" });
      const created = tabObj(t);
      tabsEvents.onCreated.fire(created);
      if (p.active !== false) activate(w, t);
      if (p.url && p.url !== "about:blank") {
        setImmediate(() => {
          update(t, { status: "loading", url: p.url });
          update(t, { title: p.url.replace(/^\w+:\/\//, "") });
          update(t, { status: "complete" });
        });
      } else {
        setImmediate(() => update(t, { status: "complete" }));
      }
      return created;
    },
    async get(id) { return tabObj(findTab(id).t); },
    async getCurrent() { return undefined; },
    async query(q = {}) {
      const out = [];
      for (const w of windows.values()) {
        for (const t of w.tabs) {
          if (q.active !== undefined && t.active !== q.active) continue;
          if (q.windowId !== undefined && t.windowId !== q.windowId) continue;
          if (q.type !== undefined && t.type !== q.type) continue;
          out.push(tabObj(t));
        }
      }
      return out;
    },
    async update(id, props = {}) {
      const { w, t } = findTab(id);
      const before = tabObj(t); // Thunderbird resolves with the old url
      if (props.url) setImmediate(() => update(t, { status: "loading", url: props.url }));
      if (props.active) activate(w, t);
      return before;
    },
    async reload(id) {
      const { t } = findTab(id);
      setImmediate(() => { update(t, { status: "loading" }); update(t, { status: "complete" }); });
    },
    async duplicate(id) {
      const { t } = findTab(id);
      return tabs.create({ windowId: t.windowId, url: t.url, index: t.index + 1 });
    },
    async move(ids, props) {
      const list = Array.isArray(ids) ? ids : [ids];
      const moved = [];
      for (const id of list) {
        const { w, t } = findTab(id);
        const target = props.windowId !== undefined ? findWindow(props.windowId) : w;
        const from = t.index;
        if (target === w) {
          // As measured: index 0 did nothing in Thunderbird; -1 moves to the end.
          if (props.index === 0 && tb) { moved.push(tabObj(t)); continue; }
          w.tabs.splice(from, 1);
          const to = props.index === -1 ? w.tabs.length : Math.min(props.index, w.tabs.length);
          w.tabs.splice(to, 0, t);
          reindex(w);
          if (to !== from) tabsEvents.onMoved.fire(t.id, { windowId: w.win.id, fromIndex: from, toIndex: to });
        } else {
          w.tabs.splice(from, 1);
          reindex(w);
          tabsEvents.onDetached.fire(t.id, { oldWindowId: w.win.id, oldPosition: from });
          if (t.active && w.tabs.length) activate(w, w.tabs[Math.min(from, w.tabs.length - 1)]);
          t.active = false;
          const to = props.index === -1 ? target.tabs.length : Math.min(props.index, target.tabs.length);
          target.tabs.splice(to, 0, t);
          reindex(target);
          // The event still names the old id, as Thunderbird's does.
          const old = t.id;
          if (tb && o.renumberOnMove !== false) {
            t.id = nextTab++;
            renamed.set(old, t.id);
          }
          tabsEvents.onAttached.fire(old, { newWindowId: target.win.id, newPosition: to });
          if (!target.tabs.some((x) => x.active)) activate(target, t);
        }
        moved.push(tabObj(t));
      }
      return Array.isArray(ids) ? moved : moved[0];
    },
    async remove(ids) {
      for (const id of Array.isArray(ids) ? ids : [ids]) {
        const { w, t } = findTab(id);
        w.tabs.splice(t.index, 1);
        reindex(w);
        values.tab.delete(id);
        tabsEvents.onRemoved.fire(id, { windowId: w.win.id, isWindowClosing: false });
        if (t.active && w.tabs.length) activate(w, w.tabs[Math.min(t.index, w.tabs.length - 1)]);
      }
    },
    // As in Thunderbird 153: pages need the optional <all_urls> granted.
    async executeScript(id, details) {
      const { t } = findTab(id);
      if (t.type !== "content" || !hostAccess) throw new Error("Missing host permission for the tab");
      return [details && details.code ? `ran: ${details.code}` : null];
    },
    async insertCSS(id) { if (findTab(id).t.type !== "content" || !hostAccess) throw new Error("Missing host permission for the tab"); },
    async removeCSS(id) { if (findTab(id).t.type !== "content" || !hostAccess) throw new Error("Missing host permission for the tab"); },
    async sendMessage(id) {
      findTab(id);
      throw new Error("Could not establish connection. Receiving end does not exist.");
    },
    connect() { throw new Error("not in the fake"); },
  }, tabsEvents);

  const windowsEvents = { onCreated: ev(), onRemoved: ev(), onFocusChanged: ev() };
  const windowsApi = Object.assign({
    WINDOW_ID_NONE: -1,
    async get(id, info = {}) { return winObj(findWindow(id), info.populate); },
    async getAll(info = {}) {
      if (info.windowTypes && info.windowTypes.some((t) => !["normal", "popup", "messageCompose", "messageDisplay", "panel", "app", "devtools"].includes(t))) {
        throw new Error("Invalid enumeration value");
      }
      return [...windows.values()].map((w) => winObj(w, info.populate));
    },
    async getCurrent(info = {}) { return winObj([...windows.values()][0], info.populate); },
    async getLastFocused(info = {}) { return winObj([...windows.values()][0], info.populate); },
    async create(data = {}) {
      const w = addWindow({ focused: true });
      windowsEvents.onCreated.fire(winObj(w, false));
      if (data.tabId !== undefined) await tabs.move(data.tabId, { windowId: w.win.id, index: -1 });
      else {
        const { t } = newTab(w.win.id, { url: data.url || "about:blank", type: "content" });
        tabsEvents.onCreated.fire(tabObj(t));
        activate(w, t);
      }
      focus(w.win.id);
      return winObj(w, true);
    },
    async update(id, info = {}) {
      const w = findWindow(id);
      if (info.state) w.win.state = info.state;
      if (info.focused) focus(id);
      return winObj(w, false);
    },
    async remove(id) { closeWindow(id); },
  }, windowsEvents);

  function addWindow(extra = {}) {
    const id = nextWindow++;
    const w = { win: Object.assign({ id, focused: false, top: 0, left: 0, width: 1366, height: 768, incognito: false,
      type: "normal", state: "maximized", alwaysOnTop: false, title: "Home - Mozilla Thunderbird" }, extra), tabs: [] };
    windows.set(id, w);
    return w;
  }

  function focus(id) {
    for (const w of windows.values()) w.win.focused = w.win.id === id;
    windowsEvents.onFocusChanged.fire(id);
  }

  function closeWindow(id) {
    const w = findWindow(id);
    for (const t of [...w.tabs]) {
      values.tab.delete(t.id);
      tabsEvents.onRemoved.fire(t.id, { windowId: id, isWindowClosing: true });
    }
    windows.delete(id);
    values.window.delete(id);
    windowsEvents.onRemoved.fire(id);
  }

  const sessions = {
    async getTabValue(id, key) { findTab(id); return clone((values.tab.get(id) || {})[key]); },
    async setTabValue(id, key, value) {
      findTab(id);
      checkValue("setTabValue", value);
      if (!values.tab.has(id)) values.tab.set(id, {});
      values.tab.get(id)[key] = typeof value === "string" ? value : JSON.parse(JSON.stringify(value, (k, v) => (typeof v === "function" ? null : v)));
    },
    async removeTabValue(id, key) { findTab(id); delete (values.tab.get(id) || {})[key]; },
  };
  if (!tb) {
    Object.assign(sessions, {
      async getWindowValue(id, key) { findWindow(id); return clone((values.window.get(id) || {})[key]); },
      async setWindowValue(id, key, value) {
        findWindow(id);
        checkValue("setWindowValue", value);
        if (!values.window.has(id)) values.window.set(id, {});
        values.window.get(id)[key] = clone(value);
      },
      async removeWindowValue(id, key) { findWindow(id); delete (values.window.get(id) || {})[key]; },
      async getRecentlyClosed() { return []; },
    });
  }

  const ports = [];
  // Ways in from other add-ons and pages; the agent must take none of them.
  const inbound = () => {
    const listeners = [];
    return { listeners, addListener: (f) => listeners.push(f), removeListener() {}, hasListener: () => false };
  };
  const runtime = {
    onMessage: inbound(), onMessageExternal: inbound(), onConnect: inbound(), onConnectExternal: inbound(),
    id: tb ? "tabscope-agent@tabscope.dev" : "tabscope-agent@tabscope.dev",
    lastError: null,
    getManifest() {
      return o.xray ? { manifest_version: 2, experiment_apis: { tabscopeXray: {} } } : { manifest_version: 2 };
    },
    async getBrowserInfo() {
      return tb ? { name: "Thunderbird", vendor: "Mozilla", version: "153.7.0", buildID: "20261101000000" }
        : { name: "Firefox", vendor: "Mozilla", version: "153.7.0", buildID: "20261101000000" };
    },
    connectNative(name) {
      const port = o.connectNative ? o.connectNative(name) : new MemoryPort(name);
      ports.push(port);
      return port;
    },
  };

  // Other add-ons, as x-ray sees them: id -> { name, tab: Map(tabId -> {key: value}) }.
  const others = new Map();
  const activity = new EventTarget();
  const consoleEvents = new EventTarget();
  const reloaded = [];
  const xray = {
    async info() {
      return { app: flavor, extensions: [...others].map(([id, a]) => ({ id, name: a.name, active: true })) };
    },
    async listValues() {
      const values = [];
      for (const [extensionId, a] of others) {
        for (const [id, kv] of a.tab) {
          for (const [key, value] of Object.entries(kv)) values.push({ scope: "tab", id, extensionId, key, value: clone(value) });
        }
      }
      return { extensions: (await xray.info()).extensions, values };
    },
    async setValue(scope, id, extensionId, key, value) {
      findTab(id);
      if (tb && typeof value !== "string") throw new Error("x-ray: Thunderbird stores session values as strings only, for every add-on");
      other(extensionId).tab.set(id, Object.assign(other(extensionId).tab.get(id) || {}, { [key]: clone(value) }));
    },
    async removeValue(scope, id, extensionId, key) { delete (other(extensionId).tab.get(id) || {})[key]; },
    onActivity: activity,
    onConsole: consoleEvents,
    /** As the experiment: a known add-on comes back; an unknown one is the browser's error. */
    async reloadAddon(extensionId) {
      if (!others.has(extensionId)) throw new Error(`x-ray: no add-on ${extensionId} is installed in this browser`);
      reloaded.push(extensionId);
      return { extensionId, extensionName: others.get(extensionId).name, version: "1.0", ms: 5, ok: true };
    },
  };
  function other(id, name = null) {
    if (!others.has(id)) others.set(id, { name, tab: new Map() });
    return others.get(id);
  }

  const permissionEvents = { onAdded: ev(), onRemoved: ev() };
  const permissions = Object.assign({
    async contains(p) { return hostAccess && (p.origins || []).every((x) => x === "<all_urls>"); },
  }, permissionEvents);

  const browser = {
    tabs, windows: windowsApi, sessions, runtime, permissions,
    storage: { local: {
      async get(key) { return key in storage ? { [key]: clone(storage[key]) } : {}; },
      async set(obj) { Object.assign(storage, clone(obj)); },
    } },
  };

  // The world starts empty, as Thunderbird's background page sees it;
  // `startUp()` opens the main window with its mail tab, as TB does ~1 s later.
  if (o.xray === "on") browser.tabscopeXray = xray;
  const control = {
    browser, ports, values, storage, tick,
    /** The user resizes or retitles a window: no event says so. */
    changeWindow(id, props) { Object.assign(findWindow(id).win, props); },
    /** The user clicks "Allow on all pages" (or takes it back). */
    setHostAccess(on) {
      hostAccess = on;
      (on ? permissionEvents.onAdded : permissionEvents.onRemoved).fire({ permissions: [], origins: ["<all_urls>"] });
    },
    /** Another add-on stores a value, behind the agent's back, as x-ray finds it. */
    otherSets(extensionId, name, tabId, key, value) { other(extensionId, name).tab.set(tabId, Object.assign(other(extensionId).tab.get(tabId) || {}, { [key]: value })); },
    otherValue: (extensionId, tabId, key) => (others.get(extensionId)?.tab.get(tabId) || {})[key],
    /** Another add-on's API call, as ExtensionActivityLog reports it. */
    otherCalls(record) { activity.fire(record); },
    /** Another add-on's console record, as x-ray's process scripts report it. */
    otherLogs(record) { consoleEvents.fire(record); },
    reloaded,
    startUp() {
      const w = addWindow({ focused: false, title: null });
      windowsEvents.onCreated.fire(winObj(w, false));
      const { t } = newTab(w.win.id, tb ? {} : { url: "about:home", type: "content" });
      t.active = true; t.highlighted = true;
      tabsEvents.onCreated.fire(tabObj(t));
      w.win.title = tb ? "Home - Mozilla Thunderbird" : "Mozilla Firefox";
      focus(w.win.id);
      return { windowId: w.win.id, tabId: t.id };
    },
    closeWindow,
    windowCount: () => windows.size,
    tabsOf: (id) => findWindow(id).tabs.map(tabObj),
  };
  return control;
}

/** A port that keeps what the agent posts and lets tests play the bridge. */
class MemoryPort {
  constructor(name) {
    this.name = name;
    this.sent = [];
    this.onMessage = new EventTarget();
    this.onDisconnect = new EventTarget();
    this.error = null;
    this.connected = true;
  }
  postMessage(msg) {
    if (!this.connected) throw new Error("Attempt to postMessage on disconnected port");
    this.sent.push(JSON.parse(JSON.stringify(msg)));
  }
  disconnect() { this.connected = false; }
  /** The bridge goes away (error null) or never existed (error set). */
  drop(error) {
    this.connected = false;
    this.error = error ? { message: error } : null;
    this.onDisconnect.fire(this);
  }
  deliver(msg) { this.onMessage.fire(msg); }
}

module.exports = { createFakeBrowser, MemoryPort, EventTarget };
