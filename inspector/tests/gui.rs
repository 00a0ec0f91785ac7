//! The real inspector UI (egui_kittest, no display needed) against the real
//! bridge, fed by the real agent JavaScript under Node.

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use serde_json::json;
use tabscope::gui::live::{Origin, Recording};
use tabscope::gui::{App, Options};
use tabscope_shared::protocol::{Scope, SessionValue};
use tabscope_shared::trace::Record;
use tabscope_tests::{NodeAgent, TestEnv, TestSession, require_program, wait_for};

struct World {
    env: TestEnv,
    agent: NodeAgent,
}

fn world() -> Option<World> {
    world_of("thunderbird")
}

fn world_of(flavor: &str) -> Option<World> {
    let node = require_program(&["node", "nodejs"], "install Node.js: apt-get install nodejs")?;
    let env = TestEnv::new();
    let mut agent = NodeAgent::start(&env, &node, flavor);
    wait_for(Duration::from_secs(10), || env.bridges().into_iter().find(|b| b.browser.is_some()))
        .expect("bridge");
    agent.op(json!({"op": "startUp"}));
    Some(World { env, agent })
}

fn harness(env: &TestEnv) -> Harness<'static, App> {
    let app = App::new(Options::default(), None, env.runtime(), std::sync::Arc::new(|| {}));
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut App| app.show(ui), app)
}

/// Steps the UI in real time until `done` holds (the bridge and agent run
/// on their own threads and processes).
fn pump(h: &mut Harness<'_, App>, what: &str, mut done: impl FnMut(&mut Harness<'_, App>) -> bool) {
    // Generous: CI runs these beside real browsers on two cores.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        h.step();
        if done(h) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Focuses a labelled field and types into it, as a person does.
fn type_into(h: &mut Harness<'_, App>, label: &str, text: &str) {
    h.get_by_label(label).focus();
    h.run_steps(1);
    h.get_by_label(label).type_text(text);
    h.run_steps(2);
}

fn has_label(h: &Harness<'_, App>, label: &str) -> bool {
    h.query_all_by_label(label).next().is_some()
}

fn value_of(app: &App, tab: i64, key: &str) -> Option<SessionValue> {
    app.conns.current()?.live.model.values(Scope::Tab, tab)?.get(key).cloned()
}

#[test]
fn select_a_tab_see_its_properties_and_add_a_value_through_the_editor() {
    let Some(w) = world() else { return };
    let mut h = harness(&w.env);
    pump(&mut h, "the mail tab in the tree", |h| has_label(h, "mail tab"));
    h.get_by_label("mail tab").click();
    pump(&mut h, "the properties", |h| has_label(h, "splitViewId") && has_label(h, "Tab 1"));
    // Once the agent has tested the browser, Thunderbird's rule is explained.
    pump(&mut h, "the string-only note", |h| {
        has_label(h, "Thunderbird 153.7.0 stores strings only: objects are refused. Store JSON as text.")
    });

    h.get_by_label("Add value").click();
    pump(&mut h, "the editor", |h| has_label(h, "Key"));
    type_into(&mut h, "Key", "color");
    type_into(&mut h, "Value", "red");
    h.run_steps(2);
    h.get_by_label("Save").click();
    pump(&mut h, "the value back in the model", |h| value_of(h.state(), 1, "color").is_some());
    assert_eq!(value_of(h.state(), 1, "color"), Some(SessionValue::String("red".into())));
    // The browser side has it: read it back through a separate client.
    let bridge = w.env.bridges().into_iter().next().unwrap();
    let mut other = TestSession::connect(&bridge.socket);
    assert_eq!(
        other.call("sessions.getTabValue", json!({"tabId": 1, "key": "color"})).unwrap(),
        json!("red")
    );
    pump(&mut h, "the value in the table", |h| has_label(h, "color") && has_label(h, "Edit"));
    drop(w.agent);
}

#[test]
fn invalid_json_shows_the_error_and_sends_nothing() {
    let Some(w) = world() else { return };
    let mut h = harness(&w.env);
    pump(&mut h, "the mail tab", |h| has_label(h, "mail tab"));
    h.get_by_label("mail tab").click();
    // Settled: the agent has told what this browser stores.
    pump(&mut h, "the values panel", |h| {
        has_label(h, "Add value")
            && h.state().conns.current().is_some_and(|l| l.live.object_values().is_some())
    });
    h.get_by_label("Add value").click();
    pump(&mut h, "the editor", |h| has_label(h, "Key"));
    h.get_by_label("JSON as text").click();
    pump(&mut h, "the JSON editor", |h| has_label(h, "Value (JSON)"));
    type_into(&mut h, "Key", "bad");
    h.run_steps(2);
    type_into(&mut h, "Value (JSON)", "{\"a\": ");
    h.run_steps(3);
    let error = h.query_by_label_contains("Invalid JSON: line 1, column 6");
    assert!(error.is_some(), "the error says where");
    let commands_before = h.state().conns.current().unwrap().live.log.len();
    h.get_by_label("Save").click();
    h.run_steps(5);
    std::thread::sleep(Duration::from_millis(300));
    h.run_steps(5);
    let live = &h.state().conns.current().unwrap().live;
    assert_eq!(live.in_flight(), 0, "no command was sent");
    assert_eq!(live.log.len(), commands_before, "nothing happened");
    assert_eq!(value_of(h.state(), 1, "bad"), None);
    // Fixing it enables Save.
    type_into(&mut h, "Value (JSON)", "1}");
    h.run_steps(3);
    assert!(h.query_by_label_contains("Invalid JSON").is_none());
    h.get_by_label("Save").click();
    pump(&mut h, "the JSON text stored as a string", |h| value_of(h.state(), 1, "bad").is_some());
    assert_eq!(value_of(h.state(), 1, "bad"), Some(SessionValue::String("{\"a\": 1}".into())));
}

#[test]
fn the_event_log_filters_by_text() {
    let Some(w) = world() else { return };
    let mut h = harness(&w.env);
    pump(&mut h, "the mail tab", |h| has_label(h, "mail tab"));
    // Events after the inspector connected.
    let bridge = w.env.bridges().into_iter().next().unwrap();
    let mut other = TestSession::connect(&bridge.socket);
    other.call("tabs.create", json!({"createProperties": {"url": "https://example.org/"}})).unwrap();
    other.call("windows.update", json!({"windowId": 1, "updateInfo": {"focused": true}})).unwrap();
    pump(&mut h, "events in the log", |h| has_label(h, "tabs.onCreated"));
    type_into(&mut h, "Log filter", "onFocusChanged");
    pump(&mut h, "the filtered log", |h| has_label(h, "windows.onFocusChanged"));
    let live = &mut h.state_mut().conns.current_mut().unwrap().live;
    let visible = live.log.visible().to_vec();
    assert!(!visible.is_empty());
    assert!(visible.iter().all(|&i| live.log.get(i).name.contains("onFocusChanged")));
    assert!(!has_label(&h, "tabs.onCreated"), "other events are filtered out of the table");
}

#[test]
fn with_no_bridge_the_empty_state_says_what_to_do() {
    let env = TestEnv::new();
    let mut h = harness(&env);
    h.run_steps(3);
    assert!(has_label(&h, "No browser connected"));
    assert!(has_label(&h, "Install host manifest"));
    assert!(has_label(&h, "Launch Thunderbird"));
}

/// The bridge is SIGKILLed: the inspector says so and keeps showing the last
/// state; when the agent has started a new bridge, the same link takes it up.
#[test]
fn a_killed_bridge_is_reported_and_its_successor_taken_up() {
    let Some(mut w) = world() else { return };
    let mut h = harness(&w.env);
    pump(&mut h, "the mail tab", |h| h.state().conns.current().is_some_and(|l| l.live.model.tab_count() > 0));
    let first = w.env.bridges().into_iter().next().unwrap().bridge.pid;
    let tabs = current_tabs(&h);
    w.agent.op(json!({"op": "killHost"}));
    pump(&mut h, "the loss reported", |h| h.query_by_label_contains("Disconnected:").is_some());
    assert_eq!(current_tabs(&h), tabs, "the last state stays on screen");
    pump(&mut h, "the new bridge", |h| {
        h.state()
            .conns
            .current()
            .is_some_and(|l| l.is_live() && l.disc.as_ref().is_some_and(|d| d.bridge.pid != first))
    });
    assert_eq!(h.state().conns.links.len(), 1, "the same browser, not a second link");
    assert!(h.query_by_label_contains("Disconnected:").is_none());
}

/// A dropped file that is not a trace says why, and nothing keeps loading.
#[test]
fn a_dropped_file_that_is_not_a_trace_says_why() {
    let env = TestEnv::new();
    let mut h = harness(&env);
    h.run_steps(2);
    let bad = env.dir.path().join("notes.txt");
    std::fs::write(&bad, "shopping list\n").unwrap();
    h.input_mut().dropped_files.push(std::sync::Arc::new(Dropped(bad)));
    pump(&mut h, "the error", |h| {
        h.query_by_label_contains("notes.txt: line 1: not a trace record").is_some()
    });
    let link = h.state().conns.current().unwrap();
    assert!(link.loader_done() && link.trace.is_none());
}

/// A file as eframe hands a dropped one over.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// A trace file dropped on the window opens, as a dialog-opened one does.
#[test]
fn a_trace_dropped_on_the_window_opens() {
    let env = TestEnv::new();
    let mut h = harness(&env);
    h.run_steps(2);
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/demo-trace.jsonl");
    let expected = tabscope_shared::trace::read_file(&demo).unwrap();
    h.input_mut().dropped_files.push(std::sync::Arc::new(Dropped(demo.clone())));
    pump(&mut h, "the dropped trace", |h| {
        h.state().conns.current().is_some_and(|l| l.trace.is_some() && l.loader_done())
    });
    let link = h.state().conns.current().unwrap();
    assert_eq!(link.label, "demo-trace.jsonl");
    assert_eq!(link.trace.as_ref().unwrap().index.len(), expected.records.len());
    assert!(has_label(&h, "Pin to compare"), "the timeline shows");
}

/// Opens the mail tab's details once the agent has reported what it stores.
fn select_mail_tab(h: &mut Harness<'_, App>) {
    pump(h, "the mail tab", |h| has_label(h, "mail tab"));
    h.get_by_label("mail tab").click();
    pump(h, "its values panel", |h| {
        has_label(h, "Add value")
            && h.state().conns.current().is_some_and(|l| l.live.object_values().is_some())
    });
}

#[test]
fn a_value_changed_by_the_browser_during_an_edit_is_not_silently_overwritten() {
    let Some(w) = world() else { return };
    let bridge = w.env.bridges().into_iter().next().unwrap();
    let mut other = TestSession::connect(&bridge.socket);
    other.call("sessions.setTabValue", json!({"tabId": 1, "key": "color", "value": "red"})).unwrap();
    let mut h = harness(&w.env);
    select_mail_tab(&mut h);
    pump(&mut h, "the value", |h| has_label(h, "color"));
    h.get_by_label("Edit").click();
    pump(&mut h, "the editor", |h| has_label(h, "Edit color"));
    // Someone else (the add-on under test, say) changes it meanwhile.
    other.call("sessions.setTabValue", json!({"tabId": 1, "key": "color", "value": "blue"})).unwrap();
    pump(&mut h, "the warning", |h| {
        h.query_by_label_contains("Changed in the browser while you were editing: it is now string blue")
            .is_some()
    });
    assert!(has_label(&h, "Overwrite"), "saving now says what it does");
    assert!(!has_label(&h, "Save"));
    h.get_by_label("Take theirs").click();
    pump(&mut h, "the editor reloaded", |h| !has_label(h, "Overwrite"));
    assert_eq!(h.state().editor.text, "blue");
}

#[test]
fn an_action_reports_its_result_where_it_was_clicked() {
    let Some(w) = world() else { return };
    let mut h = harness(&w.env);
    select_mail_tab(&mut h);
    h.get_by_label("Reload").click();
    pump(&mut h, "the reload's result", |h| has_label(h, "ok: tabs.reload: done"));
    // The browser's own error, e.g. a script in a mail tab.
    h.get_by_label("Move").click();
    type_into(&mut h, "Move to index", "x");
    h.get_by_label("Move").click();
    h.run_steps(2);
    assert!(has_label(&h, "the index must be a whole number (-1 moves to the end)"));
}

fn trace_loaded(h: &Harness<'_, App>) -> bool {
    h.state().conns.current().is_some_and(|l| l.trace.is_some())
}

fn current_tabs(h: &Harness<'_, App>) -> usize {
    h.state().conns.current().unwrap().live.model.tab_count()
}

/// Record in the UI (the bridge writes the file), open the recording, and
/// travel in it: Home shows the world before the new tab, End after it,
/// and the pinned moment is compared with the one shown.
#[test]
fn record_open_travel_and_compare() {
    let Some(w) = world() else { return };
    let mut h = harness(&w.env);
    h.state_mut().traces_dir = w.env.dir.path().join("traces");
    select_mail_tab(&mut h);
    let before = current_tabs(&h);
    h.get_by_label("Record").click();
    pump(&mut h, "recording", |h| h.query_by_label_contains("Stop recording").is_some());
    let bridge = w.env.bridges().into_iter().next().unwrap();
    let mut other = TestSession::connect(&bridge.socket);
    let tab =
        other.call("tabs.create", json!({"createProperties": {"url": "https://example.org/"}})).unwrap();
    let tab = tab["id"].as_i64().unwrap();
    pump(&mut h, "events counted", |h| {
        h.state().conns.current().unwrap().live.events_seen > 0
            && h.query_by_label_contains("Stop recording").is_some()
    });
    h.get_by_label_contains("Stop recording").click();
    pump(&mut h, "the recording's button", |h| h.query_by_label_contains("Open recording").is_some());
    let Recording::Done(st) = h.state().conns.current().unwrap().live.recording.clone() else { panic!() };
    assert!(st.path.starts_with(w.env.dir.path().join("traces")) && st.error.is_none(), "{st:?}");
    // Named after the browser, what and when (UTC): thunderbird-recording-20261121T143005Z.jsonl
    let name = st.path.file_name().unwrap().to_str().unwrap();
    let when = name.strip_prefix("thunderbird-recording-").and_then(|n| n.strip_suffix("Z.jsonl")).unwrap();
    assert!(
        when.len() == 15
            && when.chars().enumerate().all(|(i, c)| if i == 8 { c == 'T' } else { c.is_ascii_digit() }),
        "{name}"
    );
    let t = tabscope_shared::trace::read_file(&st.path).unwrap();
    assert!(matches!(t.records[0], Record::Snapshot { .. }));
    assert!(
        t.records
            .iter()
            .any(|r| matches!(r, Record::Command { command, .. } if command.method == "tabs.create"))
    );

    h.get_by_label_contains("Open recording").click();
    pump(&mut h, "the trace", |h| trace_loaded(h));
    assert_eq!(current_tabs(&h), before + 1, "an opened trace shows its end");
    pump(&mut h, "the timeline", |h| has_label(h, "Pin to compare"));
    h.key_press(egui::Key::Home);
    h.run_steps(2);
    assert_eq!(h.state().conns.current().unwrap().trace.as_ref().unwrap().moment, 1);
    assert_eq!(current_tabs(&h), before, "the start: the world before the new tab");
    h.key_press(egui::Key::P);
    h.key_press(egui::Key::End);
    pump(&mut h, "the changes", |h| h.query_by_label_contains(&format!("+ tab {tab} ")).is_some());
    assert_eq!(current_tabs(&h), before + 1);
    // A click on a change selects its tab.
    h.get_by_label_contains(&format!("+ tab {tab} ")).click();
    h.run_steps(2);
    assert_eq!(h.state().selection, Some(tabscope::gui::app::Selection::Tab(tab)));
}

/// "Save what just happened": the bridge's flight recorder, saved and
/// opened in a new view, holds events from before anyone pressed Record.
#[test]
fn save_what_just_happened_opens_the_flight_recording() {
    let Some(w) = world() else { return };
    let bridge = w.env.bridges().into_iter().next().unwrap();
    let mut other = TestSession::connect(&bridge.socket);
    other.call("tabs.create", json!({"createProperties": {"url": "https://example.org/"}})).unwrap();
    let mut h = harness(&w.env);
    h.state_mut().traces_dir = w.env.dir.path().join("traces");
    select_mail_tab(&mut h);
    let live_tabs = current_tabs(&h);
    h.get_by_label("Save what just happened").click();
    pump(&mut h, "the flight recording", |h| trace_loaded(h));
    let link = h.state().conns.current().unwrap();
    assert!(link.label.contains("flight"), "{}", link.label);
    assert_eq!(current_tabs(&h), live_tabs);
    assert!(link.live.log.len() > 2, "the events before the save are there");
}

fn select_window(h: &mut Harness<'_, App>, title: &str) {
    pump(h, "the window row", |h| h.query_by_label_contains(title).is_some());
    h.get_by_label_contains(title).click();
    pump(h, "the window's details", |h| has_label(h, "Window 1") && has_label(h, "Focus"));
}

#[test]
fn thunderbird_windows_explain_that_they_have_no_values() {
    let Some(w) = world() else { return };
    let mut h = harness(&w.env);
    pump(&mut h, "the agent's capabilities", |h| {
        h.state().conns.current().is_some_and(|l| l.live.agent.is_some())
    });
    select_window(&mut h, "Window 1");
    assert!(
        h.query_by_label_contains("has no window values: its sessions API stores tab values only").is_some()
    );
    assert!(!has_label(&h, "Add value"));
}

#[test]
fn firefox_window_values_are_added_through_the_editor() {
    let Some(w) = world_of("firefox") else { return };
    let mut h = harness(&w.env);
    pump(&mut h, "the agent's capabilities", |h| {
        h.state().conns.current().is_some_and(|l| l.live.window_values())
    });
    select_window(&mut h, "Window 1");
    pump(&mut h, "the editor button", |h| has_label(h, "Add value"));
    h.get_by_label("Add value").click();
    pump(&mut h, "the editor", |h| has_label(h, "Key"));
    h.get_by_label("JSON object").click();
    pump(&mut h, "the JSON editor", |h| has_label(h, "Value (JSON)"));
    type_into(&mut h, "Key", "layout");
    type_into(&mut h, "Value (JSON)", "{\"columns\": 2}");
    h.get_by_label("Save").click();
    pump(&mut h, "the window value in the model", |h| {
        h.state()
            .conns
            .current()
            .and_then(|l| l.live.model.values(Scope::Window, 1)?.get("layout").cloned())
            .is_some()
    });
    let v = h.state().conns.current().unwrap().live.model.values(Scope::Window, 1).unwrap()["layout"].clone();
    assert_eq!(v, SessionValue::Json(json!({"columns": 2})), "stored as an object, and shown as such");
    pump(&mut h, "the type in the table", |h| has_label(h, "json"));
}

#[test]
fn keyboard_shortcuts_select_reload_and_record() {
    let Some(w) = world() else { return };
    let bridge = w.env.bridges().into_iter().next().unwrap();
    let mut other = TestSession::connect(&bridge.socket);
    let created =
        other.call("tabs.create", json!({"createProperties": {"url": "https://example.org/"}})).unwrap();
    let second = created["id"].as_i64().unwrap();
    let mut h = harness(&w.env);
    select_mail_tab(&mut h);
    pump(&mut h, "the second tab in the tree", |h| {
        h.state().conns.current().is_some_and(|l| l.live.model.tab(second).is_some())
    });
    // Down: the next row, the new tab.
    h.key_press(egui::Key::ArrowDown);
    h.run_steps(2);
    assert_eq!(h.state().selection, Some(tabscope::gui::app::Selection::Tab(second)));
    // F5 reloads the selected tab, with the result where the actions are.
    h.key_press(egui::Key::F5);
    pump(&mut h, "the reload's result", |h| has_label(h, "ok: tabs.reload: done"));
    // Ctrl+R records, Ctrl+R again stops; the bridge wrote the file.
    h.state_mut().traces_dir = w.env.dir.path().join("keys");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::R);
    pump(&mut h, "recording", |h| h.query_by_label_contains("Stop recording").is_some());
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::R);
    pump(
        &mut h,
        "the saved trace",
        |h| matches!(&h.state().conns.current().unwrap().live.recording, Recording::Done(st) if st.path.exists()),
    );
}

/// `tabscope replay` of the real Thunderbird demo trace is found and shown
/// by the inspector on its own, marked as a replay, as a live browser is.
#[test]
fn the_inspector_shows_a_replayed_trace_like_a_live_browser() {
    let env = TestEnv::new();
    let demo = tabscope_tests::workspace_root().join("docs/demo-trace.jsonl");
    let mut replay = tabscope_tests::Reaped::spawn(
        env.command(tabscope_tests::tabscope_bin())
            .args(["replay", demo.to_str().unwrap(), "--speed", "max"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let mut h = harness(&env);
    pump(&mut h, "the replaying bridge", |h| {
        h.query_by_label_contains("Thunderbird 153.7.0 (replay)").is_some()
    });
    pump(&mut h, "the replayed mail tab", |h| has_label(h, "mail tab"));
    // At full speed the rest of the trace may still be on its way.
    pump(&mut h, "the replayed events", |h| {
        h.state().conns.current().is_some_and(|l| l.is_live() && l.live.events_seen >= 10)
    });
    // Commands reach no browser: the replay says so at once.
    h.get_by_label("mail tab").click();
    pump(&mut h, "the actions", |h| has_label(h, "Reload"));
    h.get_by_label("Reload").click();
    pump(&mut h, "the refusal", |h| {
        h.query_by_label_contains("tabs.reload was not run: this bridge replays a recorded trace").is_some()
    });
    let _ = replay.kill();
    let _ = replay.wait();
}

/// Without page access, and with script injection turned off in the agent's
/// options, the inspector says why and offers no Run or Insert (the bridge refusing them is in bridge.rs, the
/// real agent refusing them in agent.test.js); turned on again, they return.
#[test]
fn script_injection_turned_off_in_the_agent_greys_out_run_and_insert() {
    let Some(mut w) = world_of("firefox") else { return };
    let mut h = harness(&w.env);
    let scripts = |h: &Harness<'_, App>| {
        h.state().conns.current().and_then(|l| l.live.agent.as_ref()).map(|a| a.capabilities.allows_scripts())
    };
    pump(&mut h, "the agent's capabilities", |h| scripts(h) == Some(true));
    pump(&mut h, "the content tab", |h| has_label(h, "Loading…"));
    h.get_by_label("Loading…").click();
    pump(&mut h, "the tab's actions", |h| has_label(h, "Script and CSS"));
    h.get_by_label("Script and CSS").click();
    pump(&mut h, "the Run button", |h| has_label(h, "Run"));
    let disabled = |h: &Harness<'_, App>, label: &str| h.get_by_label(label).accesskit_node().is_disabled();
    // As a real browser starts: no page access until the user allows it.
    assert!(h.query_by_label_contains("may not script pages").is_some());
    assert!(disabled(&h, "Run") && disabled(&h, "Insert"), "no page access: greyed out");
    w.agent.op(json!({"op": "hostAccess", "on": true}));
    let access = |h: &Harness<'_, App>| {
        h.state().conns.current().and_then(|l| l.live.agent.as_ref()).and_then(|a| a.capabilities.host_access)
    };
    pump(&mut h, "the hello after the grant", |h| access(h) == Some(true));
    h.run_steps(2);
    assert!(!disabled(&h, "Run") && !disabled(&h, "Insert"));
    h.get_by_label("Run").click();
    pump(&mut h, "the script's result, per frame", |h| {
        h.query_by_label_contains("tabs.executeScript: frame 0:").is_some()
    });

    w.agent.op(json!({"op": "scriptInjection", "on": false}));
    pump(&mut h, "the new hello", |h| scripts(h) == Some(false));
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("Script injection is turned off in this browser's tabscope agent")
            .is_some()
    );
    assert!(disabled(&h, "Run") && disabled(&h, "Insert"), "Run and Insert are greyed out");

    w.agent.op(json!({"op": "scriptInjection", "on": true}));
    pump(&mut h, "the hello after turning it on", |h| scripts(h) == Some(true));
    h.run_steps(2);
    assert!(!disabled(&h, "Run") && !disabled(&h, "Insert"));
}

/// x-ray in the inspector, on a real Thunderbird with an ordinary second
/// add-on (tests/fixtures/other-addon): pick that add-on, see its values,
/// add one with the editor; the add-on's own getTabValue sees it (it echoes
/// what it sees into its "echo" value).
#[test]
fn xray_shows_and_edits_another_add_ons_values_in_a_real_thunderbird() {
    if !tabscope_tests::require_browser("thunderbird") {
        return;
    }
    const OTHER: &str = "other-addon@tabscope.test";
    let env = TestEnv::new();
    let fixture = tabscope_tests::other_addon();
    let mut launched =
        tabscope_tests::Launched::start(&env, "thunderbird", &["--no-inspector", "--addon", &fixture]);
    let mut h = harness(&env);
    let other_value = |h: &Harness<'_, App>, key: &str| {
        let live = &h.state().conns.current()?.live;
        live.model.addons()?.values_of(Scope::Tab, 1)?.get(OTHER)?.get(key).cloned()
    };
    pump(&mut h, "the other add-on's value, seen through x-ray", |h| other_value(h, "mine").is_some());
    select_mail_tab(&mut h);
    pump(&mut h, "the owner picker", |h| has_label(h, "Whose values"));
    h.get_by_label("Whose values").click();
    h.run_steps(2);
    h.get_by_label_contains(&format!("({OTHER}) · ")).click();
    pump(&mut h, "the other add-on's values in the table", |h| has_label(h, "mine"));
    // The picker's list closes once chosen.
    pump(&mut h, "the picker to close", |h| {
        !has_label(h, "tabscope agent (its own values)") || {
            h.query_all_by_label("tabscope agent (its own values)").count() == 0
        }
    });
    assert_eq!(h.state().editor.owner.as_deref(), Some(OTHER));
    h.get_by_label("Add value").click();
    pump(&mut h, "the editor", |h| has_label(h, "Key"));
    type_into(&mut h, "Key", "edited");
    type_into(&mut h, "Value", "from the inspector");
    let e = &h.state().editor;
    assert_eq!((e.key.as_str(), e.text.as_str()), ("edited", "from the inspector"));
    assert!(!h.get_by_label("Save").accesskit_node().is_disabled(), "Save is enabled");
    // Below the table: scrolled to, as a person would.
    h.get_by_label("Save").scroll_to_me();
    h.run_steps(2);
    // The pointer goes there first, as a person's does (a click with no
    // move before it lands where the pointer was).
    h.get_by_label("Save").hover();
    h.run_steps(2);
    h.get_by_label("Save").click();
    h.run_steps(2);
    assert!(!h.state().editor.open, "Save closed the editor (the command was sent)");
    pump(&mut h, "the save's result", |h| {
        h.state().conns.current().is_some_and(|l| l.live.results.contains_key(&Origin::Values))
    });
    let result = h.state().conns.current().unwrap().live.results[&Origin::Values].text();
    assert_eq!(result, "sessions.setTabValue: done");
    pump(&mut h, "the add-on to see the edit", |h| {
        other_value(h, "echo") == Some(SessionValue::String("\"from the inspector\"".into()))
    });
    let (ok, said) = launched.quit();
    assert!(ok, "{said}");
}

/// The call console: a function picked from the method table, its form
/// filled from the selection and checked as you type, the call made, the
/// answer (or the browser's error) in place and in the history.
#[test]
fn the_call_console_calls_any_function_and_shows_the_answer_in_place() {
    let Some(w) = world() else { return };
    let mut h = harness(&w.env);
    pump(&mut h, "the mail tab", |h| has_label(h, "mail tab"));
    h.get_by_label("mail tab").click();
    pump(&mut h, "the selection", |h| {
        matches!(h.state().selection, Some(tabscope::gui::app::Selection::Tab(_)))
    });
    let Some(tabscope::gui::app::Selection::Tab(tab)) = h.state().selection else { unreachable!() };
    h.get_by_label("Console").click();
    pump(&mut h, "the console", |h| has_label(h, "Call console"));
    // Pick the function from the list, as a person does.
    h.get_by_label("Function").click();
    pump(&mut h, "the list of functions", |h| has_label(h, "find"));
    type_into(&mut h, "find", "settab");
    h.get_by_label("sessions.setTabValue").click();
    pump(&mut h, "the form", |h| h.state().console.method == "sessions.setTabValue");
    assert_eq!(h.state().console.fields["tabId"], tab.to_string(), "filled from the selection");
    type_into(&mut h, "key", "k1");
    type_into(&mut h, "value", "plain words");
    assert!(h.query_by_label_contains("value: not JSON").is_some(), "checked as you type");
    assert!(h.get_by_label("Call").accesskit_node().is_disabled());
    h.state_mut().console.fields.insert("value".into(), String::new());
    type_into(&mut h, "value", "\"v1\"");
    assert!(!h.get_by_label("Call").accesskit_node().is_disabled());
    h.get_by_label("Call").click();
    pump(&mut h, "the value in the model", |h| {
        value_of(h.state(), tab, "k1") == Some(SessionValue::String("v1".into()))
    });
    pump(&mut h, "the answer in the history", |h| {
        h.state().console.history.front().is_some_and(|c| c.outcome == Some(Ok(serde_json::Value::Null)))
    });
    // The browser's own error, in place.
    h.state_mut().console.fields.clear();
    h.state_mut().console.method = "tabs.get".into();
    h.run_steps(2);
    type_into(&mut h, "tabId", "999999");
    h.get_by_label("Call").click();
    pump(&mut h, "the error", |h| h.query_by_label_contains("Error: Invalid tab ID: 999999").is_some());
    assert!(has_label(&h, "History (2)"));
}

/// A profile real Thunderbird wrote, opened in the inspector: the other
/// add-on's values under its name, an edit made with the value editor
/// written to the file (the old one kept), as the CLI would.
#[test]
fn a_profile_on_disk_shows_every_add_ons_values_and_takes_an_edit() {
    if !tabscope_tests::require_browser("thunderbird") {
        return;
    }
    const OTHER: &str = "other-addon@tabscope.test";
    const URL: &str = "https://example.org/profile-view";
    let env = TestEnv::new();
    let dir = env.dir.path().join("profile");
    let fixture = tabscope_tests::other_addon();
    let args = ["--no-inspector", "--profile", dir.to_str().unwrap(), "--addon", &fixture];
    let mut launched = tabscope_tests::Launched::start(&env, "thunderbird", &args);
    let mut o = tabscope_tests::Observer::new(TestSession::connect(&launched.bridge.socket));
    let tab =
        o.call("tabs.create", json!({"createProperties": {"url": URL}})).unwrap()["id"].as_i64().unwrap();
    o.until("the add-on's value", |m, _| {
        m.addons().and_then(|a| a.values_of(Scope::Tab, tab)?.get(OTHER)?.get("mine").cloned()).is_some()
    });
    drop(o);
    let (ok, said) = launched.quit();
    assert!(ok, "{said}");

    let opts = Options { open: Some(dir.clone()), ..Default::default() };
    let app = App::new(opts, None, env.runtime(), std::sync::Arc::new(|| {}));
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut App| app.show(ui), app);
    h.run_steps(2);
    assert!(h.query_by_label_contains("Profile on disk:").is_some(), "whose data: a profile, named");
    let link = h.state().conns.current().expect("the profile is shown");
    let id = link
        .live
        .model
        .window_ids()
        .flat_map(|w| link.live.model.tabs_of(w))
        .find(|t| t.url.as_deref() == Some(URL))
        .unwrap()
        .id;
    h.state_mut().selection = Some(tabscope::gui::app::Selection::Tab(id));
    pump(&mut h, "the owner picker", |h| has_label(h, "Whose values"));
    h.get_by_label("Whose values").click();
    h.run_steps(2);
    h.get_by_label_contains(&format!("({OTHER}) · ")).click();
    pump(&mut h, "the add-on's values", |h| has_label(h, "mine"));
    h.get_by_label("Add value").click();
    pump(&mut h, "the editor", |h| has_label(h, "Key"));
    type_into(&mut h, "Key", "edited");
    type_into(&mut h, "Value", "in the profile view");
    h.get_by_label("Save").scroll_to_me();
    h.run_steps(2);
    h.get_by_label("Save").hover();
    h.run_steps(2);
    h.get_by_label("Save").click();
    pump(&mut h, "the edit's result", |h| {
        h.state().conns.current().is_some_and(|l| l.live.results.contains_key(&Origin::Values))
    });
    let result = h.state().conns.current().unwrap().live.results[&Origin::Values].text();
    assert_eq!(result, "sessions.setTabValue: done");
    pump(&mut h, "the new value in the view", |h| has_label(h, "edited"));
    // On disk, as the CLI reads it, and the old file kept beside it.
    let out = env.tabscope(&["values", "--profile", dir.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["values"].as_array().unwrap().iter().any(|x| x["extensionId"] == OTHER
            && x["key"] == "edited"
            && x["value"]["value"] == "in the profile view"),
        "{v:#}"
    );
    let kept = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("session.json.tabscope-"));
    assert!(kept, "the file as it was is kept");
}

/// A tapped host's trace opens as frames: the table, a frame's message as a
/// tree, and the answer matched to its request by id.
#[test]
fn a_tap_trace_shows_its_frames_with_answers_matched_to_requests() {
    use tabscope_shared::trace::{Direction, Frame, Source, TraceHeader, TraceWriter};
    let env = TestEnv::new();
    let path = env.dir.path().join("tap-my_host.jsonl");
    let mut w = TraceWriter::new(std::fs::File::create(&path).unwrap());
    w.write(&Record::Header(Box::new(TraceHeader::new(Source::Tap, 1_700_000_000_000.0, 0)))).unwrap();
    let f = |t, dir, json: serde_json::Value| Record::Frame {
        t,
        frame: Frame { dir, size: 40, json: Some(json) },
    };
    for r in [
        f(1_000, Direction::ToHost, json!({"id": 7, "cmd": "lookup", "word": "grüße"})),
        f(2_000, Direction::ToBrowser, json!({"event": "progress"})),
        f(4_500, Direction::ToBrowser, json!({"id": 7, "result": {"found": true}})),
    ] {
        w.write(&r).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let app = App::new(
        Options { open: Some(path), ..Default::default() },
        None,
        env.runtime(),
        std::sync::Arc::new(|| {}),
    );
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut App| app.show(ui), app);
    // The log lists frames too: this test looks at the frames table alone.
    h.state_mut().prefs.show_log = false;
    pump(&mut h, "the frames", |h| has_label(h, "Frames"));
    assert!(h.query_by_label_contains("Frames of a tapped native-messaging host").is_some(), "whose data");
    // Read on a thread: the counts come when the rows do.
    pump(&mut h, "the rows", |h| h.query_by_label_contains("1 to the host, 2 to the browser").is_some());
    h.get_by_label_contains(r#""cmd":"lookup""#).click();
    pump(&mut h, "the answer, matched", |h| {
        h.query_by_label_contains("answered by #2 after 3.5 ms").is_some()
    });
    assert!(has_label(&h, "word: \"grüße\""), "the message as a tree");
    type_into(&mut h, "Filter", "progress");
    assert!(h.query_by_label_contains(r#""cmd":"lookup""#).is_none(), "filtered out");
}

/// A tap running now is followed live, as a bridge is: it appears by
/// itself, each frame shows as it passes, and when the host's run ends the
/// view stays with its frames.
#[test]
fn a_running_tap_is_followed_live() {
    use std::io::Write;
    let Some(_python) = require_program(&["python3"], "apt-get install python3") else { return };
    let env = TestEnv::new();
    let traces = env.dir.path().join("traces");
    let host = tabscope_tests::workspace_root().join("tests/fixtures/echo-host/echo_host.py");
    let opts = Options { traces: Some(traces.clone()), ..Default::default() };
    let app = App::new(opts, None, env.runtime(), std::sync::Arc::new(|| {}));
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut App| app.show(ui), app);
    h.state_mut().prefs.show_log = false;
    // The tap starts while the inspector watches: it may find the file
    // before anything is written to it.
    let mut run = tabscope_tests::Reaped::spawn(
        env.command(tabscope_tests::tabscope_bin())
            .args(["tap-run", "--name", "echo_host", "--host", host.to_str().unwrap(), "--traces"])
            .arg(&traces)
            .args(["--", "/m/echo_host.json", "echo@tabscope.test"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null()),
    );
    let mut to_host = run.stdin.take().unwrap();
    let send = |to_host: &mut std::process::ChildStdin, v: serde_json::Value| {
        to_host.write_all(&tabscope_tests::fixtures::frame(v.to_string().as_bytes())).unwrap();
        to_host.flush().unwrap();
    };

    pump(&mut h, "the running tap, found by itself", |h| has_label(h, "tap echo_host"));
    send(&mut to_host, json!({"text": "first"}));
    pump(&mut h, "its first exchange", |h| {
        h.query_by_label_contains("1 to the host, 1 to the browser").is_some()
    });
    assert!(
        h.query_by_label_contains("Live: frames of a tapped native-messaging host").is_some(),
        "whose, and live"
    );

    send(&mut to_host, json!({"text": "second"}));
    pump(&mut h, "the next exchange, as it passes", |h| {
        h.query_by_label_contains("2 to the host, 2 to the browser").is_some()
    });
    assert!(
        h.query_by_label_contains(r#""n":2}"#).is_some(),
        "the host's answer to the second, in the table"
    );

    drop(to_host);
    assert!(tabscope_tests::wait_child(&mut run, Duration::from_secs(20)).is_some(), "the tap ends at EOF");
    pump(&mut h, "the ended run, kept with its frames", |h| {
        h.query_by_label_contains("Frames of a tapped native-messaging host").is_some()
            && h.query_by_label_contains("2 to the host, 2 to the browser").is_some()
    });
}
