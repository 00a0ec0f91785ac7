//! Helpers for tests that run tabscope's real binaries: an isolated
//! environment (HOME, runtime and log folders), the bridge driven exactly as
//! a browser drives it, and socket clients with timeouts.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tabscope_shared::client::{Session, SessionEvent};
use tabscope_shared::codec::{FrameReader, FrameWriter};
use tabscope_shared::discovery::{self, Discovery};
use tabscope_shared::model::Model;
use tabscope_shared::protocol::{ClientMsg, Command as Cmd, EventRecord, ServerMsg};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_path_buf()
}

/// Builds the real binaries once per test process (cargo test does not
/// build other packages' binaries) and returns the folder holding them;
/// `TABSCOPE_TEST_BINARIES` names another folder instead.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Other binaries (an older build, an install) to run the tests
        // against: how a test is shown to fail without its fix.
        if let Some(dir) = std::env::var_os("TABSCOPE_TEST_BINARIES") {
            return PathBuf::from(dir);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "tabscope-bridge", "-p", "tabscope", "--bins"])
            .current_dir(workspace_root())
            .status()
            .expect("running cargo build");
        assert!(status.success(), "building the binaries failed");
        // target/debug/deps/this-test -> target/debug
        let exe = std::env::current_exe().expect("test path");
        exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
    })
}

pub fn bridge_bin() -> PathBuf {
    bin_dir().join("tabscope-bridge")
}

pub fn tabscope_bin() -> PathBuf {
    bin_dir().join("tabscope")
}

/// A throwaway world: HOME, the runtime folder and the log folder.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("tabscope-test-").tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Self { dir }
    }
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    pub fn runtime(&self) -> PathBuf {
        self.dir.path().join("run")
    }
    pub fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    /// A command with this environment.
    pub fn command(&self, program: impl AsRef<Path>) -> Command {
        let mut c = Command::new(program.as_ref());
        c.env("HOME", self.home())
            .env("TABSCOPE_RUNTIME_DIR", self.runtime())
            .env("TABSCOPE_LOG_DIR", self.logs())
            .env_remove("XDG_RUNTIME_DIR");
        c
    }

    pub fn tabscope(&self, args: &[&str]) -> std::process::Output {
        self.command(tabscope_bin()).args(args).stdin(Stdio::null()).output().expect("run tabscope")
    }

    pub fn bridges(&self) -> Vec<Discovery> {
        discovery::list_bridges(&self.runtime()).unwrap_or_default()
    }

    pub fn bridge_log(&self) -> String {
        std::fs::read_to_string(self.logs().join("bridge.log")).unwrap_or_default()
    }

    /// Starts the bridge as a browser does.
    pub fn start_bridge(&self) -> BridgeProc {
        self.start_bridge_with(&[])
    }

    pub fn start_bridge_with(&self, env: &[(&str, &str)]) -> BridgeProc {
        let mut c = self.command(bridge_bin());
        c.arg("/fake/manifest/tabscope_bridge.json").arg("tabscope-agent@tabscope.dev");
        for (k, v) in env {
            c.env(k, v);
        }
        let (child, stdin, rx) = spawn_host(&mut c);
        let pid = child.id();
        let runtime = self.runtime();
        let disc = wait_for(Duration::from_secs(10), || {
            discovery::list_bridges(&runtime).ok()?.into_iter().find(|d| d.bridge.pid == pid)
        })
        .expect("the bridge wrote its discovery file");
        BridgeProc { child, stdin: Some(stdin), from_bridge: rx, disc }
    }
}

/// Starts a native-messaging host as a browser does: frames on its stdin
/// (the writer), and every frame it writes to stdout read on a thread.
pub fn spawn_host(cmd: &mut Command) -> (Child, FrameWriter<ChildStdin>, crossbeam_channel::Receiver<Value>) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning the host");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        let mut r = FrameReader::new(BufReader::new(stdout));
        while let Ok(Some(v)) = r.read_message::<Value>() {
            if tx.send(v).is_err() {
                return;
            }
        }
    });
    let stdin = FrameWriter::new(child.stdin.take().expect("piped")).with_max_len(64 << 20);
    (child, stdin, rx)
}

/// The bridge process, with the browser's end of its stdio.
pub struct BridgeProc {
    pub child: Child,
    pub stdin: Option<FrameWriter<ChildStdin>>,
    /// Frames the bridge wrote to stdout (what the browser would receive).
    pub from_bridge: crossbeam_channel::Receiver<Value>,
    pub disc: Discovery,
}

impl BridgeProc {
    pub fn send(&mut self, msg: &Value) {
        self.stdin.as_mut().expect("stdin open").write_message(msg).expect("write to bridge");
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let w = self.stdin.as_mut().expect("stdin open");
        // FrameWriter owns the pipe; reach it for raw bytes.
        let pipe: &ChildStdin = w.get_ref();
        let mut pipe = pipe;
        pipe.write_all(bytes).expect("raw write");
        pipe.flush().unwrap();
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next frame the bridge sent to the browser.
    pub fn next_to_browser(&self, timeout: Duration) -> Option<Value> {
        self.from_bridge.recv_timeout(timeout).ok()
    }

    pub fn session(&self) -> TestSession {
        TestSession::connect(&self.disc.socket)
    }

    /// Waits for exit; returns the exit code and how long it took.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<(Option<i32>, Duration)> {
        let start = Instant::now();
        wait_child(&mut self.child, timeout).map(|st| (st.code(), start.elapsed()))
    }
}

impl Drop for BridgeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A socket client with timeouts.
pub struct TestSession {
    pub session: Session,
    next_id: u64,
}

pub const WAIT: Duration = Duration::from_secs(10);

impl TestSession {
    pub fn connect(socket: &Path) -> Self {
        Self { session: Session::spawn(socket, Arc::new(|| {})).expect("connect"), next_id: 1 }
    }

    pub fn recv(&self, timeout: Duration) -> Option<ServerMsg> {
        match self.session.rx.recv_timeout(timeout).ok()? {
            SessionEvent::Msg(m) => Some(m),
            SessionEvent::Warning(w) => panic!("warning from session: {w}"),
            SessionEvent::Closed(_) => None,
        }
    }

    /// The first message `pick` accepts, skipping others.
    pub fn until<T>(&self, timeout: Duration, mut pick: impl FnMut(&ServerMsg) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + timeout;
        while let Some(m) = self.recv(deadline.saturating_duration_since(Instant::now())) {
            if let Some(t) = pick(&m) {
                return Some(t);
            }
        }
        None
    }

    pub fn send(&self, msg: &ClientMsg) {
        self.session.tx.send(msg.clone()).expect("session open");
    }

    pub fn command(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.session
            .tx
            .send(ClientMsg::Command(Cmd { id, method: method.into(), params }))
            .expect("session open");
        id
    }

    /// Sends a command and waits for its reply.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.command(method, params);
        self.until(WAIT, |m| match m {
            ServerMsg::Reply(r) if r.id == id => Some(r.outcome.clone().into_result()),
            _ => None,
        })
        .unwrap_or_else(|| Err(format!("no reply to {method}")))
    }
}

/// The real agent under Node (Thunderbird flavour), started up, with its
/// bridge announced; `None` (and a failure under CI=true) without Node.
pub fn running_agent(env: &TestEnv) -> Option<NodeAgent> {
    let node = require_program(&["node", "nodejs"], "install Node.js: apt-get install nodejs")?;
    let mut agent = NodeAgent::start(env, &node, "thunderbird");
    wait_for(Duration::from_secs(10), || env.bridges().into_iter().find(|b| b.browser.is_some()))
        .expect("bridge");
    agent.op(json!({"op": "startUp"}));
    Some(agent)
}

/// The child's exit status, if it exits within `timeout`.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    wait_for(timeout, || child.try_wait().ok().flatten())
}

pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Thunderbird 153's real objects (see browser-facts.md).
pub mod fixtures {
    use super::*;

    pub fn mail_tab() -> Value {
        json!({"id":1,"index":0,"windowId":1,"highlighted":true,"active":true,"status":"complete","width":0,"height":0,
               "groupId":-1,"splitViewId":-1,"cookieStoreId":"firefox-default",
               "favIconUrl":"chrome://messenger/skin/icons/new/compact/folder.svg","spaceId":1,"type":"mail","mailTab":true})
    }

    pub fn content_tab(id: i64, index: usize) -> Value {
        json!({"id":id,"index":index,"windowId":1,"highlighted":false,"active":false,"status":"complete","width":1321,
               "height":626,"groupId":-1,"splitViewId":-1,"cookieStoreId":"firefox-default","url":"https://example.org/",
               "title":"Server Not Found","favIconUrl":"chrome://global/skin/icons/info.svg","type":"content","mailTab":false})
    }

    pub fn main_window() -> Value {
        json!({"id":1,"focused":true,"top":0,"left":0,"width":1366,"height":768,"incognito":false,"type":"normal",
               "state":"maximized","alwaysOnTop":false,"title":"Home - Mozilla Thunderbird"})
    }

    pub fn hello() -> Value {
        json!({"type":"hello","protocol":1,"agentVersion":"0.1.0",
               "browser":{"name":"Thunderbird","vendor":"Mozilla","version":"153.7.0"},
               "extensionId":"tabscope-agent@tabscope.dev","manifestVersion":2,
               "capabilities":{"tabs":["create","get","query","update"],"tabsEvents":["onCreated","onUpdated"],
                               "windows":["getAll"],"windowsEvents":["onCreated"],
                               "sessions":["getTabValue","removeTabValue","setTabValue"],"sessionObjectValues":false}})
    }

    pub fn snapshot() -> Value {
        let mut w = main_window();
        w["tabs"] = json!([mail_tab()]);
        json!({"type":"snapshot","windows":[w]})
    }

    /// A native-messaging frame around raw bytes.
    pub fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_ne_bytes().to_vec();
        f.extend_from_slice(payload);
        f
    }

    pub fn event(seq: u64, name: &str, args: Value) -> Value {
        json!({"type":"event","seq":seq,"time":1.7637e12 + seq as f64,"name":name,"args":args})
    }
}

/// Runs `cmd` with `input` on its stdin (written from a thread, so that a
/// child answering as it reads never blocks), and collects its output.
pub fn output_with_input(cmd: &mut Command, input: &[u8]) -> std::process::Output {
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.to_vec();
    // Dropped at the end: the reader sees end of file, as when a browser closes the port.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    out
}

/// Ctrl-C to a child, as a user quits it (SIGINT; elsewhere a hard stop
/// until the Windows lane sends console control events).
fn interrupt(child: &Child) {
    #[cfg(unix)]
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT)
    };
    #[cfg(not(unix))]
    let _ = std::process::Command::new("taskkill").args(["/PID", &child.id().to_string()]).status();
}

/// Whether the test runs as root, which tests that act as a second user
/// need. Under `CI=true` (CI runs as root) not being root fails the test;
/// elsewhere it is skipped with a message.
pub fn require_root(what: &str) -> bool {
    #[cfg(unix)]
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let msg = format!("{what} needs root, to act as a second user");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}: required under CI=true");
    }
    eprintln!("SKIPPED: {msg}");
    false
}

/// A program the test needs. Under `CI=true` a missing one fails the test;
/// elsewhere the test is skipped with a message saying what to install.
pub fn require_program(names: &[&str], install_hint: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).flat_map(|d| names.iter().map(move |n| d.join(n))).find(|p| p.is_file())
    });
    if found.is_none() {
        let msg = format!("{} not found ({install_hint})", names.join(" / "));
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}: required under CI=true");
        }
        eprintln!("SKIPPED: {msg}");
    }
    found
}

/// The real agent in Node on the fake browser, connected to the real bridge.
pub struct NodeAgent {
    pub child: Child,
    stdin: ChildStdin,
    pub lines: crossbeam_channel::Receiver<Value>,
}

impl NodeAgent {
    pub fn start(env: &TestEnv, node: &Path, flavor: &str) -> Self {
        let script = workspace_root().join("tests/node/agent-host.js");
        let mut child = env
            .command(node)
            .arg(script)
            .arg(bridge_bin())
            .arg(flavor)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start node");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        Self { child, stdin, lines: rx }
    }

    pub fn op(&mut self, op: Value) {
        writeln!(self.stdin, "{op}").expect("node stdin");
        self.stdin.flush().unwrap();
    }

    /// The next status line with this `event`.
    pub fn wait_event(&self, name: &str, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok()?;
            if v["event"] == name {
                return Some(v);
            }
        }
    }
}

impl Drop for NodeAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tabscope launch BROWSER --headless [extra…]`, as a user runs it (pass
/// `--no-inspector` for no window).
pub struct Launched {
    pub child: Child,
    pub bridge: Discovery,
    pub output: PathBuf,
}

impl Launched {
    pub fn start(env: &TestEnv, browser: &str, extra: &[&str]) -> Self {
        let output = env.dir.path().join(format!("launch-{browser}.log"));
        let log = std::fs::File::create(&output).unwrap();
        let child = env
            .command(tabscope_bin())
            .args(["launch", browser, "--headless"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("tabscope launch");
        // Ready when the launcher says so (it has then seen the bridge too).
        let ready = wait_for(Duration::from_secs(90), || {
            std::fs::read_to_string(&output).ok().filter(|t| t.contains(" connected after "))
        });
        // The discovery file names the browser once its hello arrived.
        let bridge = ready.and_then(|_| {
            wait_for(Duration::from_secs(30), || env.bridges().into_iter().find(|b| b.browser.is_some()))
        });
        let text = std::fs::read_to_string(&output).unwrap_or_default();
        let Some(bridge) = bridge else {
            // Not left running: Ctrl-C closes the browser it started.
            let mut child = child;
            interrupt(&child);
            if wait_child(&mut child, Duration::from_secs(40)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            panic!("no bridge appeared; launcher said:\n{text}");
        };
        Self { child, bridge, output }
    }

    /// Ctrl-C, as a user quits; returns the launcher's exit status and output.
    pub fn quit(&mut self) -> (bool, String) {
        interrupt(&self.child);
        let ok = match wait_child(&mut self.child, Duration::from_secs(40)) {
            Some(st) => st.success(),
            None => {
                let _ = self.child.kill();
                false
            }
        };
        (ok, std::fs::read_to_string(&self.output).unwrap_or_default())
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.quit();
        }
    }
}

/// Processes whose command line mentions `needle` (Linux /proc).
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmd.contains(needle) && pid != std::process::id() {
                out.push((pid, cmd));
            }
        }
    }
    out
}

/// Checks an export against the Trace Event Format: the fields each
/// phase requires, µs numbers, a name for every process and thread used,
/// and one complete event per command. Returns (instant, complete).
pub fn validate_chrome_trace(text: &str, commands: usize) -> (usize, usize) {
    let doc: Value = serde_json::from_str(text).expect("the export is one JSON document");
    assert_eq!(doc["displayTimeUnit"], "ms");
    let events = doc["traceEvents"].as_array().expect("traceEvents is an array");
    let (mut named, mut used) = (HashSet::new(), HashSet::new());
    let (mut instant, mut complete) = (0, 0);
    for e in events {
        let ph = e["ph"].as_str().expect("ph");
        assert!(e["name"].is_string(), "name: {e}");
        let (pid, tid) = (e["pid"].as_i64().expect("pid"), e["tid"].as_i64().expect("tid"));
        match ph {
            "M" => {
                assert!(e["args"]["name"].is_string(), "{e}");
                match e["name"].as_str().unwrap() {
                    "process_name" => named.insert((pid, None)),
                    "thread_name" => named.insert((pid, Some(tid))),
                    other => panic!("metadata {other}"),
                };
            }
            "i" | "X" => {
                assert!(e["ts"].is_u64(), "ts in whole µs: {e}");
                used.insert((pid, None));
                used.insert((pid, Some(tid)));
                if ph == "i" {
                    assert!(["g", "p", "t"].contains(&e["s"].as_str().unwrap()), "{e}");
                    instant += 1;
                } else {
                    assert!(e["dur"].is_u64(), "dur in whole µs: {e}");
                    complete += 1;
                }
            }
            other => panic!("unexpected phase {other}"),
        }
    }
    let unnamed: Vec<_> = used.difference(&named).collect();
    assert!(unnamed.is_empty(), "processes or threads without a name: {unnamed:?}");
    assert_eq!(complete, commands, "one complete event per command");
    (instant, complete)
}

/// How long a real browser may take for a step.
pub const LONG: Duration = Duration::from_secs(30);

/// A client that mirrors the bridge into its own model from the stream.
pub struct Observer {
    pub s: TestSession,
    pub model: Model,
    pub events: Vec<EventRecord>,
    /// The agent as its latest hello described it.
    pub agent: Option<tabscope_shared::protocol::AgentHello>,
}

impl Observer {
    pub fn new(s: TestSession) -> Self {
        Self { s, model: Model::new(), events: Vec::new(), agent: None }
    }

    pub fn take(&mut self, m: &ServerMsg) {
        match m {
            ServerMsg::Hello { agent: Some(a), .. } => self.agent = Some((**a).clone()),
            ServerMsg::Snapshot { snapshot, .. } => self.model = Model::from_snapshot(snapshot.clone()),
            ServerMsg::Event { event, .. } => {
                let _ = self.model.apply_record(event);
                self.events.push(event.clone());
            }
            _ => {}
        }
    }

    /// Waits until `pred` holds of the model; returns the event that made it so.
    pub fn until(&mut self, what: &str, mut pred: impl FnMut(&Model, &[EventRecord]) -> bool) {
        let deadline = Instant::now() + LONG;
        while !pred(&self.model, &self.events) {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = match self.s.session.rx.recv_timeout(left) {
                Ok(SessionEvent::Msg(m)) => m,
                Ok(SessionEvent::Warning(w)) => panic!("warning from session: {w}"),
                Ok(SessionEvent::Closed(why)) => {
                    panic!(
                        "the bridge went away ({why}) while waiting for {what}; events: {:#?}",
                        names(&self.events)
                    )
                }
                Err(_) => panic!("timed out waiting for {what}; events: {:#?}", names(&self.events)),
            };
            self.take(&m);
        }
    }

    /// Calls a function, feeding everything that arrives meanwhile to the model.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.s.command(method, params);
        let deadline = Instant::now() + LONG;
        loop {
            let m = self.s.recv(deadline.saturating_duration_since(Instant::now())).expect("reply");
            if let ServerMsg::Reply(r) = &m
                && r.id == id
            {
                return r.outcome.clone().into_result();
            }
            self.take(&m);
        }
    }

    /// The model against the browser's own answer, window by window.
    pub fn matches_browser(&mut self) {
        let windows = self.call("windows.getAll", json!({"getInfo": {"populate": true}})).unwrap();
        let browser: Vec<(i64, Vec<i64>)> = windows
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                (
                    w["id"].as_i64().unwrap(),
                    w["tabs"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect(),
                )
            })
            .collect();
        // Events still in flight settle within a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let ours: Vec<(i64, Vec<i64>)> =
                browser.iter().map(|(w, _)| (*w, self.model.tabs_of(*w).map(|t| t.id).collect())).collect();
            if ours == browser {
                break;
            }
            assert!(Instant::now() < deadline, "model {ours:?} != browser {browser:?}");
            if let Some(m) = self.s.recv(Duration::from_millis(200)) {
                self.take(&m);
            }
        }
        self.model.check().expect("model invariants");
    }
}

pub fn names(events: &[EventRecord]) -> Vec<String> {
    events.iter().map(|e| format!("{} {}", e.name, e.summary())).collect()
}

/// A child process that is killed and reaped when dropped, so that a test
/// that fails half-way leaves nothing running (CI fails if anything is).
pub struct Reaped(pub Child);

impl Reaped {
    pub fn spawn(cmd: &mut Command) -> Self {
        Reaped(cmd.spawn().expect("spawning a test process"))
    }
}

impl std::ops::Deref for Reaped {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Whether the browser `launch` names ("thunderbird", "firefox") is
/// installed; under `CI=true` a missing one fails the test.
pub fn require_browser(browser: &str) -> bool {
    let (names, package): (&[&str], &str) = match browser {
        "thunderbird" => (&["thunderbird"], "thunderbird"),
        "firefox" => (&["firefox-esr", "firefox"], "firefox-esr"),
        other => panic!("no such browser in the tests: {other}"),
    };
    require_program(names, &format!("apt-get install {package}")).is_some()
}

/// An ordinary add-on with no tabscope code (tests/fixtures/other-addon):
/// it stores values, echoes what its own getTabValue sees, and calls APIs.
pub fn other_addon() -> String {
    workspace_root().join("tests/fixtures/other-addon").to_string_lossy().into_owned()
}

/// A page with a frame, served on 127.0.0.1 until dropped.
pub struct Site {
    pub url: String,
    stop: Arc<AtomicBool>,
}

impl Site {
    pub fn start() -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = s.set_nonblocking(false);
                let mut first = String::new();
                let mut r = BufReader::new(s.try_clone().unwrap());
                if r.read_line(&mut first).is_err() {
                    continue;
                }
                // Read the headers off; the body is fixed by the path.
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let body = if first.contains("/frame") {
                    "<!DOCTYPE html><title>the frame</title><p>in a frame</p>"
                } else {
                    "<!DOCTYPE html><title>tabscope page</title><p id=p>hello</p><iframe src=/frame></iframe>"
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Site { url, stop }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
