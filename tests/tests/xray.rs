//! x-ray against real Thunderbird and Firefox ESR: another add-on
//! (tests/fixtures/other-addon, no tabscope code in it) in the same profile.
//! Its values appear under its id, an edit and a removal through tabscope
//! are seen by its own `sessions.getTabValue` (it echoes what it sees into
//! another value), its API calls reach `watch --json`, and in Thunderbird
//! an edit survives the browser being killed. Under CI=true a missing
//! browser fails.

use std::io::Read;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use tabscope_shared::addons::{Activity, XrayState};
use tabscope_shared::protocol::{Scope, ServerMsg, SessionValue};
use tabscope_shared::trace::Record;
use tabscope_tests::{Launched, Observer, TestEnv, TestSession, require_browser, tabscope_bin, wait_child};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const OTHER: &str = "other-addon@tabscope.test";
const URL: &str = "https://example.org/tabscope-xray";

/// The other add-on's value `key` on tab `tab`, as the model holds it.
fn other_value(o: &Observer, tab: i64, key: &str) -> Option<SessionValue> {
    o.model.addons()?.values_of(Scope::Tab, tab)?.get(OTHER)?.get(key).cloned()
}

fn text(s: &str) -> Option<SessionValue> {
    Some(SessionValue::String(s.to_owned()))
}

/// `tabscope call`, as a user types it.
fn call(env: &TestEnv, method: &str, params: Value) -> Result<Value, String> {
    let o = env.tabscope(&["call", method, &params.to_string()]);
    if o.status.success() {
        Ok(serde_json::from_slice(&o.stdout).unwrap_or(Value::Null))
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

/// Kills the browser (not the launcher) as a crash would, and waits for the launcher.
fn kill_browser(launched: &mut Launched) {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", launched.bridge.bridge.pid)).unwrap();
    // pid (comm) state ppid ...: the bridge's parent is the browser.
    let ppid: i32 = stat.rsplit(')').next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: signalling the browser this test started.
    unsafe { libc::kill(ppid, libc::SIGKILL) };
    wait_child(&mut launched.child, Duration::from_secs(30)).expect("the launcher ends with its browser");
    let bridge = launched.bridge.bridge.pid;
    tabscope_tests::wait_for(Duration::from_secs(10), || {
        (!tabscope_shared::discovery::pid_alive(bridge)).then_some(())
    })
    .expect("the bridge ends with its browser");
}

fn run(browser: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !require_browser(browser) {
        return;
    }
    let tb = browser == "thunderbird";
    let env = TestEnv::new();
    let profile = env.dir.path().join("profile");
    let mut args = vec!["--no-inspector", "--profile", profile.to_str().unwrap()];
    // Firefox restores the last session only when asked to (Thunderbird always does).
    if !tb {
        args.extend(["--pref", "browser.startup.page=3"]);
    }
    let fixture = tabscope_tests::other_addon();
    args.extend(["--addon", fixture.as_str()]);
    let mut launched = Launched::start(&env, browser, &args);
    let mut o = Observer::new(TestSession::connect(&launched.bridge.socket));

    // The agent says x-ray is on and names the other add-on.
    let addons = call(&env, "agent.addons", json!({})).unwrap();
    assert_eq!(addons["xray"], "on", "{addons}");
    let other = addons["extensions"].as_array().unwrap().iter().find(|e| e["id"] == OTHER).cloned();
    assert_eq!(other.unwrap()["name"], "Other add-on (tabscope x-ray fixture)");

    // 1. Its values, under its id, on a tab it saw.
    let tab =
        o.call("tabs.create", json!({"createProperties": {"url": URL}})).unwrap()["id"].as_i64().unwrap();
    o.until("the other add-on's own value", |m, _| {
        m.addons().and_then(|a| a.values_of(Scope::Tab, tab)).and_then(|v| v.get(OTHER)).is_some()
    });
    assert_eq!(other_value(&o, tab, "mine"), text(&format!("set by other-addon on tab {tab}")));
    let name = o.model.addons().unwrap().addon(OTHER).unwrap().name.clone();
    assert_eq!(name.as_deref(), Some("Other add-on (tabscope x-ray fixture)"));
    let got = call(&env, "sessions.getTabValue", json!({"tabId": tab, "key": "mine", "extensionId": OTHER}));
    assert_eq!(got.unwrap(), json!(format!("set by other-addon on tab {tab}")));

    // 2. An edit through tabscope, seen by the add-on's own getTabValue.
    let edit = |value: Value| {
        call(
            &env,
            "sessions.setTabValue",
            json!({"tabId": tab, "key": "edited", "value": value, "extensionId": OTHER}),
        )
    };
    edit(json!("from tabscope")).unwrap();
    let echoed = |o: &mut Observer, want: &str| {
        let want = text(want);
        o.until(&format!("the add-on's echo {want:?}"), |m, _| {
            m.addons()
                .and_then(|a| a.values_of(Scope::Tab, tab))
                .and_then(|v| v.get(OTHER)?.get("echo").cloned())
                == want
        });
    };
    echoed(&mut o, "\"from tabscope\"");
    if tb {
        // Thunderbird stores strings only, for every add-on: same rule here.
        let e = edit(json!({"n": 1})).unwrap_err();
        assert!(e.contains("strings only"), "{e}");
    } else {
        edit(json!({"n": 1})).unwrap();
        echoed(&mut o, "{\"n\":1}");
    }

    // 3. A removal, seen the same way.
    call(&env, "sessions.removeTabValue", json!({"tabId": tab, "key": "edited", "extensionId": OTHER}))
        .unwrap();
    echoed(&mut o, "null");

    // 4. Its API calls, in `watch --json`, with its id.
    let mut watch =
        env.command(tabscope_bin()).args(["watch", "--json"]).stdout(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = watch.kill();
    let mut out = String::new();
    watch.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let _ = watch.wait();
    let calls: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["name"] == "tabscope.onAddonActivity")
        .map(|v| v["args"][0].clone())
        .collect();
    assert!(
        calls.iter().any(|c| c["extensionId"] == OTHER
            && c["type"] == "api_call"
            && c["name"] == "sessions.getTabValue"),
        "no sessions.getTabValue of {OTHER} in watch --json: {out}"
    );

    // 5. From browser start-up: the add-on's very first call, made before
    //    the agent listened, is in the bridge's flight recorder; and a call
    //    with 40,000 characters of arguments is cut and marked, not dropped.
    let flight = env.dir.path().join("flight.jsonl");
    let saved = env.tabscope(&["flight", "--out", flight.to_str().unwrap()]);
    assert!(saved.status.success(), "{}", String::from_utf8_lossy(&saved.stderr));
    let t = tabscope_shared::trace::read_file(&flight).unwrap();
    let records: Vec<Activity> = t
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Event { event, .. } if event.name == "tabscope.onAddonActivity" => {
                serde_json::from_value(event.args[0].clone()).ok()
            }
            _ => None,
        })
        .filter(|a: &Activity| a.extension_id == OTHER)
        .collect();
    assert!(records.iter().any(|a| a.name == "runtime.getPlatformInfo"), "its first call was missed");
    let big = records
        .iter()
        .find(|a| a.name == "sessions.setTabValue" && a.truncated.is_some())
        .expect("the 40,000-character call, marked as cut");
    let cut = big.truncated.as_ref().unwrap();
    assert!(cut.chars > 40_000 && cut.head.len() == 16 * 1024 && big.data.is_null(), "{cut:?}");

    // 6. The edit survives a restart as the add-on's own values do. In
    //    Thunderbird, even the browser being killed (it writes session.json
    //    only every few minutes; x-ray writes it at once); in Firefox, a
    //    clean quit with session restore on (SessionStore saves then).
    edit(if tb { json!("kept") } else { json!({"kept": true}) }).unwrap();
    let kept = if tb { text("kept") } else { Some(SessionValue::Json(json!({"kept": true}))) };
    drop(o);
    if tb {
        kill_browser(&mut launched);
    } else {
        let (ok, said) = launched.quit();
        assert!(ok, "{said}");
    }
    let mut again = Launched::start(&env, browser, &args);
    let mut o = Observer::new(TestSession::connect(&again.bridge.socket));
    o.until("the restored tab with the edited value", |m, _| {
        m.window_ids().flat_map(|w| m.tabs_of(w)).any(|t| {
            t.url.as_deref() == Some(URL)
                && m.addons()
                    .and_then(|a| a.values_of(Scope::Tab, t.id))
                    .and_then(|v| v.get(OTHER)?.get("edited").cloned())
                    == kept
        })
    });
    let (ok, said) = again.quit();
    assert!(ok, "{said}");
}

#[test]
fn thunderbird_xray_sees_and_edits_another_add_on() {
    run("thunderbird");
}

#[test]
fn firefox_xray_sees_and_edits_another_add_on() {
    run("firefox");
}

/// A Firefox that does not run experiments (release builds never do; here
/// the pref is off): the agent says why, and everything else works.
#[test]
fn firefox_without_experiments_says_why_and_works_on() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !require_browser("firefox") {
        return;
    }
    let env = TestEnv::new();
    let mut launched = Launched::start(
        &env,
        "firefox",
        &["--no-inspector", "--pref", "extensions.experiments.enabled=false"],
    );
    let s = TestSession::connect(&launched.bridge.socket);
    let agent = s
        .until(tabscope_tests::LONG, |m| match m {
            ServerMsg::Hello { agent: Some(a), .. } => Some(a.clone()),
            _ => None,
        })
        .expect("the agent's hello");
    assert_eq!(agent.capabilities.xray, Some(XrayState::Refused));
    let why = agent.capabilities.xray_why.unwrap_or_default();
    assert!(why.contains("experiments") && why.contains("ESR"), "{why}");
    let e = call(&env, "sessions.getTabValue", json!({"tabId": 1, "key": "k", "extensionId": OTHER}))
        .unwrap_err();
    assert!(e.contains("needs x-ray") && e.contains("experiments"), "{e}");
    // The rest works: the agent's own tabs and values.
    let tabs = call(&env, "tabs.query", json!({"queryInfo": {}})).unwrap();
    assert!(!tabs.as_array().unwrap().is_empty());
    let (ok, said) = launched.quit();
    assert!(ok, "{said}");
}
