//! The development loop against real Thunderbird and Firefox ESR, as a
//! user runs it: `tabscope launch BROWSER --addon DIR` with an ordinary
//! fixture add-on (tests/fixtures/console-addon, no tabscope code in it).
//! Its console at every level, an object, an error thrown in a timer, an
//! unhandled rejection, its content script on a page served here and its
//! experiment's own code all reach `tabscope logs --json` and `watch --json`
//! attributed to it; its files are edited on disk and the new code runs
//! (background and experiment) from launch's watching and from `tabscope
//! reload`; a broken manifest gives the browser's error. Under CI=true a
//! missing browser fails.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use tabscope_tests::{Launched, Site, TestEnv, require_browser, tabscope_bin, wait_for};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const FIXTURE: &str = "console-addon@tabscope.test";

/// The fixture's console as `tabscope logs --json --addon` prints it.
fn logs(env: &TestEnv) -> Vec<Value> {
    let o = env.tabscope(&["logs", "--json", "--addon", FIXTURE]);
    assert!(o.status.success(), "tabscope logs: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Waits until the fixture's console has a record `pick` finds; returns it.
fn wait_record(env: &TestEnv, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
    wait_for(Duration::from_secs(40), || logs(env).into_iter().find(&pick))
        .unwrap_or_else(|| panic!("no record of {what} in tabscope logs: {:#?}", logs(env)))
}

fn text_is(want: &'static str) -> impl Fn(&Value) -> bool {
    move |r| r["text"] == want
}

/// `tabscope watch`, ended however the test ends (a failed assertion too).
struct Watch(std::process::Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no {from}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

fn run(browser: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !require_browser(browser) {
        return;
    }
    let env = TestEnv::new();
    let addon = env.dir.path().join("my-addon");
    copy_dir(&tabscope_tests::workspace_root().join("tests/fixtures/console-addon"), &addon);
    let site = Site::start();
    let mut launched =
        Launched::start(&env, browser, &["--no-inspector", "--addon", addon.to_str().unwrap()]);
    let mut watch =
        Watch(env.command(tabscope_bin()).args(["watch", "--json"]).stdout(Stdio::piped()).spawn().unwrap());
    // Read as it comes: a full pipe would stall the watch (and Firefox's
    // built-in add-ons are chatty).
    let mut watch_out = watch.0.stdout.take().unwrap();
    let watched = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = watch_out.read_to_string(&mut out);
        out
    });

    // 1. Every level, with its file and line, attributed to the add-on.
    for (level, text) in [
        ("log", "fixture log marker-1"),
        ("info", "fixture info"),
        ("warn", "fixture warn"),
        ("error", "fixture error"),
        ("debug", "fixture debug"),
        ("trace", "fixture trace"),
    ] {
        let r = wait_record(&env, text, text_is(text));
        assert_eq!((r["level"].as_str(), r["source"].as_str()), (Some(level), Some("console")), "{r}");
        assert_eq!(r["extensionId"], FIXTURE);
        assert!(r["file"].as_str().unwrap().ends_with("/background.js"), "{r}");
        assert!(r["line"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["where"], "background", "{r}");
    }
    // An object as JSON, among the arguments too.
    let r = wait_record(&env, "the object", |r| {
        r["text"].as_str().is_some_and(|t| t.starts_with("fixture object"))
    });
    assert_eq!(r["text"], r#"fixture object {"answer":42,"nested":{"list":[1,2]}}"#);
    assert_eq!(r["args"], json!(["fixture object", {"answer": 42, "nested": {"list": [1, 2]}}]));
    // The error thrown in a timer, with its stack; the unhandled rejection.
    let thrown = wait_record(&env, "the thrown error", text_is("Error: fixture thrown in a timer marker-1"));
    assert_eq!((thrown["source"].as_str(), thrown["level"].as_str()), (Some("error"), Some("error")));
    assert!(thrown["stack"].as_str().unwrap().contains("thrower@"), "{thrown}");
    assert_eq!(thrown["line"], 16);
    let rejected = wait_record(&env, "the rejection", text_is("Error: fixture rejected marker-1"));
    assert_eq!(rejected["source"], "rejection");
    // Each error once: the copies the browser makes of a child's error are not repeated.
    let all = logs(&env);
    assert_eq!(all.iter().filter(|r| r["text"] == thrown["text"]).count(), 1, "{all:#?}");
    // The add-on's experiment code, in the browser's main process.
    let exp = wait_record(&env, "the experiment's log", text_is("fixture experiment loaded experiment-1"));
    assert_eq!(exp["where"], "experiment");
    assert!(exp["file"].as_str().unwrap().ends_with("experiment/parent.js"), "{exp}");
    wait_record(&env, "the experiment's answer", text_is("experiment marker experiment-1"));

    // Text mode escapes what the add-on wrote.
    let o = env.tabscope(&["logs", "--addon", FIXTURE, "--level", "log"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(r"fixture escapes \x1b]0;retitled\x07 \x1b[2J end"), "{text}");
    assert!(!text.contains('\u{1b}'), "a raw escape reached the terminal");
    assert!(!text.contains("fixture debug"), "--level log leaves debug out");

    // 2. The content script, on a page served here.
    let o =
        env.tabscope(&["call", "tabs.create", &json!({"createProperties": {"url": site.url}}).to_string()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cs = wait_record(&env, "the content script's log", |r| {
        r["text"].as_str().is_some_and(|t| t.starts_with("fixture content script on"))
    });
    assert_eq!(cs["where"], "content script");
    assert_eq!(cs["page"], site.url.as_str());
    let cs_err =
        wait_record(&env, "the content script's error", text_is("Error: fixture content script threw"));
    assert!(cs_err["file"].as_str().unwrap().ends_with("/content.js"), "{cs_err}");

    // Bad input. A 10 MB argument: one record, its text cut on a character
    // boundary and marked, its arguments left out and their size said.
    let page = |query: &str| {
        let url = format!("{}?{query}", site.url);
        let o =
            env.tabscope(&["call", "tabs.create", &json!({"createProperties": {"url": url}}).to_string()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    page("big=10000000");
    let big = wait_record(&env, "the 10 MB argument", |r| {
        r["text"].as_str().is_some_and(|t| t.starts_with("big x"))
    });
    assert!(big["text"].as_str().unwrap().chars().count() <= 16 * 1024, "not cut");
    assert!(big["truncated"]["chars"].as_u64().unwrap() >= 10_000_000, "{}", big["truncated"]);
    assert!(big["args"].is_null() && big["truncated"]["args"].as_u64().unwrap() >= 10_000_000);
    // 100,000 logs in one go: the browser goes on answering, and every one
    // of them is either kept or counted as dropped.
    page("flood=100000");
    let accounted = |env: &TestEnv| {
        let all = logs(env);
        let kept =
            all.iter().filter(|r| r["text"].as_str().is_some_and(|t| t.starts_with("flood "))).count() as u64;
        let dropped: u64 =
            all.iter().filter(|r| r["source"] == "tabscope").filter_map(|r| r["dropped"].as_u64()).sum();
        (kept, dropped)
    };
    let (kept, dropped) = wait_for(Duration::from_secs(60), || {
        let (k, d) = accounted(&env);
        (k + d == 100_000).then_some((k, d))
    })
    .unwrap_or_else(|| panic!("the flood is not accounted for: {:?} (kept, dropped)", accounted(&env)));
    assert!(dropped > 0, "nothing was held back ({kept} kept)");
    let o = env.tabscope(&["call", "tabs.query", r#"{"queryInfo":{}}"#]);
    assert!(o.status.success(), "the browser stopped answering: {}", String::from_utf8_lossy(&o.stderr));

    // 3. Save a change: launch reloads the add-on and the new code runs,
    //    the experiment's too (not a cached copy).
    edit(&addon.join("background.js"), "marker-1", "marker-2");
    edit(&addon.join("experiment/parent.js"), "experiment-1", "experiment-2");
    wait_record(&env, "the new background code", text_is("fixture log marker-2"));
    wait_record(&env, "the new experiment code", text_is("experiment marker experiment-2"));
    let reload = wait_record(&env, "the reload mark", |r| r["source"] == "reload");
    assert_eq!(reload["level"], "info", "{reload}");
    let said = std::fs::read_to_string(&launched.output).unwrap();
    assert!(said.contains(&format!("reloaded {FIXTURE} in ")), "{said}");

    // 4. `tabscope reload ID`, with the browser's error when it fails.
    let reloads = |env: &TestEnv| logs(env).iter().filter(|r| r["source"] == "reload").count();
    let before = reloads(&env);
    let o = env.tabscope(&["reload", FIXTURE]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("reloaded Console add-on"));
    assert!(wait_for(Duration::from_secs(20), || (reloads(&env) > before).then_some(())).is_some());
    let o = env.tabscope(&["reload", "no-such-addon@tabscope.test"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no add-on no-such-addon@tabscope.test is installed")
    );

    // 5. A broken manifest after an edit: the browser's error, in the
    //    console and the terminal; mended, the add-on runs again.
    let manifest = std::fs::read_to_string(addon.join("manifest.json")).unwrap();
    std::fs::write(addon.join("manifest.json"), "{ \"manifest_version\": 2, \"name\": ").unwrap();
    let failed = wait_record(&env, "the failed reload", |r| r["source"] == "reload" && r["level"] == "error");
    assert!(failed["text"].as_str().unwrap().contains("JSON"), "the browser's words: {failed}");
    let said = wait_for(Duration::from_secs(20), || {
        std::fs::read_to_string(&launched.output)
            .ok()
            .filter(|t| t.contains(&format!("reload of {FIXTURE} failed")))
    });
    assert!(said.is_some(), "the terminal was not told");
    std::fs::write(addon.join("manifest.json"), manifest).unwrap();
    let runs = |env: &TestEnv| logs(env).iter().filter(|r| r["text"] == "fixture log marker-2").count();
    assert!(
        wait_for(Duration::from_secs(40), || (runs(&env) >= 3).then_some(())).is_some(),
        "not running again"
    );

    // 6. `watch --json` carried them as tabscope.onAddonConsole events.
    drop(watch);
    let out = watched.join().unwrap();
    let seen: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["name"] == "tabscope.onAddonConsole")
        .map(|v| v["args"][0].clone())
        .collect();
    assert!(
        seen.iter()
            .any(|r| r["extensionId"] == FIXTURE && r["text"] == "Error: fixture content script threw"),
        "no console record of the content script in watch --json ({} lines, {} console records: {seen:#?})",
        out.lines().count(),
        seen.len()
    );

    let (ok, said) = launched.quit();
    assert!(ok, "{said}");
}

#[test]
fn thunderbird_console_and_reload() {
    run("thunderbird");
}

#[test]
fn firefox_console_and_reload() {
    run("firefox");
}
