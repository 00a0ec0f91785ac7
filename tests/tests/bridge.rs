//! The real `tabscope-bridge`, driven over stdio exactly as a browser
//! drives it, with real socket clients.

use std::time::Duration;

use serde_json::json;
use tabscope_shared::protocol::{LogLevel, ServerMsg};
use tabscope_tests::fixtures::{self, event};
use tabscope_tests::{TestEnv, WAIT, wait_for};

fn started(env: &TestEnv) -> tabscope_tests::BridgeProc {
    let mut b = env.start_bridge();
    b.send(&fixtures::hello());
    b.send(&fixtures::snapshot());
    b
}

fn first_snapshot(s: &tabscope_tests::TestSession) -> tabscope_shared::protocol::Snapshot {
    s.until(WAIT, |m| match m {
        ServerMsg::Snapshot { snapshot, .. } if !snapshot.windows.is_empty() => Some(snapshot.clone()),
        _ => None,
    })
    .expect("a snapshot")
}

#[test]
fn snapshot_and_ordered_events_reach_two_inspectors() {
    let env = TestEnv::new();
    let mut b = started(&env);
    let (a, c) = (b.session(), b.session());
    for s in [&a, &c] {
        let hello = s.recv(WAIT).expect("hello first");
        let ServerMsg::Hello { bridge, agent, .. } = hello else {
            panic!("first message is not hello: {hello:?}")
        };
        assert_eq!(bridge.extension_id.as_deref(), Some("tabscope-agent@tabscope.dev"));
        // A client that connects before the agent's hello is processed gets
        // a hello without it, then another once it arrives.
        let agent = match agent {
            Some(a) => Some(a.browser.name),
            None => s.until(WAIT, |m| match m {
                ServerMsg::Hello { agent: Some(a), .. } => Some(a.browser.name.clone()),
                _ => None,
            }),
        };
        assert_eq!(agent.as_deref(), Some("Thunderbird"));
        let snap = first_snapshot(s);
        assert_eq!(snap.windows[0].tabs.as_ref().unwrap()[0].kind.as_deref(), Some("mail"));
    }
    b.send(&event(1, "tabs.onCreated", json!([fixtures::content_tab(3, 1)])));
    b.send(&event(2, "tabs.onActivated", json!([{"tabId":3,"windowId":1,"previousTabId":1}])));
    b.send(&event(3, "tabs.onRemoved", json!([1, {"windowId":1,"isWindowClosing":false}])));
    for s in [&a, &c] {
        let seqs: Vec<u64> = (0..3)
            .map(|_| {
                s.until(WAIT, |m| match m {
                    ServerMsg::Event { event, .. } => Some(event.seq),
                    _ => None,
                })
                .expect("event")
            })
            .collect();
        assert_eq!(seqs, vec![1, 2, 3]);
    }
    // The bridge's model followed: a new inspector sees tab 3 alone, active, at index 0.
    let late = b.session();
    let snap = first_snapshot(&late);
    let tabs = snap.windows[0].tabs.as_ref().unwrap();
    assert_eq!(tabs.len(), 1);
    assert_eq!((tabs[0].id, tabs[0].index, tabs[0].active), (3, 0, true));
}

#[test]
fn a_command_round_trips_and_its_reply_goes_only_to_the_asker() {
    let env = TestEnv::new();
    let mut b = started(&env);
    let mut asker = b.session();
    let other = b.session();
    first_snapshot(&asker);
    first_snapshot(&other);
    let id = asker.command("tabs.get", json!({"tabId": 1}));
    let cmd = b.next_to_browser(WAIT).expect("command forwarded to the browser");
    assert_eq!(cmd["type"], "command");
    assert_eq!(cmd["method"], "tabs.get");
    assert_eq!(cmd["params"], json!({"tabId": 1}));
    b.send(&json!({"type":"reply","id":cmd["id"],"result":fixtures::mail_tab()}));
    let reply = asker.until(WAIT, |m| match m {
        ServerMsg::Reply(r) => Some(r.clone()),
        _ => None,
    });
    let reply = reply.expect("reply");
    assert_eq!(reply.id, id, "the reply carries the asker's own id");
    assert_eq!(reply.outcome.into_result().unwrap()["type"], "mail");
    // The other inspector sees the next event but never the reply.
    b.send(&event(1, "windows.onFocusChanged", json!([1])));
    let seen = other.until(WAIT, |m| match m {
        ServerMsg::Reply(_) => Some(false),
        ServerMsg::Event { .. } => Some(true),
        _ => None,
    });
    assert_eq!(seen, Some(true), "the other inspector got the reply or nothing");
}

#[test]
fn the_browsers_error_and_timeouts_reach_the_asker() {
    let env = TestEnv::new();
    let mut b = env.start_bridge_with(&[("TABSCOPE_COMMAND_TIMEOUT_MS", "300")]);
    b.send(&fixtures::hello());
    let mut s = b.session();
    s.command("tabs.get", json!({"tabId": 999999}));
    let cmd = b.next_to_browser(WAIT).unwrap();
    b.send(&json!({"type":"reply","id":cmd["id"],"error":"Invalid tab ID: 999999"}));
    let err = s.until(WAIT, |m| match m {
        ServerMsg::Reply(r) => Some(r.outcome.clone().into_result()),
        _ => None,
    });
    assert_eq!(err, Some(Err("Invalid tab ID: 999999".into())));
    // No reply at all: a timeout error after the configured time.
    let e = s.call("tabs.query", json!({"queryInfo": {}})).unwrap_err();
    assert!(e.contains("timed out"), "{e}");
}

#[test]
fn unknown_methods_and_oversized_commands_are_refused_before_sending() {
    let env = TestEnv::new();
    let b = started(&env);
    let mut s = b.session();
    let e = s.call("tabs.explode", json!({})).unwrap_err();
    assert!(e.starts_with("unknown method \"tabs.explode\""), "{e}");
    let e = s.call("tabs.get", json!({"tab": 1})).unwrap_err();
    assert!(e.contains("unknown parameter \"tab\""), "{e}");
    let big = "x".repeat(1024 * 1024);
    let e = s.call("sessions.setTabValue", json!({"tabId":1,"key":"k","value":big})).unwrap_err();
    assert!(e.contains("exceeds the 1048576-byte limit"), "{e}");
    assert!(e.contains("was not sent"), "{e}");
    let e = s.call("tabs.get", json!({"tabId": "1"})).unwrap_err();
    assert_eq!(e, "tabs.get: tabId must be an integer id, not \"1\"");
    assert!(b.next_to_browser(Duration::from_millis(300)).is_none(), "nothing may reach the browser");
}

/// An agent that says script injection is off gets no script commands; the
/// inspector is told why at once.
#[test]
fn script_injection_turned_off_in_the_agent_is_refused_by_the_bridge() {
    let env = TestEnv::new();
    let mut b = env.start_bridge();
    let mut hello = fixtures::hello();
    hello["capabilities"]["scriptInjection"] = json!(false);
    b.send(&hello);
    b.send(&fixtures::snapshot());
    let mut s = b.session();
    first_snapshot(&s);
    for method in ["tabs.executeScript", "tabs.insertCSS"] {
        let e = s.call(method, json!({"tabId": 1, "details": {"code": "1"}})).unwrap_err();
        assert!(e.contains("script injection is turned off in the tabscope agent"), "{e}");
    }
    assert!(b.next_to_browser(Duration::from_millis(300)).is_none(), "nothing may reach the browser");
    // Turned back on: the command goes through.
    hello["capabilities"]["scriptInjection"] = json!(true);
    b.send(&hello);
    s.until(WAIT, |m| match m {
        ServerMsg::Hello { agent: Some(a), .. } if a.capabilities.allows_scripts() => Some(()),
        _ => None,
    })
    .expect("the new hello");
    s.command("tabs.executeScript", json!({"tabId": 1, "details": {"code": "1"}}));
    let sent = b.next_to_browser(WAIT).expect("sent to the browser");
    assert_eq!(sent["method"], "tabs.executeScript");
}

#[test]
fn a_client_that_stops_reading_does_not_block_the_browser_side() {
    let env = TestEnv::new();
    let mut b = started(&env);
    // Connects and never reads.
    let stalled = tabscope_shared::client::Client::connect(&b.disc.socket).unwrap();
    let watcher = b.session();
    first_snapshot(&watcher);
    // Far more than the socket buffer and the client queue hold.
    let filler = "y".repeat(2000);
    let n = 12_000u64;
    let writer = std::thread::spawn({
        let mut stdin = b.stdin.take().unwrap();
        move || {
            for seq in 1..=n {
                let mut tab = fixtures::mail_tab();
                tab["title"] = json!(filler);
                let e = event(seq, "tabs.onUpdated", json!([1, {"title": filler}, tab]));
                stdin.write_message(&e).unwrap();
            }
            stdin
        }
    });
    // The reading inspector gets every event, so the browser side never stalled.
    let mut last = 0;
    while last < n {
        last = watcher
            .until(WAIT, |m| match m {
                ServerMsg::Event { event, .. } => Some(event.seq),
                _ => None,
            })
            .expect("events keep flowing while another client is stalled");
    }
    b.stdin = Some(writer.join().unwrap());
    // The stalled client, once it reads, is told it lagged and resynced.
    let mut stalled = stalled;
    let mut saw_lag = false;
    loop {
        match stalled.recv().unwrap() {
            ServerMsg::Lagged { dropped } => {
                assert!(dropped > 0);
                saw_lag = true;
            }
            ServerMsg::Snapshot { .. } if saw_lag => break,
            _ => {}
        }
    }
}

#[test]
fn stdin_eof_ends_the_bridge_promptly_and_removes_its_files() {
    let env = TestEnv::new();
    let mut b = started(&env);
    let s = b.session();
    first_snapshot(&s);
    let socket = b.disc.socket.clone();
    assert!(socket.exists());
    b.close_stdin();
    let (code, took) = b.wait_exit(Duration::from_secs(5)).expect("bridge exits on EOF");
    eprintln!("bridge exited {took:?} after stdin EOF");
    assert_eq!(code, Some(0));
    assert!(!socket.exists(), "socket removed");
    assert!(env.bridges().is_empty(), "discovery file removed");
    assert!(!socket.with_extension("json").exists());
}

/// The browser is killed in the middle of writing a frame, with a command
/// of an inspector's unanswered: the inspector gets an error for it, the
/// bridge exits within a second, the recording holds every event, the
/// socket and discovery file are gone.
#[test]
fn a_browser_killed_mid_stream_leaves_a_whole_trace_and_no_waiting_caller() {
    let env = TestEnv::new();
    let trace = env.dir.path().join("killed.jsonl");
    let mut b = env.start_bridge_with(&[("TABSCOPE_TRACE", trace.to_str().unwrap())]);
    b.send(&fixtures::hello());
    b.send(&fixtures::snapshot());
    let mut s = b.session();
    first_snapshot(&s);
    for seq in 1..=50 {
        b.send(&event(seq, "tabs.onActivated", json!([{"tabId": 1, "windowId": 1}])));
    }
    s.until(WAIT, |m| matches!(m, ServerMsg::Event { event, .. } if event.seq == 50).then_some(()))
        .expect("all events");
    let id = s.command("tabs.get", json!({"tabId": 1}));
    let asked = b.next_to_browser(WAIT).expect("the command reached the browser");
    assert_eq!(asked["method"], "tabs.get");
    // Half a frame, then the pipe closes: what a SIGKILLed browser leaves.
    b.send_raw(&fixtures::frame(br#"{"type":"event","seq":51,"time":1,"name":"tabs.onCre"#)[..30]);
    b.close_stdin();
    let (_, took) = b.wait_exit(Duration::from_secs(5)).expect("the bridge exits");
    eprintln!("MEASURED bridge exit after the browser died: {took:?}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let reply = s
        .until(WAIT, |m| match m {
            ServerMsg::Reply(r) if r.id == id => Some(r.outcome.clone().into_result()),
            _ => None,
        })
        .expect("a reply, not silence");
    let e = reply.unwrap_err();
    assert!(e.starts_with("tabs.get got no answer: the browser"), "{e}");
    assert!(!b.disc.socket.exists(), "socket removed");
    assert!(env.bridges().is_empty(), "discovery file removed");
    let t = tabscope_shared::trace::read_file(&trace).unwrap();
    assert_eq!(t.warning, None, "the trace ends with a whole record");
    let events =
        t.records.iter().filter(|r| matches!(r, tabscope_shared::trace::Record::Event { .. })).count();
    assert_eq!(events, 50);
}

#[test]
fn sigterm_cleans_up_like_eof() {
    let env = TestEnv::new();
    let mut b = started(&env);
    let socket = b.disc.socket.clone();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(b.child.id() as i32, libc::SIGTERM) };
    let (code, _) = b.wait_exit(Duration::from_secs(5)).expect("exits on SIGTERM");
    assert_eq!(code, Some(0));
    assert!(!socket.exists());
}

#[test]
fn text_on_the_stream_is_a_diagnosed_framing_error() {
    let env = TestEnv::new();
    let mut b = env.start_bridge();
    b.send_raw(b"/home/user/.mozilla/native-messaging-hosts\n");
    let (code, _) = b.wait_exit(Duration::from_secs(5)).expect("exits on a framing error");
    assert_eq!(code, Some(2));
    let log = env.bridge_log();
    assert!(log.contains("= \"/hom\": something printed text to stdout"), "log: {log}");
    assert!(env.bridges().is_empty(), "cleaned up after a framing error");
}

#[test]
fn bad_messages_are_reported_and_the_bridge_goes_on() {
    let env = TestEnv::new();
    let mut b = started(&env);
    let s = b.session();
    first_snapshot(&s);
    let mut frame = 9u32.to_ne_bytes().to_vec();
    frame.extend_from_slice(b"{not json");
    b.send_raw(&frame);
    b.send(&json!({"type":"teleport","to":"mars"}));
    b.send(&event(1, "tabs.onMoved", json!([1])));
    let mut errors = Vec::new();
    while errors.len() < 3 {
        errors.push(
            s.until(WAIT, |m| match m {
                ServerMsg::Error { message, .. } => Some(message.clone()),
                _ => None,
            })
            .expect("an error event per bad message"),
        );
    }
    assert!(errors[0].contains("not valid JSON"), "{errors:?}");
    assert!(errors[1].contains("unknown message from the agent"), "{errors:?}");
    assert!(errors[2].contains("tabs.onMoved: arguments do not match"), "{errors:?}");
    b.send(&json!({"type":"log","level":"warn","message":"still here"}));
    let log = s.until(WAIT, |m| match m {
        ServerMsg::AgentLog { level, message, .. } => Some((*level, message.clone())),
        _ => None,
    });
    assert_eq!(log, Some((LogLevel::Warn, "still here".into())));
    assert!(b.child.try_wait().unwrap().is_none(), "still running");
}

/// The bridge forwards an event's arguments as the browser wrote them, so
/// it refuses arguments an inspector or trace reader could not read back:
/// nested past 100 levels (here half a million, which serde_json would skip
/// without a limit), numbers out of range, lone surrogates. None of them
/// reaches an inspector; the next good event does.
#[test]
fn events_an_inspector_could_not_read_are_refused_not_forwarded() {
    let env = TestEnv::new();
    let mut b = started(&env);
    let s = b.session();
    first_snapshot(&s);
    let deep = "[".repeat(500_000) + &"]".repeat(500_000);
    let bad = [
        (deep.as_str(), "argument 1: nested deeper than 100 levels"),
        ("1e400", "argument 1: number out of range"),
        (r#""\ud800 lone""#, "argument 1: "),
    ];
    for (seq, (arg, _)) in bad.iter().enumerate() {
        let payload = format!(
            r#"{{"type":"event","seq":{},"time":1,"name":"windows.onFocusChanged","args":[{arg}]}}"#,
            seq + 1
        );
        b.send_raw(&fixtures::frame(payload.as_bytes()));
    }
    b.send(&event(4, "windows.onFocusChanged", json!([1])));
    let mut errors = Vec::new();
    let good = s.until(WAIT, |m| match m {
        ServerMsg::Error { message, .. } => {
            errors.push(message.clone());
            None
        }
        ServerMsg::Event { event, .. } => Some(event.seq),
        _ => None,
    });
    assert_eq!(good, Some(4), "the first event an inspector sees is the good one; errors: {errors:?}");
    assert_eq!(errors.len(), bad.len(), "{errors:?}");
    for (e, (_, why)) in errors.iter().zip(bad) {
        assert!(e.contains("windows.onFocusChanged: ") && e.contains(why), "{e}");
    }
}

/// Peak resident memory of a running process, KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Hostile input costs what arrived, not what it claims: JSON nested half a
/// million deep is refused at depth 128 and the bridge goes on; a header
/// claiming 60 MiB followed by 1 KiB allocates nothing like 60 MiB; a header
/// past the limit ends the stream with a diagnosis. Peak memory is read from
/// /proc as it happens.
#[test]
fn hostile_lengths_and_nesting_cost_no_memory() {
    let env = TestEnv::new();
    let mut b = started(&env);
    let s = b.session();
    first_snapshot(&s);
    let pid = b.child.id();
    let baseline = peak_kib(pid);
    let deep = [vec![b'['; 500_000], vec![b']'; 500_000]].concat();
    b.send_raw(&fixtures::frame(&deep));
    let deep_obj = "{\"a\":".repeat(200_000) + "1" + &"}".repeat(200_000);
    b.send_raw(&fixtures::frame(deep_obj.as_bytes()));
    for _ in 0..2 {
        let e = s
            .until(WAIT, |m| match m {
                ServerMsg::Error { message, .. } => Some(message.clone()),
                _ => None,
            })
            .expect("an error for nesting");
        assert!(
            e.contains("recursion limit exceeded") || e.contains("unknown message from the agent"),
            "{e}"
        );
        eprintln!("nesting refused: {e}");
    }
    b.send(&event(1, "windows.onFocusChanged", json!([1])));
    s.until(WAIT, |m| matches!(m, ServerMsg::Event { .. }).then_some(())).expect("mirroring goes on");
    let after_nesting = peak_kib(pid);
    // 60 MiB announced, 1 KiB sent; the bridge waits for the rest.
    let mut lie = (60u32 << 20).to_ne_bytes().to_vec();
    lie.extend(std::iter::repeat_n(b' ', 1024));
    b.send_raw(&lie);
    std::thread::sleep(Duration::from_millis(300));
    let after_lie = peak_kib(pid);
    eprintln!(
        "MEASURED bridge peak RSS: {baseline} KiB at start, {after_nesting} KiB after 1 MB of nesting, {after_lie} KiB with 60 MiB announced"
    );
    assert!(after_lie < baseline + 16 * 1024, "peak {after_lie} KiB from {baseline} KiB");
    b.close_stdin();
    let (code, _) = b.wait_exit(Duration::from_secs(5)).expect("exits: the stream ended mid-frame");
    assert_eq!(code, Some(2));
    assert!(env.bridge_log().contains("1024 of 62914560"), "log: {}", env.bridge_log());

    // Past the 64 MiB limit: read past, never held (the skipping itself is
    // in security.rs); a stream that ends inside it ends the bridge.
    let mut b = started(&env);
    b.send_raw(&u32::MAX.to_ne_bytes());
    b.send_raw(&[b' '; 4096]);
    std::thread::sleep(Duration::from_millis(100));
    assert!(peak_kib(b.child.id()) < baseline + 16 * 1024, "a 4 GiB announcement is not allocated");
    b.close_stdin();
    let (code, _) =
        b.wait_exit(Duration::from_secs(5)).expect("exits: the stream ended inside a skipped frame");
    assert_eq!(code, Some(2));
    assert!(env.bridge_log().contains("4294967295"), "log: {}", env.bridge_log());
}

#[test]
fn a_recorded_trace_holds_every_message_in_order() {
    use tabscope_shared::trace::{Record, Source};
    let env = TestEnv::new();
    let trace = env.dir.path().join("trace.jsonl");
    let mut b = env.start_bridge_with(&[("TABSCOPE_TRACE", trace.to_str().unwrap())]);
    b.send(&fixtures::hello());
    b.send(&fixtures::snapshot());
    for seq in 1..=50 {
        b.send(&event(seq, "windows.onFocusChanged", json!([1])));
    }
    let mut s = b.session();
    first_snapshot(&s);
    let id = s.command("tabs.get", json!({"tabId": 1}));
    let sent = b.next_to_browser(WAIT).unwrap();
    b.send(&json!({"type":"reply","id":sent["id"],"error":"Invalid tab ID: 1"}));
    s.until(WAIT, |m| matches!(m, ServerMsg::Reply(r) if r.id == id).then_some(())).expect("the reply");
    b.send_raw(&fixtures::frame(b"{\"type\":\"nonsense\"}"));
    b.close_stdin();
    b.wait_exit(Duration::from_secs(5)).unwrap();
    let t = tabscope_shared::trace::read_file(&trace).unwrap();
    assert_eq!(t.warning, None);
    assert_eq!(t.header.source, Source::Bridge);
    assert_eq!(t.header.agent.as_ref().unwrap().browser.name, "Thunderbird", "the hello is in the header");
    assert!(matches!(t.records[0], Record::Snapshot { .. }), "the initial snapshot comes first");
    let seqs: Vec<u64> = t
        .records
        .iter()
        .filter_map(|r| if let Record::Event { event, .. } = r { Some(event.seq) } else { None })
        .collect();
    assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
    let command = t
        .records
        .iter()
        .find_map(|r| if let Record::Command { command, .. } = r { Some(command) } else { None });
    assert_eq!(command.expect("the command").method, "tabs.get");
    assert!(
        t.records
            .iter()
            .any(|r| matches!(r, Record::Reply { reply, .. } if reply.id == sent["id"].as_u64().unwrap()))
    );
    assert!(
        t.records
            .iter()
            .any(|r| matches!(r, Record::Error { message, .. } if message.contains("unknown message")))
    );
    assert!(t.records.windows(2).all(|w| w[0].t() <= w[1].t()), "timestamps never go back");
}

/// The flight recorder keeps the last events all along; saved, it is a
/// trace that starts from a snapshot and ends with the newest event.
#[test]
fn the_flight_recorder_saves_what_just_happened() {
    use tabscope_shared::protocol::ClientMsg;
    use tabscope_shared::trace::{Record, Source};
    let env = TestEnv::new();
    let mut b = env.start_bridge_with(&[("TABSCOPE_FLIGHT_RECORDS", "400")]);
    b.send(&fixtures::hello());
    b.send(&fixtures::snapshot());
    let s = b.session();
    first_snapshot(&s);
    for seq in 1..=1000 {
        b.send(&event(seq, "windows.onFocusChanged", json!([1])));
    }
    s.until(WAIT, |m| matches!(m, ServerMsg::Event { event, .. } if event.seq == 1000).then_some(()))
        .expect("all events");
    let path = env.dir.path().join("flight.jsonl");
    s.send(&ClientMsg::SaveFlight { path: path.clone() });
    let st =
        s.until(WAIT, |m| if let ServerMsg::FlightSaved(st) = m { Some(st.clone()) } else { None }).unwrap();
    assert_eq!(st.error, None);
    let t = tabscope_shared::trace::read_file(&path).unwrap();
    assert_eq!(t.header.source, Source::FlightRecorder);
    assert!(matches!(t.records[0], Record::Snapshot { .. }));
    let seqs: Vec<u64> = t
        .records
        .iter()
        .filter_map(|r| if let Record::Event { event, .. } = r { Some(event.seq) } else { None })
        .collect();
    assert_eq!(*seqs.last().unwrap(), 1000);
    assert!(seqs.len() >= 300 && seqs.len() < 400, "kept {} of the last 400 records", seqs.len());
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "no gaps");
    assert_eq!(st.events as usize, seqs.len());
}

/// An inspector's recording is written by the bridge as it happens: killing
/// the bridge mid-recording leaves a readable file with what came before.
#[test]
fn a_recording_survives_a_killed_bridge() {
    use tabscope_shared::protocol::ClientMsg;
    use tabscope_shared::trace::Record;
    let env = TestEnv::new();
    let mut b = started(&env);
    let s = b.session();
    first_snapshot(&s);
    let path = env.dir.path().join("rec.jsonl");
    s.send(&ClientMsg::Record { path: path.clone() });
    s.until(WAIT, |m| matches!(m, ServerMsg::RecordingStarted { .. }).then_some(())).expect("started");
    for seq in 1..=200 {
        b.send(&event(seq, "windows.onFocusChanged", json!([1])));
    }
    s.until(WAIT, |m| matches!(m, ServerMsg::Event { event, .. } if event.seq == 200).then_some(())).unwrap();
    // The router flushes when it catches up; give it that instant.
    std::thread::sleep(Duration::from_millis(200));
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    let t = tabscope_shared::trace::read_file(&path).unwrap();
    let events = t.records.iter().filter(|r| matches!(r, Record::Event { .. })).count();
    assert_eq!(events, 200, "every event handled before the kill is in the file");
}

/// A recording asked for into a folder that does not exist fails with a
/// clear error, and the bridge goes on mirroring.
#[test]
fn a_recording_that_cannot_be_written_says_why() {
    use tabscope_shared::protocol::ClientMsg;
    let env = TestEnv::new();
    let mut b = started(&env);
    let s = b.session();
    first_snapshot(&s);
    s.send(&ClientMsg::Record { path: "/nonexistent/dir/rec.jsonl".into() });
    let st = s
        .until(WAIT, |m| if let ServerMsg::RecordingStopped(st) = m { Some(st.clone()) } else { None })
        .unwrap();
    assert!(st.error.unwrap().starts_with("cannot record to /nonexistent/dir/rec.jsonl: No such file"));
    b.send(&event(1, "windows.onFocusChanged", json!([1])));
    s.until(WAIT, |m| matches!(m, ServerMsg::Event { .. }).then_some(())).expect("mirroring goes on");
}

/// A runtime folder others can write to may hold a planted socket: the
/// bridge refuses to start there, says why in its log, and writes nothing
/// to the browser.
#[test]
fn a_runtime_folder_others_can_write_to_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    std::fs::create_dir_all(env.runtime()).unwrap();
    std::fs::set_permissions(env.runtime(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = env
        .command(tabscope_tests::bridge_bin())
        .arg("/fake/manifest/tabscope_bridge.json")
        .arg("tabscope-agent@tabscope.dev")
        .stdin(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "not a byte to the browser: {:?}", out.stdout);
    let log = env.bridge_log();
    assert!(log.contains("writable by others (mode 777): refusing to use it"), "log: {log}");
    assert_eq!(std::fs::read_dir(env.runtime()).unwrap().count(), 0, "nothing created there");
}

#[test]
fn the_socket_is_private() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let env = TestEnv::new();
    let b = started(&env);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.runtime()), 0o700);
    assert_eq!(mode(&b.disc.socket), 0o600);
    assert_eq!(std::fs::metadata(&b.disc.socket).unwrap().uid(), unsafe { libc::geteuid() });
}

/// With root, run a real client as another user. The socket is opened up on
/// purpose, so that only the bridge's peer-credential check stands in the way.
#[test]
fn another_user_is_refused_by_peer_credentials() {
    if !tabscope_tests::require_root("another_user_is_refused_by_peer_credentials") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let env = TestEnv::new();
    let b = started(&env);
    for p in [env.dir.path().to_path_buf(), env.runtime(), b.disc.socket.clone()] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    // A client with none of the client library's checks, copied where the
    // other user can run it: only the bridge's own peer check stands.
    let bin = env.dir.path().join("raw-connect");
    std::fs::copy(env!("CARGO_BIN_EXE_raw-connect"), &bin).unwrap();
    let out = env.command(&bin).arg(&b.disc.socket).uid(65534).gid(65534).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        said.trim(),
        "closed",
        "a foreign user was not refused: {said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = wait_for(Duration::from_secs(3), || {
        let l = env.bridge_log();
        l.contains("refused a connection").then_some(l)
    });
    assert!(log.unwrap().contains("peer runs as uid 65534"));
}

/// `tabscope launch` finds its browser's bridge by the token it put in the
/// browser's environment (any OS); only a well-formed token is taken.
#[test]
fn the_launch_token_from_the_environment_is_in_the_discovery_file() {
    let env = TestEnv::new();
    let token = "0123456789abcdef0123456789abcdef";
    let b = env.start_bridge_with(&[("TABSCOPE_LAUNCH_TOKEN", token)]);
    assert_eq!(b.disc.bridge.launch_token.as_deref(), Some(token));
    drop(b);
    let bad = env.start_bridge_with(&[("TABSCOPE_LAUNCH_TOKEN", "../../etc/passwd")]);
    assert_eq!(bad.disc.bridge.launch_token, None);
}
