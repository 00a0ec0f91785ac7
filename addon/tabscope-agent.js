/*
 * tabscope agent: reports windows, tabs and session values to the
 * tabscope bridge (a native-messaging host) and runs the commands it sends.
 *
 * One file, no dependencies. In tabscope's own add-on, background.js starts
 * it; another add-on can include this file and call TabscopeAgent.start() to
 * make its own session values visible (session values are visible only to
 * the add-on that set them). See addon/README.md.
 */
(function (root) {
  "use strict";

  const PROTOCOL_VERSION = 1;
  const AGENT_VERSION = "0.1.0";
  const HOST_NAME = "tabscope_bridge";
  const REGISTRY_KEY = "tabscope.knownKeys";
  const PROBE_KEY = "tabscope.probe";
  // x-ray's events: another add-on's value changed; another add-on's API activity.
  const ADDON_VALUE_CHANGED = "tabscope.onAddonValueChanged";
  const ADDON_ACTIVITY = "tabscope.onAddonActivity";
  // x-ray: another add-on's console call, error or rejection; a reload of one.
  const ADDON_CONSOLE = "tabscope.onAddonConsole";
  const XRAY_SESSION_FN = /^sessions\.(get|set|remove)(Tab|Window)Value$/;

  // Parameter names per function, as the API reference names them. Must
  // equal METHODS in shared/src/methods.rs (a test compares them).
  const API_METHODS = {
    "tabs.create": ["createProperties"],
    "tabs.duplicate": ["tabId", "duplicateProperties"],
    "tabs.executeScript": ["tabId", "details"],
    "tabs.get": ["tabId"],
    "tabs.getCurrent": [],
    "tabs.insertCSS": ["tabId", "details"],
    "tabs.move": ["tabIds", "moveProperties"],
    "tabs.query": ["queryInfo"],
    "tabs.reload": ["tabId", "reloadProperties"],
    "tabs.remove": ["tabIds"],
    "tabs.removeCSS": ["tabId", "details"],
    "tabs.sendMessage": ["tabId", "message", "options"],
    "tabs.update": ["tabId", "updateProperties"],
    "tabs.captureTab": ["tabId", "options"],
    "tabs.captureVisibleTab": ["windowId", "options"],
    "tabs.detectLanguage": ["tabId"],
    "tabs.discard": ["tabIds"],
    "tabs.getZoom": ["tabId"],
    "tabs.getZoomSettings": ["tabId"],
    "tabs.goBack": ["tabId"],
    "tabs.goForward": ["tabId"],
    "tabs.group": ["options"],
    "tabs.hide": ["tabIds"],
    "tabs.highlight": ["highlightInfo"],
    "tabs.moveInSuccession": ["tabIds", "tabId", "options"],
    "tabs.print": [],
    "tabs.printPreview": [],
    "tabs.saveAsPDF": ["pageSettings"],
    "tabs.setZoom": ["tabId", "zoomFactor"],
    "tabs.setZoomSettings": ["tabId", "zoomSettings"],
    "tabs.show": ["tabIds"],
    "tabs.toggleReaderMode": ["tabId"],
    "tabs.ungroup": ["tabIds"],
    "tabs.warmup": ["tabId"],
    "windows.create": ["createData"],
    "windows.get": ["windowId", "getInfo"],
    "windows.getAll": ["getInfo"],
    "windows.getCurrent": ["getInfo"],
    "windows.getLastFocused": ["getInfo"],
    "windows.openDefaultBrowser": ["url"],
    "windows.remove": ["windowId"],
    "windows.update": ["windowId", "updateInfo"],
    "sessions.getTabValue": ["tabId", "key", "extensionId"],
    "sessions.setTabValue": ["tabId", "key", "value", "extensionId"],
    "sessions.removeTabValue": ["tabId", "key", "extensionId"],
    "sessions.getWindowValue": ["windowId", "key", "extensionId"],
    "sessions.setWindowValue": ["windowId", "key", "value", "extensionId"],
    "sessions.removeWindowValue": ["windowId", "key", "extensionId"],
    "sessions.getRecentlyClosed": ["filter"],
    "sessions.restore": ["sessionId"],
    "sessions.forgetClosedTab": ["windowId", "sessionId"],
    "sessions.forgetClosedWindow": ["sessionId"],
    "agent.snapshot": [],
    "agent.knownKeys": [],
    "agent.probeKey": ["key"],
    "agent.forgetKey": ["key"],
    "agent.addons": [],
    "agent.reloadAddon": ["extensionId"],
  };

  // What each parameter must hold, by name: the same table as kind_of in
  // shared/src/methods.rs (a test feeds both the same cases).
  function paramKind(name) {
    switch (name) {
      case "tabId": case "windowId": return "id";
      case "tabIds": return "ids";
      case "key": case "extensionId": return "key";
      case "url": case "sessionId": return "text";
      case "zoomFactor": return "number";
      case "value": case "message": return "any";
      default: return "object";
    }
  }

  const KIND_WANTED = {
    id: "an integer id", ids: "an integer id or a non-empty list of them",
    key: "a non-empty string", text: "a string", number: "a number",
    any: "any JSON value", object: "an object",
  };

  const isId = (v) => Number.isSafeInteger(v);
  const isPlainObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

  function kindHolds(kind, v) {
    if (v === null || v === undefined || kind === "any") return true;
    switch (kind) {
      case "id": return isId(v);
      case "ids": return Array.isArray(v) ? v.length > 0 && v.every(isId) : isId(v);
      case "key": return typeof v === "string" && v !== "";
      case "text": return typeof v === "string";
      case "number": return typeof v === "number";
      default: return isPlainObject(v);
    }
  }

  // Functions that run code in a page; an agent can be told not to.
  const SCRIPT_METHODS = ["tabs.executeScript", "tabs.insertCSS", "tabs.removeCSS"];
  // The page access script injection needs: optional in the manifest,
  // granted by `tabscope launch` in its profiles or by the user in the
  // options page (permissions.request needs a click).
  const HOST_ACCESS = { origins: ["<all_urls>"] };
  const NO_HOST_ACCESS =
    "the tabscope agent may not script this page: allow it in the agent's options " +
    "(\"Allow on all pages\"), or use `tabscope launch`, whose profiles allow it";

  /**
   * Checks a command as the bridge does, before anything reaches the
   * browser: a known method (own keys only: "toString" is not a method),
   * params an object of its parameter names, each of its kind.
   * Returns the parameter names, or throws.
   */
  function checkCommand(method, params) {
    if (typeof method !== "string" || !Object.prototype.hasOwnProperty.call(API_METHODS, method)) {
      throw new Error(`unknown method ${JSON.stringify(method)}`);
    }
    const names = API_METHODS[method];
    if (params === undefined || params === null) return names;
    if (!isPlainObject(params)) throw new Error(`${method}: params must be a JSON object keyed by parameter name`);
    for (const k of Object.keys(params)) {
      if (!names.includes(k)) {
        throw new Error(`${method}: unknown parameter ${JSON.stringify(k)} (parameters: ${names.join(", ") || "none"})`);
      }
      if (!kindHolds(paramKind(k), params[k])) {
        throw new Error(`${method}: ${k} must be ${KIND_WANTED[paramKind(k)]}`);
      }
    }
    return names;
  }

  const TAB_EVENTS = [
    "onActivated", "onAttached", "onCreated", "onDetached", "onHighlighted",
    "onMoved", "onRemoved", "onReplaced", "onUpdated", "onZoomChange",
  ];
  const WINDOW_EVENTS = ["onCreated", "onRemoved", "onFocusChanged"];
  // windows.getAll shows only some types by default; ask for all this
  // browser knows (an unknown type is a schema error, hence the fallback).
  const WINDOW_TYPES = {
    Thunderbird: ["normal", "popup", "messageCompose", "messageDisplay"],
    default: ["normal", "popup", "panel", "app", "devtools"],
  };

  function describe(err) {
    if (err && typeof err.message === "string") return err.message;
    return String(err);
  }

  /** The functions and events an API namespace really has here. */
  function inventory(ns) {
    const fns = [];
    const events = [];
    if (!ns) return { fns, events };
    for (const k of Object.keys(ns).sort()) {
      let v;
      try { v = ns[k]; } catch (e) { continue; }
      if (typeof v === "function") fns.push(k);
      else if (v && typeof v.addListener === "function") events.push(k);
    }
    return { fns, events };
  }

  function createAgent(options) {
    const opts = Object.assign({
      browser: root.browser,
      hostName: HOST_NAME,
      wrapSessions: true,
      retryMs: 500,
      maxRetryMs: 30000,
      missingHostRetryMs: 60000,
      snapshotDebounceMs: 250,
      // tabs.executeScript and tabs.insertCSS on command; false refuses them.
      scriptInjection: true,
      // x-ray reads every add-on's values this often (ms) to report changes.
      xrayPollMs: 1000,
      // How often window state, size and title are compared (no event has them).
      windowPollMs: 1000,
      log: root.console,
    }, options || {});
    const api = opts.browser;
    const log = opts.log;

    let port = null;
    let connectedAt = 0;
    let retryMs = opts.retryMs;
    let retryTimer = null;
    let stopped = false;
    let seq = 0;
    let browserInfo = { name: "unknown", vendor: "", version: "" };
    let objectValues = null;
    let missingHostReported = false;
    let snapshotTimer = null;
    let building = null; // events held while a snapshot is built
    const registry = { tab: new Set(), window: new Set() };
    let registryLoaded = null;
    const listeners = [];
    const status = { state: "starting", error: null };

    // The real sessions functions; wrapping replaces the public ones.
    const rawSessions = {};
    if (api.sessions) {
      for (const fn of Object.keys(api.sessions)) {
        if (typeof api.sessions[fn] === "function") rawSessions[fn] = api.sessions[fn].bind(api.sessions);
      }
    }

    function post(msg) {
      if (!port) return false;
      try {
        port.postMessage(msg);
        return true;
      } catch (e) {
        log.warn("tabscope: cannot post to the bridge:", describe(e));
        return false;
      }
    }

    function emit(name, args) {
      seq += 1;
      const msg = { type: "event", seq, time: Date.now(), name, args };
      if (building) building.push(msg);
      else post(msg);
    }

    function agentLog(level, message) {
      post({ type: "log", level, message });
    }

    // ----- session values and the key registry -----

    function loadRegistry() {
      if (!registryLoaded) {
        registryLoaded = (async () => {
          try {
            const got = await api.storage.local.get(REGISTRY_KEY);
            const saved = got && got[REGISTRY_KEY];
            if (saved) {
              for (const k of saved.tab || []) registry.tab.add(k);
              for (const k of saved.window || []) registry.window.add(k);
            }
          } catch (e) {
            log.warn("tabscope: cannot read the key registry:", describe(e));
          }
        })();
      }
      return registryLoaded;
    }

    /** Saves after the saved registry is read, so an early key never overwrites it. */
    async function saveRegistry() {
      await loadRegistry();
      const data = { tab: [...registry.tab].sort(), window: [...registry.window].sort() };
      try {
        if (api.storage) await api.storage.local.set({ [REGISTRY_KEY]: data });
      } catch (e) {
        log.warn("tabscope: cannot save the key registry:", describe(e));
      }
    }

    function learnKey(scope, key) {
      if (key === PROBE_KEY || registry[scope].has(key)) return;
      registry[scope].add(key);
      saveRegistry();
    }

    function stored(value) {
      if (value === undefined) return null;
      return typeof value === "string" ? { type: "string", value } : { type: "json", value };
    }

    function valueChanged(scope, id, key, value) {
      emit("tabscope.onSessionValueChanged", [{ scope, id, key, value: stored(value) }]);
    }

    /**
     * Every change of a session value goes through these, whoever calls:
     * set learns the key and reports what was really stored; remove reports
     * the removal; get learns keys that turn out to exist.
     */
    function trackedScope(scope, noun) {
      const get = rawSessions[`get${noun}Value`];
      const set = rawSessions[`set${noun}Value`];
      const remove = rawSessions[`remove${noun}Value`];
      if (!get || !set || !remove) return {};
      return {
        async [`set${noun}Value`](id, key, value) {
          const r = await set(id, key, value);
          learnKey(scope, key);
          valueChanged(scope, id, key, await get(id, key));
          return r;
        },
        async [`remove${noun}Value`](id, key) {
          const r = await remove(id, key);
          valueChanged(scope, id, key, undefined);
          return r;
        },
        async [`get${noun}Value`](id, key) {
          const v = await get(id, key);
          if (v !== undefined) learnKey(scope, key);
          return v;
        },
      };
    }
    const tracked = Object.assign({}, trackedScope("tab", "Tab"), trackedScope("window", "Window"));

    /** Makes the embedding add-on's own sessions calls visible too. */
    function wrapSessions() {
      if (!api.sessions) return;
      for (const fn of Object.keys(tracked)) {
        try {
          api.sessions[fn] = tracked[fn];
        } catch (e) {
          log.warn(`tabscope: cannot wrap sessions.${fn}; use TabscopeAgent.sessions.${fn} instead`);
        }
      }
    }

    async function windowTypes() {
      return WINDOW_TYPES[browserInfo.name] || WINDOW_TYPES.default;
    }

    async function getAllWindows() {
      try {
        return await api.windows.getAll({ populate: true, windowTypes: await windowTypes() });
      } catch (e) {
        return api.windows.getAll({ populate: true });
      }
    }

    async function valuesOf(scope, ids) {
      const get = scope === "tab" ? rawSessions.getTabValue : rawSessions.getWindowValue;
      const keys = [...registry[scope]];
      const out = {};
      if (!get || keys.length === 0) return out;
      await Promise.all(ids.map(async (id) => {
        for (const key of keys) {
          let v;
          try { v = await get(id, key); } catch (e) { continue; }
          if (v !== undefined) (out[id] = out[id] || {})[key] = stored(v);
        }
      }));
      return out;
    }

    /** Tests, once a tab exists, whether this browser stores objects. */
    async function probeObjectValues(windows) {
      if (objectValues !== null || !rawSessions.setTabValue) return false;
      const tab = windows.flatMap((w) => w.tabs || [])[0];
      if (!tab) return false;
      try {
        await rawSessions.setTabValue(tab.id, PROBE_KEY, { probe: true });
        objectValues = true;
      } catch (e) {
        objectValues = false;
      }
      try { await rawSessions.removeTabValue(tab.id, PROBE_KEY); } catch (e) { /* nothing stored */ }
      return true;
    }

    function hello() {
      const tabs = inventory(api.tabs);
      const windows = inventory(api.windows);
      const sessions = inventory(api.sessions);
      let extensionId = "";
      let manifestVersion = 0;
      try {
        extensionId = api.runtime.id;
        manifestVersion = api.runtime.getManifest().manifest_version;
      } catch (e) { /* fake or restricted runtime */ }
      const capabilities = {
        tabs: tabs.fns, tabsEvents: tabs.events,
        windows: windows.fns, windowsEvents: windows.events,
        sessions: sessions.fns,
      };
      if (objectValues !== null) capabilities.sessionObjectValues = objectValues;
      capabilities.scriptInjection = opts.scriptInjection !== false;
      if (hostAccess !== null) capabilities.hostAccess = hostAccess;
      Object.assign(capabilities, xrayState());
      return {
        type: "hello", protocol: PROTOCOL_VERSION, agentVersion: AGENT_VERSION,
        browser: browserInfo, extensionId, manifestVersion, capabilities,
      };
    }

    // ----- window changes no event reports -----

    const WINDOW_FIELDS = ["state", "left", "top", "width", "height", "title", "type", "alwaysOnTop", "incognito"];
    let windowSeen = new Map(); // id -> its fields as last reported
    let windowTimer = null;
    const windowKey = (w) => JSON.stringify(WINDOW_FIELDS.map((f) => w[f]));

    /** Reports windows whose state, size, position or title changed. */
    async function windowPoll() {
      let wins;
      try { wins = await api.windows.getAll({ windowTypes: await windowTypes() }); } catch (e) { return; }
      for (const w of wins) {
        const key = windowKey(w);
        if (windowSeen.get(w.id) !== key) {
          // A window first seen here came after the snapshot: its onCreated
          // went first, and this says what changed since.
          windowSeen.set(w.id, key);
          delete w.tabs;
          emit("tabscope.onWindowUpdated", [w]);
        }
      }
      const ids = new Set(wins.map((w) => w.id));
      for (const id of [...windowSeen.keys()]) if (!ids.has(id)) windowSeen.delete(id);
    }

    async function snapshot() {
      await loadRegistry();
      const windows = await getAllWindows();
      windowSeen = new Map(windows.map((w) => [w.id, windowKey(w)]));
      const tabIds = windows.flatMap((w) => (w.tabs || []).map((t) => t.id));
      const tabValues = await valuesOf("tab", tabIds);
      const windowValues = await valuesOf("window", windows.map((w) => w.id));
      let addonValues;
      if (xray) {
        try {
          addonValues = await xrayList();
          xrayRemember(addonValues);
        } catch (e) {
          agentLog("warn", "x-ray could not list the add-ons' values: " + describe(e));
        }
      }
      return { windows, tabValues, windowValues, addonValues, probed: await probeObjectValues(windows) };
    }

    /**
     * Sends a full snapshot. Events that happen meanwhile are held and sent
     * after it, so the bridge never applies a snapshot older than an event
     * it has already seen.
     */
    /**
     * Thunderbird can give a tab a new id when it moves to another window,
     * with no event saying so (tabs.get(old) answers with the new id). The
     * events then describe a tab that no longer exists: re-snapshot.
     */
    async function checkTabId(id) {
      try {
        const tab = await api.tabs.get(id);
        if (tab && tab.id !== id) {
          agentLog("info", `${browserInfo.name} gave tab ${id} the id ${tab.id} when it moved windows; re-reading`);
          snapshotSoon();
        }
      } catch (e) { /* closed meanwhile */ }
    }

    async function sendSnapshot() {
      if (building) return; // one at a time; the held events follow it
      building = [];
      try {
        const s = await snapshot();
        if (s.probed) post(hello());
        const msg = { type: "snapshot", windows: s.windows, tabValues: s.tabValues, windowValues: s.windowValues };
        if (s.addonValues) msg.addonValues = s.addonValues;
        post(msg);
      } catch (e) {
        agentLog("error", "snapshot failed: " + describe(e));
      } finally {
        const held = building;
        building = null;
        for (const msg of held) post(msg);
      }
    }

    /** Thunderbird starts us before its main window: re-snapshot as windows appear. */
    function snapshotSoon() {
      if (snapshotTimer) clearTimeout(snapshotTimer);
      snapshotTimer = setTimeout(() => {
        snapshotTimer = null;
        if (port) sendSnapshot();
      }, opts.snapshotDebounceMs);
    }

    // ----- x-ray: every other add-on's values and activity (addon/xray/) -----

    let xray = null;
    let xrayError = null; // why x-ray, though present, could not start
    try {
      xray = api.tabscopeXray || null;
    } catch (e) {
      xrayError = describe(e);
    }
    // What the last listing held: "scope|id|extension|key" -> { v, text }.
    let xrayKnown = new Map();
    let xrayTimer = null;

    /** "on", or why not: packaged without it, or the browser refused it. */
    function xrayState() {
      if (xray) return { xray: "on" };
      if (xrayError) return { xray: "refused", xrayWhy: `x-ray failed to start: ${xrayError}` };
      let declared = false;
      try {
        declared = Boolean((api.runtime.getManifest().experiment_apis || {}).tabscopeXray);
      } catch (e) { /* a fake or restricted runtime */ }
      if (!declared) return { xray: "off" };
      return {
        xray: "refused",
        xrayWhy: `${browserInfo.name} ${browserInfo.version} does not run WebExtension experiments ` +
          "(Firefox release and beta builds never do): use Thunderbird, Firefox ESR, Developer Edition " +
          "or Nightly with extensions.experiments.enabled set to true (tabscope launch does this)",
      };
    }

    const xrayKey = (v) => JSON.stringify([v.scope, v.id, v.extensionId, v.key]);

    async function xrayList() {
      const got = await xray.listValues();
      const values = got.values.map((v) => ({
        scope: v.scope, id: v.id, extensionId: v.extensionId, key: v.key, value: stored(v.value),
      }));
      return { extensions: got.extensions, values };
    }

    function xrayRemember(list) {
      xrayKnown = new Map(list.values.map((v) => [xrayKey(v), { v, text: JSON.stringify(v.value) }]));
    }

    /** Lists every add-on's values and reports what changed since the last listing. */
    async function xrayPoll() {
      if (!xray || !port || building) return;
      let list;
      try {
        list = await xrayList();
      } catch (e) {
        agentLog("warn", "x-ray could not list the add-ons' values: " + describe(e));
        return;
      }
      const names = new Map(list.extensions.map((e) => [e.id, e.name]));
      const before = xrayKnown;
      xrayRemember(list);
      for (const [k, { v, text }] of xrayKnown) {
        const old = before.get(k);
        if (!old || old.text !== text) emit(ADDON_VALUE_CHANGED, [Object.assign({ extensionName: names.get(v.extensionId) || null }, v)]);
      }
      for (const [k, { v }] of before) {
        if (!xrayKnown.has(k)) emit(ADDON_VALUE_CHANGED, [Object.assign({}, v, { value: null })]);
      }
    }

    /** Never stops the agent: a failing x-ray is reported in the hello instead. */
    // Activity and console records are history, not state: a snapshot
    // cannot bring them back, so records that arrive while no bridge is
    // connected wait here (x-ray hands over what it saw since browser
    // start-up before the first connect).
    const MAX_UNSENT = 20000;
    let unsent = [];
    let lost = 0;

    function historyEvent(name) {
      return (record) => {
        if (port) emit(name, [record]);
        else if (unsent.length < MAX_UNSENT) unsent.push([name, record]);
        else lost += 1;
      };
    }
    const onActivity = historyEvent(ADDON_ACTIVITY);
    const onConsole = historyEvent(ADDON_CONSOLE);

    /** After a (re)connect's snapshot: what waited, and how much did not fit. */
    function sendUnsent() {
      const waiting = unsent;
      unsent = [];
      for (const [name, r] of waiting) emit(name, [r]);
      if (lost > 0) {
        agentLog("warn", `${lost} activity and console records of other add-ons were lost while no bridge was connected`);
        lost = 0;
      }
    }

    function startXray() {
      if (!xray) return;
      try {
        xray.onActivity.addListener(onActivity);
        listeners.push([xray.onActivity, onActivity]);
        // An older x-ray (a kept profile's cached schema) has no console.
        if (xray.onConsole) {
          xray.onConsole.addListener(onConsole);
          listeners.push([xray.onConsole, onConsole]);
        }
        xrayTimer = setInterval(xrayPoll, opts.xrayPollMs);
      } catch (e) {
        xray = null;
        xrayError = describe(e);
        log.error("tabscope: x-ray failed to start:", xrayError);
      }
    }

    /** sessions.* with an extensionId: that add-on's values, through x-ray. */
    async function xrayCommand(method, p) {
      const [, verb, noun] = XRAY_SESSION_FN.exec(method);
      if (!xray) {
        const st = xrayState();
        throw new Error(`${method} with an extensionId needs x-ray, which is ${st.xray} in this agent` +
          (st.xrayWhy ? `: ${st.xrayWhy}` : " (tabscope launch adds it; tabscope package --xray for an everyday profile)"));
      }
      const scope = noun.toLowerCase();
      const id = scope === "tab" ? p.tabId : p.windowId;
      if (verb === "get") {
        const got = await xray.listValues();
        const v = got.values.find((x) => x.scope === scope && x.id === id && x.extensionId === p.extensionId && x.key === p.key);
        return v === undefined ? null : v.value;
      }
      if (verb === "set") await xray.setValue(scope, id, p.extensionId, p.key, p.value);
      else await xray.removeValue(scope, id, p.extensionId, p.key);
      await xrayPoll(); // reported now, not at the next poll
      return null;
    }

    /**
     * Reloads another add-on from its files, through x-ray. The reload is a
     * record in that add-on's console (a mark on its timeline lane), with
     * the browser's error when it did not start again.
     */
    async function reloadAddon(extensionId) {
      if (typeof extensionId !== "string" || extensionId === "") {
        throw new Error("agent.reloadAddon needs the add-on's id (extensionId)");
      }
      if (!xray || !xray.reloadAddon) {
        const st = xrayState();
        throw new Error(`reloading an add-on needs x-ray, which is ${xray ? "too old in this profile" : st.xray} in this agent` +
          (st.xrayWhy ? `: ${st.xrayWhy}` : ": the browser gives add-ons no way to reload another one (tabscope launch adds x-ray)"));
      }
      const started = Date.now();
      let r;
      try {
        r = await xray.reloadAddon(extensionId);
      } catch (e) {
        r = { extensionId, extensionName: null, ok: false, error: describe(e).replace(/^x-ray: /, ""), ms: Date.now() - started };
      }
      onConsole({
        extensionId, extensionName: r.extensionName || null, source: "reload", level: r.ok ? "info" : "error",
        text: r.ok ? `reloaded${r.version ? ` version ${r.version}` : ""} in ${r.ms} ms` : `reload failed: ${r.error}`,
        time: Date.now(), earlier: false,
      });
      if (!r.ok) throw new Error(`reload of ${extensionId} failed: ${r.error}`);
      return r;
    }

    // ----- commands -----

    async function probeKey(key) {
      const found = { key, tabs: {}, windows: {} };
      const windows = await getAllWindows();
      for (const w of windows) {
        for (const t of w.tabs || []) {
          let v;
          try { v = await rawSessions.getTabValue(t.id, key); } catch (e) { continue; }
          if (v !== undefined) {
            found.tabs[t.id] = stored(v);
            learnKey("tab", key);
            valueChanged("tab", t.id, key, v);
          }
        }
        if (rawSessions.getWindowValue) {
          let v;
          try { v = await rawSessions.getWindowValue(w.id, key); } catch (e) { v = undefined; }
          if (v !== undefined) {
            found.windows[w.id] = stored(v);
            learnKey("window", key);
            valueChanged("window", w.id, key, v);
          }
        }
      }
      return found;
    }

    const agentMethods = {
      "agent.snapshot": async () => { sendSnapshot(); return null; },
      "agent.knownKeys": async () => {
        await loadRegistry();
        return { tab: [...registry.tab].sort(), window: [...registry.window].sort() };
      },
      "agent.probeKey": async (p) => {
        if (typeof p.key !== "string" || p.key === "") throw new Error("agent.probeKey needs a non-empty string key");
        return probeKey(p.key);
      },
      "agent.addons": async () => (xray ? Object.assign({ xray: "on" }, await xray.info()) : xrayState()),
      "agent.reloadAddon": (p) => reloadAddon(p.extensionId),
      "agent.forgetKey": async (p) => {
        registry.tab.delete(p.key);
        registry.window.delete(p.key);
        await saveRegistry();
        return null;
      },
    };

    async function execute(method, params) {
      const names = checkCommand(method, params);
      if (opts.scriptInjection === false && SCRIPT_METHODS.includes(method)) {
        throw new Error(`${method}: script injection is turned off in this agent (the add-on's options)`);
      }
      params = params || {};
      if (agentMethods[method]) return agentMethods[method](params);
      if (params.extensionId !== undefined && params.extensionId !== null) {
        if (!XRAY_SESSION_FN.test(method)) throw new Error(`${method} takes no extensionId`);
        let own = "";
        try { own = api.runtime.id; } catch (e) { /* fake runtime */ }
        if (params.extensionId !== own) return xrayCommand(method, params);
        params = Object.assign({}, params);
        delete params.extensionId; // the agent's own values: as without it
      }
      const [nsName, fnName] = method.split(".");
      const ns = api[nsName];
      let fn = ns && ns[fnName];
      if (typeof fn !== "function") {
        throw new Error(`${method} is not supported by ${browserInfo.name} ${browserInfo.version}`);
      }
      if (nsName === "sessions" && tracked[fnName]) fn = tracked[fnName];
      const args = names.map((n) => params[n]);
      while (args.length && args[args.length - 1] === undefined) args.pop();
      let result;
      try {
        result = await fn.apply(ns, args);
        if (nsName === "windows" && fnName === "update") await windowPoll();
      } catch (e) {
        if (SCRIPT_METHODS.includes(method) && /Missing host permission/i.test(describe(e))) {
          throw new Error(`${describe(e)}: ${NO_HOST_ACCESS}`);
        }
        throw e;
      }
      return result === undefined ? null : result;
    }

    function onMessage(msg) {
      if (!msg || msg.type !== "command") {
        agentLog("warn", "ignored a message that is not a command: " + JSON.stringify(msg).slice(0, 200));
        return;
      }
      execute(msg.method, msg.params).then(
        (result) => post({ type: "reply", id: msg.id, result }),
        (err) => post({ type: "reply", id: msg.id, error: describe(err) }),
      );
    }

    // ----- connection -----

    function connect() {
      retryTimer = null;
      if (stopped) return;
      let p;
      try {
        p = api.runtime.connectNative(opts.hostName);
      } catch (e) {
        onDisconnect(null, describe(e));
        return;
      }
      port = p;
      connectedAt = Date.now();
      status.state = "connected";
      status.error = null;
      p.onMessage.addListener(onMessage);
      p.onDisconnect.addListener((dp) => {
        const err = (dp && dp.error) || (api.runtime.lastError) || null;
        onDisconnect(p, err ? describe(err) : null);
      });
      post(hello());
      sendSnapshot();
      sendUnsent(); // held by the snapshot's build, so sent after it
    }

    function onDisconnect(p, error) {
      if (p && p !== port) return;
      port = null;
      building = null;
      const lived = connectedAt ? Date.now() - connectedAt : 0;
      connectedAt = 0;
      if (stopped) return;
      const missing = error && /No such native application|not found|NativeMessagingHosts/i.test(error);
      let delay;
      if (missing) {
        status.state = "no-host";
        if (!missingHostReported) {
          missingHostReported = true;
          log.error(`tabscope: cannot start the native host "${opts.hostName}": ${error}. ` +
            "Install it with `tabscope install` (or run `tabscope doctor`); retrying every " +
            `${Math.round(opts.missingHostRetryMs / 1000)} s.`);
        }
        delay = opts.missingHostRetryMs;
      } else {
        status.state = "reconnecting";
        if (lived > 10000) retryMs = opts.retryMs; // it was healthy: start over
        delay = retryMs;
        retryMs = Math.min(retryMs * 2, opts.maxRetryMs);
        log.warn(`tabscope: bridge disconnected${error ? ": " + error : ""}; reconnecting in ${delay} ms`);
      }
      status.error = error;
      retryTimer = setTimeout(connect, delay);
    }

    function listen(ns, nsName, events) {
      if (!ns) return;
      for (const ev of events) {
        const target = ns[ev];
        if (!target || typeof target.addListener !== "function") continue;
        const name = `${nsName}.${ev}`;
        const fn = (...args) => {
          emit(name, args);
          if (name === "windows.onCreated") snapshotSoon();
          if (name === "tabs.onAttached") checkTabId(args[0]);
        };
        target.addListener(fn);
        listeners.push([target, fn]);
      }
    }

    async function start() {
      stopped = false;
      // Before the first await: the embedding add-on goes on running as soon
      // as start() returns its promise, and its first sessions calls and the
      // first tabs must already go through us.
      if (opts.wrapSessions) wrapSessions();
      listen(api.tabs, "tabs", TAB_EVENTS);
      listen(api.windows, "windows", WINDOW_EVENTS);
      startXray();
      windowTimer = setInterval(() => { if (port) windowPoll(); }, opts.windowPollMs);
      loadRegistry();
      await watchHostAccess();
      try {
        const info = api.runtime.getBrowserInfo ? await api.runtime.getBrowserInfo() : null;
        if (info) browserInfo = { name: info.name, vendor: info.vendor || "", version: info.version, buildId: info.buildID };
      } catch (e) { /* keep unknown */ }
      await loadRegistry();
      connect();
      return agent;
    }

    function stop() {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      if (snapshotTimer) clearTimeout(snapshotTimer);
      if (xrayTimer) clearInterval(xrayTimer);
      if (windowTimer) clearInterval(windowTimer);
      for (const [target, fn] of listeners.splice(0)) target.removeListener(fn);
      if (port) {
        const p = port;
        port = null;
        try { p.disconnect(); } catch (e) { /* already gone */ }
      }
      status.state = "stopped";
    }

    // Whether the agent may script pages (null: no permissions API, as in an
    // embedding add-on without it); said in the hello, kept current.
    let hostAccess = null;
    async function watchHostAccess() {
      const perms = api.permissions;
      if (!perms || typeof perms.contains !== "function") return;
      const check = async () => {
        try {
          const now = await perms.contains(HOST_ACCESS);
          if (now !== hostAccess) {
            hostAccess = now;
            if (port) post(hello());
          }
        } catch (e) { /* keep the last answer */ }
      };
      for (const ev of [perms.onAdded, perms.onRemoved]) {
        if (ev && typeof ev.addListener === "function") {
          ev.addListener(check);
          listeners.push([ev, check]);
        }
      }
      await check();
    }

    /** Turns script injection on or off; the bridge and inspectors hear of it. */
    function setScriptInjection(on) {
      opts.scriptInjection = on !== false;
      if (port) post(hello());
    }

    const agent = { start, stop, status, sessions: tracked, execute, knownKeys: registry, setScriptInjection };
    return agent;
  }

  let instance = null;
  const TabscopeAgent = {
    PROTOCOL_VERSION,
    API_METHODS,
    checkCommand,
    createAgent,
    /** Starts the agent once; later calls return the same one. */
    start(options) {
      if (!instance) {
        instance = createAgent(options);
        instance.start().catch((e) => root.console.error("tabscope: agent failed to start:", describe(e)));
      }
      return instance;
    },
    get sessions() { return instance && instance.sessions; },
  };

  root.TabscopeAgent = TabscopeAgent;
  if (typeof module !== "undefined" && module.exports) module.exports = TabscopeAgent;
})(typeof globalThis !== "undefined" ? globalThis : this);
