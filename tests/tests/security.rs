//! Issue #15, each finding tried as an attacker on the same machine would,
//! with the real binaries. Tests that need a second uid run as root (CI
//! does); under `CI=true` they fail rather than skip without it.

use std::fs;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tabscope_shared::codec::{FrameReader, FrameWriter};
use tabscope_shared::protocol::{ClientMsg, ServerMsg};
use tabscope_tests::fixtures::{self, event};
use tabscope_tests::{TestEnv, WAIT, bridge_bin, require_root, tabscope_bin, wait_child, wait_for};

/// The other user of these tests.
const NOBODY: u32 = 65534;

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
}

fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A bridge started as a browser would, by any command; its stdin is ours,
/// its stdout read into a channel.
struct Raw {
    child: Child,
    stdin: FrameWriter<std::process::ChildStdin>,
    out: crossbeam_channel::Receiver<Value>,
}

impl Raw {
    fn spawn(mut cmd: Command) -> Raw {
        let mut child = cmd
            .arg("/fake/manifest.json")
            .arg("tabscope-agent@tabscope.dev")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn bridge");
        let stdin = FrameWriter::new(child.stdin.take().unwrap()).with_max_len(64 << 20);
        let stdout = child.stdout.take().unwrap();
        let (tx, out) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            let mut r = FrameReader::new(BufReader::new(stdout));
            while let Ok(Some(v)) = r.read_message::<Value>() {
                let _ = tx.send(v);
            }
        });
        Raw { child, stdin, out }
    }

    fn send(&mut self, v: &Value) {
        self.stdin.write_message(v).unwrap();
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A folder, a bridge binary and a home of the other user's, inside the
/// test's folder (made traversable for them).
struct Attacker {
    runtime: PathBuf,
    bridge: Raw,
    pid: u32,
}

fn attacker(env: &TestEnv) -> Attacker {
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o711)).unwrap();
    let root = env.dir.path().join("evil");
    let (runtime, logs, bin) = (root.join("run"), root.join("logs"), root.join("bin"));
    for d in [&root, &runtime, &logs, &bin] {
        fs::create_dir_all(d).unwrap();
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        chown(d, NOBODY);
    }
    let exe = bin.join("tabscope-bridge");
    fs::copy(bridge_bin(), &exe).unwrap();
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = Command::new(&exe);
    cmd.env("HOME", &root)
        .env("TABSCOPE_RUNTIME_DIR", &runtime)
        .env("TABSCOPE_LOG_DIR", &logs)
        .env_remove("XDG_RUNTIME_DIR")
        .uid(NOBODY)
        .gid(NOBODY);
    let mut bridge = Raw::spawn(cmd);
    bridge.send(&fixtures::hello());
    bridge.send(&fixtures::snapshot());
    let pid = bridge.child.id();
    wait_for(WAIT, || runtime.join(format!("{pid}.json")).exists().then_some(()))
        .expect("the other user's bridge is up");
    Attacker { runtime, bridge, pid }
}

/// Finding 1: a folder another user made first, with their bridge in it.
/// Before the fix `snapshot` showed their state and `call` sent them our command.
#[test]
fn inspectors_refuse_a_bridge_folder_of_another_user() {
    if !require_root("inspectors_refuse_a_bridge_folder_of_another_user") {
        return;
    }
    let env = TestEnv::new();
    let mut evil = attacker(&env);
    let run = |args: &[&str]| {
        env.command(tabscope_bin())
            .env("TABSCOPE_RUNTIME_DIR", &evil.runtime)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = run(&["snapshot"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("belongs to uid {NOBODY}")), "{}", text(&o));
    let o = run(&["call", "sessions.setTabValue", r#"{"tabId":1,"key":"k","value":"secret"}"#]);
    assert!(!o.status.success(), "{}", text(&o));
    let o = run(&["list"]);
    assert!(!o.status.success() && text(&o).contains("refusing"), "{}", text(&o));
    // Their bridge was never sent anything.
    assert!(evil.bridge.out.recv_timeout(Duration::from_millis(300)).is_err());

    // Second lock: their listening socket moved into our own private folder,
    // made ours on disk, with a discovery file of ours naming it. Only the
    // listener's uid gives it away.
    let ours = env.runtime();
    tabscope_shared::discovery::ensure_private_dir(&ours).unwrap();
    let sock = ours.join(format!("{}.sock", evil.pid));
    fs::rename(evil.runtime.join(format!("{}.sock", evil.pid)), &sock).unwrap();
    chown(&sock, 0);
    let disc: Value =
        serde_json::from_slice(&fs::read(evil.runtime.join(format!("{}.json", evil.pid))).unwrap()).unwrap();
    let mut disc = disc;
    disc["socket"] = json!(sock);
    fs::write(ours.join(format!("{}.json", evil.pid)), disc.to_string()).unwrap();
    let o = env.tabscope(&["call", "sessions.setTabValue", r#"{"tabId":1,"key":"k","value":"secret"}"#]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("runs as uid {NOBODY}, not as us")), "{}", text(&o));
    assert!(evil.bridge.out.recv_timeout(Duration::from_millis(300)).is_err(), "no command reached them");
    let _ = evil.bridge.child.kill();
}

/// Finding 1: the old fallback `<tmp>/tabscope-<uid>` could be created first
/// by another user, and then no bridge would start. The fallback is now in
/// the user's own home; a squatted folder in /tmp changes nothing.
#[test]
fn a_squatted_tmp_folder_neither_blocks_nor_fools_anyone() {
    if !require_root("a_squatted_tmp_folder_neither_blocks_nor_fools_anyone") {
        return;
    }
    let env = TestEnv::new();
    let tmp = env.dir.path().join("tmp");
    let squat = tmp.join("tabscope-0");
    fs::create_dir_all(&squat).unwrap();
    fs::set_permissions(&squat, fs::Permissions::from_mode(0o755)).unwrap();
    chown(&squat, NOBODY);
    let plain = |program: PathBuf| {
        let mut c = env.command(program);
        c.env_remove("TABSCOPE_RUNTIME_DIR").env_remove("XDG_STATE_HOME").env("TMPDIR", &tmp);
        c
    };
    let mut b = Raw::spawn(plain(bridge_bin()));
    b.send(&fixtures::hello());
    b.send(&fixtures::snapshot());
    let run = env.home().join(".local/state/tabscope/run");
    let pid = b.child.id();
    wait_for(WAIT, || run.join(format!("{pid}.json")).exists().then_some(()))
        .unwrap_or_else(|| panic!("the bridge started in {}; log: {}", run.display(), env.bridge_log()));
    let o = plain(tabscope_bin()).args(["snapshot"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Home - Mozilla Thunderbird"));
}

/// Finding 2: a hostile title, URL, value, browser name and event name.
/// Before the fix they reached the terminal byte for byte.
#[test]
fn nothing_from_outside_reaches_a_terminal_raw() {
    let hostile = "\u{1b}]0;PWNED\u{7}\u{1b}[2J\u{9b}31m\u{202e}";
    let env = TestEnv::new();
    let trace = env.dir.path().join("t.jsonl");
    let mut b = env.start_bridge_with(&[("TABSCOPE_TRACE", trace.to_str().unwrap())]);
    let mut hello = fixtures::hello();
    hello["browser"]["name"] = json!(format!("Thunderbird{hostile}"));
    b.send(&hello);
    let mut snap = fixtures::snapshot();
    snap["windows"][0]["tabs"][0]["title"] = json!(hostile);
    b.send(&snap);
    wait_for(WAIT, || env.bridges().into_iter().find(|d| d.browser.is_some())).expect("hello arrived");

    let mut watch = env
        .command(tabscope_bin())
        .arg("watch")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut watch_json =
        env.command(tabscope_bin()).args(["watch", "--json"]).stdout(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let tab = {
        let mut t = fixtures::content_tab(3, 1);
        t["title"] = json!(hostile);
        t["url"] = json!(format!("https://x.example/{hostile}"));
        t
    };
    b.send(&event(1, "tabs.onCreated", json!([tab])));
    b.send(&event(2, "tabs.onUpdated", json!([3, {"title": hostile}, {"id": 3}])));
    b.send(&event(3, &format!("tabs.on{hostile}"), json!([])));
    std::thread::sleep(Duration::from_millis(700));
    let mut outputs = Vec::new();
    for child in [&mut watch, &mut watch_json] {
        let _ = child.kill();
        let out = child.wait_with_output_ref();
        outputs.push(out);
    }
    outputs.push(env.tabscope(&["list"]).stdout);
    outputs.push(env.tabscope(&["list", "--json"]).stdout);
    outputs.push(env.tabscope(&["snapshot"]).stdout);
    let mut b = b;
    b.close_stdin();
    b.wait_exit(WAIT).expect("bridge exits");
    let stats = env.tabscope(&["trace", "stats", trace.to_str().unwrap()]);
    assert!(stats.status.success(), "{}", text(&stats));
    outputs.push(stats.stdout);
    for (i, out) in outputs.iter().enumerate() {
        let s = String::from_utf8_lossy(out);
        assert!(!s.is_empty(), "output {i} is empty");
        for bad in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}'] {
            assert!(!s.contains(bad), "output {i} holds {bad:?}: {s:?}");
        }
    }
    let watched = String::from_utf8_lossy(&outputs[0]);
    assert!(watched.contains("\\x1b]0;PWNED\\x07"), "shown, escaped: {watched}");
    // JSON stays JSON and means the same.
    let line =
        String::from_utf8_lossy(&outputs[1]).lines().find(|l| l.contains("onUpdated")).unwrap().to_owned();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["args"][1]["title"], json!(hostile));
}

trait OutputRef {
    fn wait_with_output_ref(&mut self) -> Vec<u8>;
}

impl OutputRef for Child {
    fn wait_with_output_ref(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(mut s) = self.stdout.take() {
            let _ = s.read_to_end(&mut out);
        }
        if let Some(mut s) = self.stderr.take() {
            let _ = s.read_to_end(&mut out);
        }
        let _ = self.wait();
        out
    }
}

fn addon_with_id(dir: &Path, id: &str) {
    fs::create_dir_all(dir).unwrap();
    let manifest = json!({"manifest_version": 2, "name": "mine", "version": "1",
                          "browser_specific_settings": {"gecko": {"id": id}}});
    fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
}

/// Finding 3: an add-on id became a path, and launch allowed it for good.
#[test]
fn launch_takes_only_gecko_ids_and_allows_them_only_while_it_runs() {
    let env = TestEnv::new();
    let profile = env.dir.path().join("p/profile");
    // A "browser" that exits at once: launch stops before any bridge.
    let launch = |addon: &Path| {
        env.tabscope(&[
            "launch",
            "thunderbird",
            "--no-inspector",
            "--binary",
            "/bin/true",
            "--wait",
            "5",
            "--profile",
            profile.to_str().unwrap(),
            "--addon",
            addon.to_str().unwrap(),
        ])
    };
    for id in ["../../escaped", "/tmp/abs@x", "a/b@c"] {
        let addon = env.dir.path().join("evil-addon");
        addon_with_id(&addon, id);
        let o = launch(&addon);
        assert!(!o.status.success());
        assert!(text(&o).contains("not a valid Gecko id"), "{}", text(&o));
    }
    assert!(!env.dir.path().join("escaped").exists() && !env.dir.path().join("p/escaped").exists());

    // A good id is allowed while the browser runs, and taken out again after
    // (here the "browser" exits at once, before any bridge).
    let addon = env.dir.path().join("good-addon");
    addon_with_id(&addon, "mine@example.com");
    let o = launch(&addon);
    assert!(!o.status.success(), "{}", text(&o));
    let manifest = env.home().join(".mozilla/native-messaging-hosts/tabscope_bridge.json");
    let m: Value = serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap();
    let allowed: Vec<&str> =
        m["allowed_extensions"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(allowed, vec![tabscope_shared::protocol::ADDON_ID], "{}", text(&o));
}

fn record_error(env: &TestEnv, path: &Path) -> String {
    let o = env.tabscope(&["record", "--out", path.to_str().unwrap(), "--for", "1s"]);
    assert!(!o.status.success(), "recording to {} was accepted: {}", path.display(), text(&o));
    text(&o)
}

/// Finding 4: the bridge opened any path an inspector named, on its router
/// thread: a FIFO froze it, /proc/self/fd/1 wrote trace lines into the
/// browser's stream, existing files were truncated, links followed.
#[test]
fn recording_paths_are_created_new_and_private_and_never_stall_the_bridge() {
    let env = TestEnv::new();
    let mut b = env.start_bridge();
    b.send(&fixtures::hello());
    b.send(&fixtures::snapshot());
    let dir = env.dir.path();
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let existing = dir.join("existing.jsonl");
    fs::write(&existing, "precious").unwrap();
    let link = dir.join("link.jsonl");
    std::os::unix::fs::symlink(dir.join("target.jsonl"), &link).unwrap();
    for p in [fifo.clone(), PathBuf::from("/proc/self/fd/1"), existing.clone(), link.clone()] {
        let e = record_error(&env, &p);
        assert!(e.contains("already exists") || e.contains("File exists"), "{}: {e}", p.display());
    }
    assert_eq!(fs::read_to_string(&existing).unwrap(), "precious");
    assert!(!dir.join("target.jsonl").exists());
    // The bridge still flows both ways, and its stdout holds only frames.
    let mut s = b.session();
    b.send(&event(1, "tabs.onActivated", json!([{"tabId":1,"windowId":1}])));
    s.until(WAIT, |m| matches!(m, ServerMsg::Event { event, .. } if event.seq == 1).then_some(()))
        .expect("events flow");
    s.command("tabs.get", json!({"tabId": 1}));
    let cmd =
        wait_for(WAIT, || b.next_to_browser(Duration::from_millis(50)).filter(|v| v["type"] == "command"))
            .expect("commands reach the browser as frames");
    assert_eq!(cmd["method"], "tabs.get");

    // A good recording: 0600 in a folder of ours; the log folder 0700, the log 0600.
    let good = dir.join("good.jsonl");
    let o = env.tabscope(&["record", "--out", good.to_str().unwrap(), "--for", "1s"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(fs::metadata(&good).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(fs::metadata(env.logs()).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(fs::metadata(env.logs().join("bridge.log")).unwrap().permissions().mode() & 0o777, 0o600);
}

fn peak_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Finding 5: a client that asks for snapshots and never reads. Before the
/// fix 3,000 `resync` took a bridge with 400 tabs from 5 MB to 393 MB.
#[test]
fn a_flood_of_resync_from_a_client_that_never_reads_costs_one_snapshot() {
    let env = TestEnv::new();
    let mut b = env.start_bridge();
    b.send(&fixtures::hello());
    let mut snap = fixtures::snapshot();
    let tabs: Vec<Value> = (0..400)
        .map(|i| {
            let mut t = fixtures::content_tab(10 + i, i as usize + 1);
            t["title"] = json!(format!("{} {i}", "a long title for a tab ".repeat(10)));
            t
        })
        .collect();
    snap["windows"][0]["tabs"] = json!(tabs);
    b.send(&snap);
    let s = b.session();
    s.until(WAIT, |m| {
        matches!(m, ServerMsg::Snapshot { snapshot, .. } if !snapshot.windows.is_empty()).then_some(())
    })
    .expect("the model is loaded");
    let pid = b.child.id();
    let before = peak_kib(pid);
    // A raw client that writes and never reads.
    let stream = tabscope_shared::client::connect_stream(&b.disc.socket).unwrap();
    let mut w = FrameWriter::new(stream).with_max_len(1 << 20);
    let resync = serde_json::to_vec(&ClientMsg::Resync).unwrap();
    for _ in 0..3000 {
        if w.write_frame(&resync).is_err() {
            break;
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let after = peak_kib(pid);
    eprintln!("MEASURED bridge peak RSS: {before} KiB before, {after} KiB after 3,000 resync requests");
    assert!(after < before + 64 * 1024, "peak {after} KiB from {before} KiB");
    // The bridge is still live for everyone else.
    b.send(&event(1, "tabs.onActivated", json!([{"tabId":10,"windowId":1}])));
    s.until(WAIT, |m| matches!(m, ServerMsg::Event { .. }).then_some(())).expect("others still served");
}

/// Peak memory of a child, from the kernel's own accounting.
// Reaped by wait4, which clippy does not know of.
#[allow(clippy::zombie_processes)]
fn run_measured(mut cmd: Command) -> (i32, u64, String) {
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.unwrap();
    let mut err = String::new();
    let _ = stderr.read_to_string(&mut err);
    let mut status = 0;
    // SAFETY: waiting for our own child; rusage is plain data.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    (libc::WEXITSTATUS(status), usage.ru_maxrss as u64, err)
}

/// Finding 5: a trace line has a cap. Before the fix a 1.5 GiB line made
/// `trace stats` take 1.58 GB (open, replay and export share the reader).
#[test]
fn a_huge_trace_line_is_refused_in_bounded_memory() {
    let env = TestEnv::new();
    let path = env.dir.path().join("huge.jsonl");
    let header = tabscope_shared::trace::Record::Header(Box::new(tabscope_shared::trace::TraceHeader::new(
        tabscope_shared::trace::Source::Synthetic,
        0.0,
        0,
    )));
    let mut f = fs::File::create(&path).unwrap();
    f.write_all(&header.to_line()).unwrap();
    f.write_all(b"\n").unwrap();
    // Sparse: 1.5 GiB of zeros with no newline, costing no disk.
    f.set_len(1536 << 20).unwrap();
    drop(f);
    for args in [vec!["trace", "stats"], vec!["trace", "export"]] {
        let mut cmd = env.command(tabscope_bin());
        cmd.args(&args).arg(&path);
        if args[1] == "export" {
            cmd.arg(env.dir.path().join("out.json"));
        }
        let (code, peak_kib, err) = run_measured(cmd);
        eprintln!("MEASURED tabscope {} on a 1.5 GiB line: peak {peak_kib} KiB", args.join(" "));
        assert_ne!(code, 0);
        assert!(err.contains("longer than"), "{err}");
        assert!(peak_kib < 300 * 1024, "peak {peak_kib} KiB");
    }
    // The failed export left no half file, nor its temporary.
    assert_eq!(
        fs::read_dir(env.dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("json".as_ref())
                || e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"))
            .count(),
        0
    );
}

/// Finding 6: a command that timed out was still sent later (a retried
/// `tabs.create` ran twice). Here the browser stops reading: the command
/// waits behind others, times out unsent, and is never written.
#[test]
fn a_command_that_timed_out_unsent_is_never_sent_late() {
    let env = TestEnv::new();
    let mut cmd = env.command(bridge_bin());
    cmd.env("TABSCOPE_COMMAND_TIMEOUT_MS", "500")
        .arg("/fake/manifest.json")
        .arg("tabscope-agent@tabscope.dev")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut stdin = FrameWriter::new(child.stdin.take().unwrap()).with_max_len(1 << 20);
    let stdout = child.stdout.take().unwrap();
    let child = Kill(child);
    stdin.write_message(&fixtures::hello()).unwrap();
    stdin.write_message(&fixtures::snapshot()).unwrap();
    let d = wait_for(WAIT, || {
        env.bridges().into_iter().find(|d| d.bridge.pid == child.0.id() && d.browser.is_some())
    })
    .expect("bridge up");
    let mut s = tabscope_tests::TestSession::connect(&d.socket);
    // Nobody reads the bridge's stdout: a few big commands fill the pipe.
    let big = "x".repeat(200_000);
    for i in 0..4 {
        s.command("sessions.setTabValue", json!({"tabId": 1, "key": format!("k{i}"), "value": big}));
    }
    std::thread::sleep(Duration::from_millis(200));
    let id = s.command("tabs.create", json!({"createProperties": {"url": "https://example.org/late"}}));
    let err = s
        .until(Duration::from_secs(5), |m| match m {
            tabscope_shared::protocol::ServerMsg::Reply(r) if r.id == id => {
                Some(r.outcome.clone().into_result())
            }
            _ => None,
        })
        .expect("a reply")
        .unwrap_err();
    assert!(err.contains("was not sent and will not run"), "{err}");
    // Now the browser reads everything the bridge wrote.
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        let mut r = FrameReader::new(BufReader::new(stdout)).with_max_len(2 << 20);
        while let Ok(Some(v)) = r.read_message::<Value>() {
            let _ = tx.send(v);
        }
    });
    let mut methods = Vec::new();
    let until = Instant::now() + Duration::from_secs(2);
    while let Ok(v) = rx.recv_deadline(until) {
        methods.push(v["method"].as_str().unwrap_or_default().to_owned());
    }
    assert!(methods.iter().any(|m| m == "sessions.setTabValue"), "{methods:?}");
    assert!(!methods.iter().any(|m| m == "tabs.create"), "sent after it had timed out: {methods:?}");
    drop(stdin);
    drop(child);
}

/// Finding 8: a message over 64 MiB from the browser ended the bridge (and
/// the agent sent it again on reconnecting: a crash loop). Now it is read
/// past, reported, and the next message is taken.
#[test]
fn an_oversized_message_from_the_browser_is_skipped_and_reported() {
    let env = TestEnv::new();
    let mut b = env.start_bridge();
    b.send(&fixtures::hello());
    b.send(&fixtures::snapshot());
    let s = b.session();
    s.until(WAIT, |m| {
        matches!(m, ServerMsg::Snapshot { snapshot, .. } if !snapshot.windows.is_empty()).then_some(())
    })
    .expect("snapshot");
    let pid = b.child.id();
    let before = peak_kib(pid);
    let len = (64usize << 20) + 1;
    b.send_raw(&(len as u32).to_ne_bytes());
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..64 {
        b.send_raw(&chunk);
    }
    b.send_raw(b" ");
    b.send(&event(1, "tabs.onActivated", json!([{"tabId":1,"windowId":1}])));
    let err = s
        .until(WAIT, |m| match m {
            ServerMsg::Error { message, .. } => Some(message.clone()),
            _ => None,
        })
        .expect("reported");
    assert!(err.contains(&format!("a message of {len} bytes was skipped")), "{err}");
    s.until(WAIT, |m| matches!(m, ServerMsg::Event { event, .. } if event.seq == 1).then_some(()))
        .expect("the next message is taken");
    let after = peak_kib(pid);
    eprintln!("MEASURED bridge peak RSS: {before} KiB before, {after} KiB after skipping 64 MiB");
    assert!(after < before + 16 * 1024, "peak {after} KiB from {before} KiB");
    assert!(b.child.try_wait().unwrap().is_none(), "the bridge goes on");
}

/// Finding 9: `tabscope replay` killed left its bridge running for ever.
#[test]
fn a_killed_replay_takes_its_bridge_with_it() {
    let demo = tabscope_tests::workspace_root().join("docs/demo-trace.jsonl");
    for signal in [libc::SIGKILL, libc::SIGTERM] {
        let env = TestEnv::new();
        let mut replay = env
            .command(tabscope_bin())
            .args(["replay", demo.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let bridge = wait_for(WAIT, || env.bridges().into_iter().next()).expect("the replaying bridge is up");
        // SAFETY: signalling our own child.
        unsafe { libc::kill(replay.id() as libc::pid_t, signal) };
        wait_child(&mut replay, WAIT).expect("replay ends");
        let gone = wait_for(Duration::from_secs(5), || {
            (!tabscope_shared::discovery::pid_alive(bridge.bridge.pid)).then_some(())
        });
        if gone.is_none() {
            // SAFETY: cleaning up the process this test failed on.
            unsafe { libc::kill(bridge.bridge.pid as libc::pid_t, libc::SIGKILL) };
            panic!("the bridge {} outlived its replay killed by signal {signal}", bridge.bridge.pid);
        }
    }
}
