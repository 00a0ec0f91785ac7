// Runs the real agent (addon/tabscope-agent.js) in Node against the fake
// browser, with runtime.connectNative starting the real tabscope-bridge
// on real pipes with real native-messaging framing.
//
//   node tests/node/agent-host.js /path/to/tabscope-bridge [flavor]
//
// Control on stdin, one JSON object a line: {"op":"startUp"},
// {"op":"killHost"} ({"op":"killHost","thenWrite":true}: and a message
// written to it before its exit is seen), {"op":"scriptInjection","on":false},
// {"op":"hostAccess","on":true} (the user allows page access), {"op":"quit"}.
// Status lines go to stdout as JSON.
"use strict";

const { spawn } = require("node:child_process");
const path = require("node:path");
const readline = require("node:readline");
const TabscopeAgent = require("../../addon/tabscope-agent.js");
const { createFakeBrowser, EventTarget } = require("../../addon/test/fake-browser.js");

const bridgePath = process.argv[2];
const flavor = process.argv[3] || "thunderbird";
// Native byte order, as Gecko frames it.
const LE = require("node:os").endianness() === "LE";
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");

/** A runtime.Port backed by a native host process, as Gecko does it. */
class NativePort {
  constructor(name) {
    this.name = name;
    this.onMessage = new EventTarget();
    this.onDisconnect = new EventTarget();
    this.error = null;
    this.closed = false;
    this.child = spawn(bridgePath, [path.join(__dirname, "tabscope_bridge.json"), "tabscope-agent@tabscope.dev"], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    say({ event: "hostStarted", pid: this.child.pid });
    // Writing to a host that has just died fails with EPIPE; Gecko drops the
    // message and disconnects the port once it sees the exit (below). Without
    // a listener, Node would throw the error and end the harness.
    this.child.stdin.on("error", () => {});
    let buf = Buffer.alloc(0);
    this.child.stdout.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4) {
        const len = LE ? buf.readUInt32LE(0) : buf.readUInt32BE(0);
        if (buf.length < 4 + len) break;
        const text = buf.subarray(4, 4 + len).toString("utf8");
        buf = buf.subarray(4 + len);
        this.onMessage.fire(JSON.parse(text));
      }
    });
    this.child.on("exit", (code, signal) => {
      say({ event: "hostExited", pid: this.child.pid, code, signal });
      if (!this.closed) {
        this.closed = true;
        this.error = code === 0 ? null : { message: `native host exited (${code ?? signal})` };
        this.onDisconnect.fire(this);
      }
    });
  }
  postMessage(msg) {
    if (this.closed) throw new Error("Attempt to postMessage on disconnected port");
    const body = Buffer.from(JSON.stringify(msg), "utf8");
    const head = Buffer.alloc(4);
    if (LE) head.writeUInt32LE(body.length, 0);
    else head.writeUInt32BE(body.length, 0);
    this.child.stdin.write(Buffer.concat([head, body]));
  }
  disconnect() {
    this.closed = true;
    this.child.stdin.end();
  }
}

const fake = createFakeBrowser({ flavor, connectNative: (name) => new NativePort(name) });
const agent = TabscopeAgent.createAgent({ browser: fake.browser, retryMs: 200, snapshotDebounceMs: 50 });

agent.start().then(() => say({ event: "agentStarted" }));

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.op === "startUp") say({ event: "startedUp", ...fake.startUp() });
  else if (cmd.op === "killHost") {
    const port = fake.ports.at(-1);
    port.child.kill("SIGKILL");
    if (cmd.thenWrite) {
      // The host is dead, its exit not yet seen: as when the agent posts
      // at the moment the host dies.
      const until = Date.now() + 50;
      while (Date.now() < until) {}
      port.postMessage({ type: "log", level: "info", message: "after the host died" });
    }
  }
  else if (cmd.op === "setBehindBack") { fake.values.tab.get(cmd.tabId) || fake.values.tab.set(cmd.tabId, {}); fake.values.tab.get(cmd.tabId)[cmd.key] = cmd.value; say({ event: "set" }); }
  else if (cmd.op === "scriptInjection") { agent.setScriptInjection(cmd.on); say({ event: "scriptInjection", on: cmd.on }); }
  else if (cmd.op === "hostAccess") { fake.setHostAccess(cmd.on); say({ event: "hostAccess", on: cmd.on }); }
  else if (cmd.op === "quit") {
    agent.stop();
    const child = fake.ports.at(-1).child;
    if (child.exitCode !== null) process.exit(0);
    child.on("exit", () => process.exit(0));
  }
});
