//! Session values read from a profile on disk, after real Thunderbird and
//! Firefox ESR wrote it: the fixture add-on's values, under its id and name,
//! on the tab they belong to. Under CI=true a missing browser fails.

use std::sync::Mutex;

use serde_json::{Value, json};
use tabscope_shared::protocol::Scope;
use tabscope_tests::{Launched, Observer, TestEnv, TestSession, require_browser};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
const OTHER: &str = "other-addon@tabscope.test";
const URL: &str = "https://example.org/tabscope-offline";

fn run(browser: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !require_browser(browser) {
        return;
    }
    let env = TestEnv::new();
    let profile = env.dir.path().join("profile");
    let fixture = tabscope_tests::other_addon();
    let mut args = vec!["--no-inspector", "--profile", profile.to_str().unwrap(), "--addon", &fixture];
    if browser == "firefox" {
        // Firefox restores the tabs (and their values) only when asked to.
        args.extend(["--pref", "browser.startup.page=3"]);
    }
    let mut launched = Launched::start(&env, browser, &args);
    let mut o = Observer::new(TestSession::connect(&launched.bridge.socket));
    let tab =
        o.call("tabs.create", json!({"createProperties": {"url": URL}})).unwrap()["id"].as_i64().unwrap();
    // The value may come before the tab's URL (Thunderbird reports the tab
    // at about:blank first): the live listing below needs both.
    o.until("the add-on's value on the new tab at its URL", |m, _| {
        m.tab(tab).is_some_and(|t| t.url.as_deref() == Some(URL))
            && m.addons()
                .and_then(|a| a.values_of(Scope::Tab, tab))
                .and_then(|v| v.get(OTHER)?.get("mine").cloned())
                .is_some()
    });
    drop(o);
    // Without --profile: the same values from the running browser.
    let live = env.tabscope(&["values", "--json"]);
    assert!(live.status.success(), "{}", String::from_utf8_lossy(&live.stderr));
    let live: Value = serde_json::from_slice(&live.stdout).unwrap();
    assert!(
        live["values"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["extensionId"] == OTHER && x["key"] == "mine" && x["url"] == URL),
        "{live:#}"
    );
    // No offline edit while the browser has the profile open.
    let p = profile.to_str().unwrap();
    let refused = env.tabscope(&[
        "values",
        "--profile",
        p,
        "set",
        "--addon",
        OTHER,
        "--window",
        "0",
        "--tab",
        "0",
        "k",
        "1",
    ]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && err.contains("has this profile open: quit it first"), "{err}");
    let (ok, said) = launched.quit();
    assert!(ok, "{said}");

    let out = env.tabscope(&["values", "--profile", profile.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = v["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["extensionId"] == OTHER && x["key"] == "mine" && x["url"] == URL);
    let found = found.unwrap_or_else(|| panic!("not in {}: {v:#}", v["file"]));
    assert_eq!(found["extensionName"], "Other add-on (tabscope x-ray fixture)");
    assert_eq!(found["value"]["type"], "string");
    assert!(found["value"]["value"].as_str().unwrap().starts_with("set by other-addon on tab"));
    // The text listing names the file and escapes nothing it need not.
    let text = env.tabscope(&["values", "--profile", profile.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(URL) && text.contains("(other-addon@tabscope.test)  mine = "), "{text}");
    assert!(text.contains("characters; --json shows all"), "the 40,000-character value is cut: {text}");

    // An offline edit, at the place the listing gave, is what the add-on
    // itself reads when the browser starts again: it copies "edited" into
    // "echo", which x-ray then shows.
    let (window, tab) = (found["window"].to_string(), found["tab"].to_string());
    let before = std::fs::read(v["file"].as_str().unwrap()).unwrap();
    let set = ["values", "--profile", p, "set", "--addon", OTHER, "--window", &window, "--tab", &tab];
    let out = env.tabscope(&[&set[..], &["--string", "edited", "written offline"]].concat());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let backup = said.lines().last().unwrap().rsplit_once(" kept as ").unwrap().1;
    assert_eq!(std::fs::read(backup).unwrap(), before, "the file as it was is kept: {said}");
    let mut again = Launched::start(&env, browser, &args);
    let mut o = Observer::new(TestSession::connect(&again.bridge.socket));
    o.until("the add-on echoing the value written offline", |m, _| {
        m.window_ids().flat_map(|w| m.tabs_of(w)).any(|t| {
            t.url.as_deref() == Some(URL)
                && m.addons()
                    .and_then(|a| a.values_of(Scope::Tab, t.id))
                    .and_then(|v| v.get(OTHER)?.get("echo").cloned())
                    .is_some_and(|e| e.to_api_value() == json!("\"written offline\""))
        })
    });
    drop(o);
    let (ok, said) = again.quit();
    assert!(ok, "{said}");
}

#[test]
fn thunderbird_values_are_read_from_its_profile_on_disk() {
    run("thunderbird");
}

#[test]
fn firefox_values_are_read_from_its_profile_on_disk() {
    run("firefox");
}

/// Not a profile, a corrupt file: a clear error naming the file.
#[test]
fn a_folder_without_session_files_or_a_corrupt_one_says_so() {
    let env = TestEnv::new();
    let dir = env.dir.path().join("not-a-profile");
    std::fs::create_dir_all(&dir).unwrap();
    let out = env.tabscope(&["values", "--profile", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no session file"));
    std::fs::write(dir.join("sessionstore.jsonlz4"), b"mozLz40\0\x10\0\0\0garbage").unwrap();
    let out = env.tabscope(&["values", "--profile", dir.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    let named = err.contains("sessionstore.jsonlz4");
    assert!(
        !out.status.success() && named && (err.contains("corrupt") || err.contains("not a session file")),
        "{err}"
    );
    // Cut off inside its header.
    std::fs::write(dir.join("sessionstore.jsonlz4"), b"mozLz40\0\x10").unwrap();
    let out = env.tabscope(&["values", "--profile", dir.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cut off in its header"));
}
