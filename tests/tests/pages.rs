//! What the inspector and `tabscope call` offer for pages, in real
//! Thunderbird and Firefox ESR: scripts and CSS in a page served here (with
//! a frame), values as big as the browser takes given on standard input,
//! one over the limit refused before it is sent, and the functions that
//! cannot work from the agent saying why. Under CI=true a missing browser
//! fails.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Mutex;

use serde_json::{Value, json};
use tabscope_tests::{Launched, Observer, Site, TestEnv, TestSession, require_browser, tabscope_bin};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `tabscope call METHOD -` with `params` on standard input.
fn call_stdin(env: &TestEnv, method: &str, params: &[u8]) -> (bool, String, String) {
    let out =
        tabscope_tests::output_with_input(env.command(tabscope_bin()).args(["call", method, "-"]), params);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

fn call(env: &TestEnv, method: &str, params: Value) -> Result<Value, String> {
    let (ok, out, err) = call_stdin(env, method, params.to_string().as_bytes());
    if ok { Ok(serde_json::from_str(&out).unwrap()) } else { Err(err) }
}

fn run(browser: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !require_browser(browser) {
        return;
    }
    let site = Site::start();
    let env = TestEnv::new();
    let mut launched = Launched::start(&env, browser, &["--no-inspector"]);
    let mut o = Observer::new(TestSession::connect(&launched.bridge.socket));
    let tab = o.call("tabs.create", json!({"createProperties": {"url": site.url}})).unwrap()["id"]
        .as_i64()
        .unwrap();
    o.until("the page loaded", |m, _| {
        m.tab(tab).is_some_and(|t| {
            t.status.as_deref() == Some("complete") && t.title.as_deref() == Some("tabscope page")
        })
    });

    let agent = o.agent.as_ref().expect("the agent's hello");
    assert_eq!(agent.capabilities.host_access, Some(true), "launch grants page access in its profiles");
    // Scripts, one result per frame.
    let titles = call(
        &env,
        "tabs.executeScript",
        json!({"tabId": tab, "details": {"code": "document.title", "allFrames": true}}),
    );
    assert_eq!(titles.unwrap(), json!(["tabscope page", "the frame"]));
    // CSS in, and out again.
    let color = || {
        call(&env, "tabs.executeScript", json!({"tabId": tab, "details": {"code": "getComputedStyle(document.getElementById('p')).color"}}))
            .unwrap()[0]
            .clone()
    };
    let css = json!({"tabId": tab, "details": {"code": "#p { color: rgb(1, 2, 3) !important }"}});
    assert_eq!(call(&env, "tabs.insertCSS", css.clone()).unwrap(), Value::Null);
    assert_eq!(color(), json!("rgb(1, 2, 3)"));
    assert_eq!(call(&env, "tabs.removeCSS", css).unwrap(), Value::Null);
    assert_ne!(color(), json!("rgb(1, 2, 3)"));

    // A 900 KB value from standard input (no command line takes it), back whole.
    let big = "v".repeat(900_000);
    let set = json!({"tabId": tab, "key": "big", "value": big});
    assert_eq!(call(&env, "sessions.setTabValue", set).unwrap(), Value::Null);
    let got = call(&env, "sessions.getTabValue", json!({"tabId": tab, "key": "big"})).unwrap();
    assert_eq!(got.as_str().map(str::len), Some(900_000));
    // Over the browser's 1 MiB: refused by the bridge, never sent.
    let huge = json!({"tabId": tab, "key": "huge", "value": "h".repeat(1_100_000)});
    let err = call(&env, "sessions.setTabValue", huge).unwrap_err();
    assert!(
        err.contains("the browser accepts at most 1048576 bytes in one message, so it was not sent"),
        "{err}"
    );
    assert_eq!(
        call(&env, "sessions.getTabValue", json!({"tabId": tab, "key": "huge"})).unwrap(),
        Value::Null
    );

    // What cannot work from the agent says why, with the browser's words.
    let err = call(&env, "tabs.sendMessage", json!({"tabId": tab, "message": {"hi": 1}})).unwrap_err();
    assert!(
        err.contains("Receiving end does not exist") && err.contains("Send it from your own add-on"),
        "{err}"
    );
    // The window follows windows.update: size and state as the browser has them.
    let wid = o.model.tab(tab).unwrap().window_id;
    let update = json!({"windowId": wid, "updateInfo": {"width": 700, "height": 500, "state": "normal"}});
    o.call("windows.update", update).unwrap();
    let now = o.call("windows.get", json!({"windowId": wid})).unwrap();
    let fields =
        |w: &Value| (w["width"].as_i64(), w["height"].as_i64(), w["state"].as_str().map(str::to_owned));
    let want = fields(&now);
    assert_eq!((want.0, want.1), (Some(700), Some(500)), "the browser resized it: {now}");
    o.until("the model's window as the browser has it", |m, _| {
        m.window(wid).is_some_and(|w| (w.width, w.height, w.state.clone()) == want)
    });

    // `tabscope wait` returns the event a tabs.create caused.
    let mut waiter = tabscope_tests::Reaped::spawn(
        env.command(tabscope_bin())
            .args(["wait", "tabs.onCreated", "--timeout", "60s"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let mut said = String::new();
    BufReader::new(waiter.stderr.take().unwrap()).read_line(&mut said).unwrap();
    assert_eq!(said, "tabscope: waiting for tabs.onCreated\n");
    let second = o.call("tabs.create", json!({"createProperties": {"url": site.url}})).unwrap()["id"].clone();
    let mut line = String::new();
    BufReader::new(waiter.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let ev: Value = serde_json::from_str(&line).unwrap();
    assert_eq!((ev["name"].as_str(), &ev["args"][0]["id"]), (Some("tabs.onCreated"), &second), "{line}");
    assert!(waiter.wait().unwrap().success());
    // A typo fails at once, naming the browser's events; the time running out is an error.
    let typo = env.tabscope(&["wait", "tabs.onCreatd"]);
    let err = String::from_utf8_lossy(&typo.stderr);
    assert!(
        !typo.status.success()
            && err.contains("has no event tabs.onCreatd; it has: ")
            && err.contains("tabs.onCreated"),
        "{err}"
    );
    let late = env.tabscope(&["wait", "windows.onRemoved", "--match", "{\"args\":[-5]}", "--timeout", "1s"]);
    assert!(!late.status.success() && String::from_utf8_lossy(&late.stderr).contains("timed out after 1s"));
    drop(o);
    let (ok, said) = launched.quit();
    assert!(ok, "{said}");
}

#[test]
fn thunderbird_pages_take_scripts_css_and_big_values() {
    run("thunderbird");
}

#[test]
fn firefox_pages_take_scripts_css_and_big_values() {
    run("firefox");
}
