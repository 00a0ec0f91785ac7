//! The `tabscope` command line as a user runs it, against the real bridge fed
//! by the real agent under Node.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tabscope_tests::{NodeAgent, TestEnv, TestSession, require_program, running_agent, wait_for};

fn stdout_json(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn list_and_methods_print_json() {
    let env = TestEnv::new();
    let Some(_agent) = running_agent(&env) else { return };
    let list = stdout_json(&env.tabscope(&["list", "--json"]));
    assert_eq!(list[0]["browser"]["name"], "Thunderbird");
    assert!(list[0]["socket"].as_str().unwrap().ends_with(".sock"));
    let methods = stdout_json(&env.tabscope(&["methods", "--json"]));
    assert_eq!(methods["sessions.setTabValue"]["params"], json!(["tabId", "key", "value", "extensionId"]));
    assert!(methods["tabs.sendMessage"]["caveat"].as_str().unwrap().contains("Receiving end does not exist"));
    let text = env.tabscope(&["list"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("Thunderbird 153.7.0"));
}

#[test]
fn watch_prints_one_json_line_per_event() {
    let env = TestEnv::new();
    let Some(_agent) = running_agent(&env) else { return };
    let mut watch = tabscope_tests::Reaped::spawn(
        env.command(tabscope_tests::tabscope_bin())
            .args(["watch", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    std::thread::sleep(Duration::from_millis(300));
    let bridge = env.bridges().into_iter().next().unwrap();
    let mut s = TestSession::connect(&bridge.socket);
    s.call("tabs.create", json!({"createProperties": {"url": "https://example.org/"}})).unwrap();
    // Start-up events may still be arriving: every line is one event; find ours.
    let created = lines
        .by_ref()
        .take(50)
        .map(|l| serde_json::from_str::<Value>(&l.unwrap()).expect("each line is one JSON event"))
        .find(|e| e["name"] == "tabs.onCreated" && e["args"][0]["type"] == "content")
        .expect("the new tab's onCreated");
    assert!(created["seq"].as_u64().is_some() && created["received"].as_f64().is_some());
    let _ = watch.kill();
    let _ = watch.wait();
}

/// The bridge is SIGKILLed: `watch` says so, the agent starts a new bridge
/// (backoff), and `watch` goes on with it, with no stale connection.
#[test]
fn watch_reports_a_killed_bridge_and_follows_its_successor() {
    let env = TestEnv::new();
    let Some(mut agent) = running_agent(&env) else { return };
    let first = env.bridges().into_iter().next().unwrap();
    let mut watch = tabscope_tests::Reaped::spawn(
        env.command(tabscope_tests::tabscope_bin())
            .args(["watch", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let (err_tx, err_rx) = crossbeam_channel::unbounded();
    let stderr = BufReader::new(watch.stderr.take().unwrap());
    std::thread::spawn(move || {
        for l in stderr.lines().map_while(Result::ok) {
            let _ = err_tx.send(l);
        }
    });
    let (out_tx, out_rx) = crossbeam_channel::unbounded();
    let stdout = BufReader::new(watch.stdout.take().unwrap());
    std::thread::spawn(move || {
        for l in stdout.lines().map_while(Result::ok) {
            let _ = out_tx.send(l);
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    agent.op(json!({"op": "killHost"}));
    let said = err_rx.recv_timeout(Duration::from_secs(5)).expect("watch reports the loss");
    assert!(said.contains("the bridge closed the connection") || said.contains("lost the bridge"), "{said}");
    assert!(said.contains(&format!("bridge pid {}", first.bridge.pid)), "{said}");
    let said = err_rx.recv_timeout(Duration::from_secs(15)).expect("watch reconnects");
    let second = env.bridges().into_iter().find(|b| b.bridge.pid != first.bridge.pid).expect("a new bridge");
    assert_eq!(
        said,
        format!("tabscope: reconnected to {} (bridge pid {})", second.browser_label(), second.bridge.pid)
    );
    while out_rx.try_recv().is_ok() {}
    let mut s = TestSession::connect(&second.socket);
    s.call("tabs.create", json!({"createProperties": {"url": "https://example.org/"}})).unwrap();
    let created = std::iter::from_fn(|| out_rx.recv_timeout(Duration::from_secs(10)).ok())
        .take(50)
        .map(|l| serde_json::from_str::<Value>(&l).expect("each line is one JSON event"))
        .find(|e| e["name"] == "tabs.onCreated" && e["args"][0]["type"] == "content");
    assert!(created.is_some(), "events of the new bridge reach watch");
    // An inspector killed mid-stream costs the bridge nothing.
    let _ = watch.kill();
    let _ = watch.wait();
    for _ in 0..3 {
        s.call("tabs.create", json!({"createProperties": {"url": "https://example.org/"}})).unwrap();
    }
}

#[test]
fn install_doctor_uninstall_and_package_in_a_fresh_home() {
    let env = TestEnv::new();
    let out = env.tabscope(&["doctor"]);
    assert!(!out.status.success(), "doctor must fail with no manifest");
    assert!(String::from_utf8_lossy(&out.stdout).contains("fix: run `tabscope install`"));
    let out = env.tabscope(&["install", "--extension-id", "mine@example.com"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(env.home().join(".mozilla/native-messaging-hosts/tabscope_bridge.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["allowed_extensions"], json!(["tabscope-agent@tabscope.dev", "mine@example.com"]));
    assert!(std::path::Path::new(manifest["path"].as_str().unwrap()).is_absolute());
    let out = env.tabscope(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bridge runs: tabscope-bridge"), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    let xpi = env.dir.path().join("agent.xpi");
    assert!(env.tabscope(&["package", "--out", xpi.to_str().unwrap()]).status.success());
    assert!(std::fs::metadata(&xpi).unwrap().len() > 1000);
    assert!(env.tabscope(&["uninstall"]).status.success());
    assert!(!env.home().join(".mozilla/native-messaging-hosts/tabscope_bridge.json").exists());
}

#[test]
fn several_bridges_need_a_choice() {
    let env = TestEnv::new();
    let Some(_a) = running_agent(&env) else { return };
    let node = require_program(&["node", "nodejs"], "").unwrap();
    let _b = NodeAgent::start(&env, &node, "firefox");
    wait_for(Duration::from_secs(10), || {
        (env.bridges().iter().filter(|b| b.browser.is_some()).count() == 2).then_some(())
    })
    .expect("two bridges");
    let out = env.tabscope(&["snapshot"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 bridges are running; choose one with --bridge"), "{err}");
    let ff = stdout_json(&env.tabscope(&["snapshot", "--bridge", "firefox"]));
    assert_eq!(ff["agent"]["browser"]["name"], "Firefox");
}

/// Ctrl-C while `tabscope launch` waits for the browser's bridge closes the
/// browser and allows nothing for good. Before, the signal killed the
/// launcher at once: the browser lived on and the add-on's id stayed in the
/// host manifest.
#[test]
fn ctrl_c_while_a_browser_starts_closes_it_and_cleans_up() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    // A "browser" that starts and never connects, and says where it is.
    let pidfile = env.dir.path().join("browser.pid");
    let fake = env.dir.path().join("fake-browser");
    std::fs::write(&fake, format!("#!/bin/sh\necho $$ > {}\nexec sleep 60\n", pidfile.display())).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let addon = env.dir.path().join("addon");
    std::fs::create_dir_all(&addon).unwrap();
    std::fs::write(
        addon.join("manifest.json"),
        r#"{"manifest_version":2,"name":"m","version":"1","browser_specific_settings":{"gecko":{"id":"mine@example.com"}}}"#,
    )
    .unwrap();
    let mut launcher = env
        .command(tabscope_tests::tabscope_bin())
        .args(["launch", "thunderbird", "--no-inspector", "--binary"])
        .arg(&fake)
        .arg("--addon")
        .arg(&addon)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let browser: i32 =
        wait_for(Duration::from_secs(10), || std::fs::read_to_string(&pidfile).ok()?.trim().parse().ok())
            .expect("the fake browser started");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(launcher.id() as i32, libc::SIGINT) };
    let status =
        tabscope_tests::wait_child(&mut launcher, Duration::from_secs(15)).expect("the launcher ends");
    let out = launcher.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(status.code().is_some(), "ended by the signal, not by itself: {status:?}");
    assert!(said.contains("interrupted while waiting for Thunderbird"), "{said}");
    assert!(!tabscope_shared::discovery::pid_alive(browser as u32), "the browser was left running");
    let manifest = env.home().join(".mozilla/native-messaging-hosts/tabscope_bridge.json");
    let m: Value = serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    assert_eq!(
        m["allowed_extensions"],
        json!([tabscope_shared::protocol::ADDON_ID]),
        "mine@example.com stays allowed"
    );
}
