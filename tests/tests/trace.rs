//! Traces end to end, with the real binaries and the real agent under Node:
//! recorded by the bridge for `tabscope record`, read back with time travel,
//! replayed by `tabscope replay` to a client, exported and summarised.

use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tabscope_shared::model::Model;
use tabscope_shared::protocol::ServerMsg;
use tabscope_shared::trace::{Record, TraceIndex};
use tabscope_tests::{
    TestEnv, TestSession, WAIT, running_agent, validate_chrome_trace, wait_child, wait_for,
};

/// What a client's mirror looks like after each event, from its first
/// snapshot on, until `events` events have been seen.
fn models_after_each_event(s: &TestSession, events: usize) -> Vec<Model> {
    let mut model = None;
    let mut out = Vec::new();
    while out.len() < events {
        match s.recv(WAIT).expect("the stream goes on") {
            ServerMsg::Snapshot { snapshot, .. } => model = Some(Model::from_snapshot(snapshot)),
            ServerMsg::Event { event, .. } => {
                let m = model.as_mut().expect("a snapshot first");
                let _ = m.apply_record(&event);
                out.push(m.clone());
            }
            _ => {}
        }
    }
    out
}

fn interrupt(child: &mut Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
}

/// Record -> read -> replay: the same model at every step as the live run.
#[test]
fn record_read_and_replay_give_the_live_model_at_every_step() {
    let env = TestEnv::new();
    let Some(_agent) = running_agent(&env) else { return };
    let bridge = env.bridges().into_iter().find(|b| b.browser.is_some()).unwrap();
    let watcher = TestSession::connect(&bridge.socket);
    watcher.until(WAIT, |m| matches!(m, ServerMsg::Snapshot { .. }).then_some(())).unwrap();

    let file = env.dir.path().join("rec.jsonl");
    let mut rec = tabscope_tests::Reaped::spawn(
        env.command(tabscope_tests::tabscope_bin())
            .args(["record", "--out", file.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    wait_for(WAIT, || std::fs::metadata(&file).ok().filter(|m| m.len() > 0)).expect("the recording starts");

    // The live run, seen by an inspector connected before it.
    let live = TestSession::connect(&bridge.socket);
    let mut s = TestSession::connect(&bridge.socket);
    let tab = |v: Value| v["id"].as_i64().unwrap();
    let a =
        tab(s.call("tabs.create", json!({"createProperties": {"url": "https://example.org/a"}})).unwrap());
    let b =
        tab(s.call("tabs.create", json!({"createProperties": {"url": "https://example.org/b"}})).unwrap());
    s.call("tabs.update", json!({"tabId": a, "updateProperties": {"active": true}})).unwrap();
    s.call("tabs.move", json!({"tabIds": b, "moveProperties": {"index": 0}})).unwrap();
    s.call("sessions.setTabValue", json!({"tabId": b, "key": "k", "value": "v1"})).unwrap();
    s.call("sessions.setTabValue", json!({"tabId": b, "key": "k", "value": "v2"})).unwrap();
    s.call("tabs.remove", json!({"tabIds": [a]})).unwrap();
    assert!(s.call("tabs.get", json!({"tabId": 999_999})).is_err());
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&mut rec);
    let status = wait_child(&mut rec, WAIT).expect("record stops on Ctrl-C");
    let mut err = String::new();
    std::io::Read::read_to_string(rec.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    assert!(err.contains("recorded: "), "{err}");

    // Read: the trace holds the events, the commands and their replies.
    let index = TraceIndex::open(&file).unwrap();
    let records = index.read_records(0, index.len()).unwrap();
    assert!(matches!(records[0], Record::Snapshot { .. }));
    let event_at: Vec<usize> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, Record::Event { .. }))
        .map(|(k, _)| k)
        .collect();
    let commands = records.iter().filter(|r| matches!(r, Record::Command { .. })).count();
    let replies = records.iter().filter(|r| matches!(r, Record::Reply { .. })).count();
    assert_eq!((commands, replies), (8, 8), "every command and its reply");
    let live_models = models_after_each_event(&live, event_at.len());
    assert!(event_at.len() >= 8, "{} events", event_at.len());
    for (j, &k) in event_at.iter().enumerate() {
        assert_eq!(
            index.state_at(k + 1).unwrap(),
            live_models[j],
            "time travel to after event {j} (record {k})"
        );
    }

    // Replay, in a world of its own: a client sees the same models again.
    let env2 = TestEnv::new();
    let mut replay = tabscope_tests::Reaped::spawn(
        env2.command(tabscope_tests::tabscope_bin())
            .args(["replay", file.to_str().unwrap(), "--speed", "max", "--exit-at-end"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let d = wait_for(WAIT, || env2.bridges().into_iter().next()).expect("the replaying bridge");
    assert_eq!(d.bridge.replay.as_deref(), Some(file.to_str().unwrap()));
    let viewer = TestSession::connect(&d.socket);
    let replayed = models_after_each_event(&viewer, event_at.len());
    assert_eq!(replayed, live_models, "the replay shows what the live run showed, step by step");
    let st = wait_child(&mut replay, WAIT).expect("--exit-at-end exits");
    assert!(st.success());
}

#[test]
fn stats_export_and_flight_from_the_command_line() {
    let env = TestEnv::new();
    let Some(_agent) = running_agent(&env) else { return };
    let bridge = env.bridges().into_iter().find(|b| b.browser.is_some()).unwrap();
    let mut s = TestSession::connect(&bridge.socket);
    let created_ids: Vec<i64> = (0..5)
        .map(|i| {
            let tab = s.call(
                "tabs.create",
                json!({"createProperties": {"url": format!("https://example.org/{i}")}}),
            );
            tab.unwrap()["id"].as_i64().unwrap()
        })
        .collect();
    // What just happened, saved after the fact.
    let flight = env.dir.path().join("flight.jsonl");
    let out = env.tabscope(&["flight", "--out", flight.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t = tabscope_shared::trace::read_file(&flight).unwrap();
    let ids: Vec<Value> = created_ids.iter().map(|id| json!(id)).collect();
    let ours = |r: &&Record| matches!(r, Record::Event { event, .. } if event.name == "tabs.onCreated" && ids.contains(&event.args[0]["id"]));
    assert_eq!(t.records.iter().filter(ours).count(), 5);
    let methods: Vec<&str> = t
        .records
        .iter()
        .filter_map(|r| {
            if let Record::Command { command, .. } = r { Some(command.method.as_str()) } else { None }
        })
        .collect();
    assert_eq!(methods, ["tabs.create"; 5]);

    let out = env.tabscope(&["trace", "stats", flight.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("commands      5 (5 ok, 0 failed)"), "{text}");
    let created = t
        .records
        .iter()
        .filter(|r| matches!(r, Record::Event { event, .. } if event.name == "tabs.onCreated"))
        .count();
    assert!(
        text.lines().any(|l| l.starts_with("tabs.onCreated") && l.contains(&format!(" {created} "))),
        "{text}"
    );

    let chrome = env.dir.path().join("chrome.json");
    let out = env.tabscope(&[
        "trace",
        "export",
        "--format",
        "chrome",
        flight.to_str().unwrap(),
        chrome.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (instant, complete) = validate_chrome_trace(&std::fs::read_to_string(&chrome).unwrap(), 5);
    assert!(instant >= 5 && complete == 5);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&chrome).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the export holds titles and URLs");

    let bad = env.dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"hello\": 1}\n").unwrap();
    let out = env.tabscope(&["trace", "stats", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a trace record"), "{err}");
}

/// The demo trace shipped for new users is a real Thunderbird recording in
/// the current format, and exports cleanly.
#[test]
fn the_demo_trace_is_a_real_thunderbird_recording() {
    let path = tabscope_tests::workspace_root().join("docs/demo-trace.jsonl");
    let t = tabscope_shared::trace::read_file(&path).unwrap();
    let agent = t.header.agent.as_ref().expect("the header names the browser");
    assert_eq!(agent.browser.name, "Thunderbird");
    assert!(t.records.iter().filter(|r| matches!(r, Record::Event { .. })).count() >= 10);
    let mut out = Vec::new();
    let commands = t.records.iter().filter(|r| matches!(r, Record::Command { .. })).count();
    tabscope_shared::trace::export_chrome(
        std::io::BufReader::new(std::fs::File::open(&path).unwrap()),
        &mut out,
    )
    .unwrap();
    validate_chrome_trace(std::str::from_utf8(&out).unwrap(), commands);
}

/// A synthetic trace with every placement rule: where an event lands, how a
/// command spans to its reply, what an unanswered command becomes.
#[test]
fn chrome_export_places_events_and_spans_commands() {
    use tabscope_shared::protocol::{Command, EventRecord, Outcome, Reply, Snapshot};
    use tabscope_shared::trace::{Source, TraceHeader, TraceWriter};
    let snapshot: Snapshot = serde_json::from_value(json!({"windows":[{"id":1,"type":"normal","tabs":[
        {"id":1,"index":0,"windowId":1,"active":true,"title":"Inbox"}]}]}))
    .unwrap();
    let ev = |t, seq, name: &str, args| Record::Event {
        t,
        event: EventRecord { seq, time: 1e12, name: name.into(), args },
    };
    let records = vec![
        Record::Header(Box::new(TraceHeader::new(Source::Synthetic, 0.0, 0))),
        Record::Snapshot { t: 0, snapshot },
        Record::Command {
            t: 10,
            command: Command { id: 1, method: "tabs.create".into(), params: json!({"createProperties":{}}) },
        },
        ev(20, 1, "tabs.onCreated", vec![json!({"id":2,"index":1,"windowId":1,"title":"New"})]),
        Record::Reply { t: 30, reply: Reply { id: 1, outcome: Outcome::Result(json!({"id":2})) } },
        Record::Command {
            t: 40,
            command: Command { id: 2, method: "tabs.reload".into(), params: json!({"tabId":2}) },
        },
        ev(50, 2, "tabs.onRemoved", vec![json!(2), json!({"windowId":1,"isWindowClosing":false})]),
        ev(60, 3, "windows.onFocusChanged", vec![json!(-1)]),
    ];
    let mut w = TraceWriter::new(Vec::new());
    for r in &records {
        w.write(r).unwrap();
    }
    let bytes = w.into_inner().unwrap();
    let mut out = Vec::new();
    let done = tabscope_shared::trace::export_chrome(&bytes[..], &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let (instant, complete) = validate_chrome_trace(&text, 2);
    assert_eq!((done.instant as usize, done.complete as usize, instant), (instant, complete, 4));
    let doc: Value = serde_json::from_str(&text).unwrap();
    let find = |name: &str| {
        doc["traceEvents"].as_array().unwrap().iter().find(|e| e["name"] == name).cloned().unwrap()
    };
    let created = find("tabs.onCreated");
    assert_eq!(
        (created["pid"].as_i64(), created["tid"].as_i64(), created["ts"].as_u64()),
        (Some(1), Some(3), Some(20))
    );
    let create = find("tabs.create");
    assert_eq!((create["ts"].as_u64(), create["dur"].as_u64()), (Some(10), Some(20)));
    assert_eq!(find("tabs.reload")["args"]["outcome"]["error"], "no reply in the trace");
    let removed = find("tabs.onRemoved");
    assert_eq!((removed["pid"].as_i64(), removed["tid"].as_i64()), (Some(1), Some(3)), "where the tab was");
}
