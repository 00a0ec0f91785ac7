//! `tabscope tap` with real parts: a host script installed with a manifest,
//! tapped by the real binary, started as Firefox starts it (the manifest's
//! path, with the manifest and the extension id as arguments). The browser
//! side must get exactly the bytes the host wrote; the trace holds every
//! frame; text on the host's stdout is diagnosed; untap restores the
//! manifest byte for byte. Under CI=true a missing python3 fails.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use tabscope_shared::trace::{Direction, Record};
use tabscope_tests::{TestEnv, require_program, tabscope_bin};

fn frame(v: &Value) -> Vec<u8> {
    tabscope_tests::fixtures::frame(&serde_json::to_vec(v).unwrap())
}

/// The echo host installed for Firefox and Thunderbird in `env`'s home:
/// its manifest's path and the manifest's text as written.
fn install_echo_host(env: &TestEnv) -> (PathBuf, String) {
    let host = std::fs::canonicalize("fixtures/echo-host/echo_host.py").unwrap();
    let dir = env.home().join(".mozilla/native-messaging-hosts");
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("echo_host.json");
    let text = format!(
        "{{\n  \"name\": \"echo_host\",\n  \"description\": \"tap test\",\n  \"path\": {:?},\n  \"type\": \"stdio\",\n  \"allowed_extensions\": [\"echo@tabscope.test\"]\n}}\n",
        host.to_str().unwrap()
    );
    std::fs::write(&manifest, &text).unwrap();
    (manifest, text)
}

/// Starts `program` as a browser would (Firefox: the manifest and the
/// extension id; Chrome: the origin and a window handle), feeds it
/// `input`, closes the port; its stdout and whether it exited 0.
fn run_host(env: &TestEnv, program: &Path, args: &[&str], input: &[u8]) -> (Vec<u8>, bool) {
    let out = tabscope_tests::output_with_input(env.command(program).args(args), input);
    (out.stdout, out.status.success())
}

/// The trace of host `name`'s (first) tapped run in `dir`.
fn records_of(dir: &Path, name: &str) -> (PathBuf, Vec<Record>) {
    let prefix = format!("tap-{name}-");
    let file = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&prefix))
        .expect("a trace of the tapped run");
    let records = tabscope_shared::trace::read_file(&file).unwrap().records;
    (file, records)
}

#[test]
fn a_tapped_host_gets_every_byte_unchanged_and_every_frame_is_recorded() {
    let Some(_python) = require_program(&["python3"], "apt-get install python3") else { return };
    let env = TestEnv::new();
    let (manifest, original) = install_echo_host(&env);
    let host = std::fs::canonicalize("fixtures/echo-host/echo_host.py").unwrap();
    let firefox = [manifest.to_str().unwrap(), "echo@tabscope.test"];
    let traces = env.dir.path().join("traces");
    let tap = |args: &[&str]| {
        env.command(tabscope_bin()).args(args).env("TABSCOPE_TRACE_DIR", &traces).output().unwrap()
    };

    // Listed, tapped, and an unknown name explained.
    let listed = String::from_utf8_lossy(&tap(&["tap"]).stdout).into_owned();
    assert!(listed.contains("echo_host") && !listed.contains("TAPPED"), "{listed}");
    let unknown = tap(&["tap", "no_such_host"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("hosts found: echo_host"));
    let out = tap(&["tap", "echo_host", "--browser", "firefox"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&tap(&["tap"]).stdout).contains("TAPPED"));
    let tapped: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let wrapper = PathBuf::from(tapped["path"].as_str().unwrap());
    assert_ne!(wrapper, host);

    // 50 messages, one of 600 KB, non-ASCII text, and one answer over 1 MiB.
    let mut input = Vec::new();
    for i in 0..48 {
        input.extend(frame(&json!({"i": i, "text": "grüße ✓ 🦀"})));
    }
    input.extend(frame(&json!({"payload": "p".repeat(600_000)})));
    input.extend(frame(&json!({"big": 1_100_000})));
    let (direct, ok_direct) = run_host(&env, &host, &firefox, &input);
    let (through_tap, ok_tap) = run_host(&env, &wrapper, &firefox, &input);
    assert!(ok_direct && ok_tap, "both exit 0");
    assert_eq!(through_tap.len(), direct.len());
    assert!(through_tap == direct, "the browser side gets exactly the host's bytes");

    let (file, rec) = records_of(&traces, "echo_host");
    let frames = |d: Direction| {
        rec.iter()
            .filter_map(|r| match r {
                Record::Frame { frame, .. } if frame.dir == d => Some(frame.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let (to_host, to_browser) = (frames(Direction::ToHost), frames(Direction::ToBrowser));
    assert_eq!((to_host.len(), to_browser.len()), (50, 50));
    assert_eq!(to_host[3].json.as_ref().unwrap()["text"], "grüße ✓ 🦀");
    assert!(to_host[48].size > 600_000);
    assert_eq!(to_browser[0].json.as_ref().unwrap()["echo"]["i"], 0);
    let errors: Vec<&str> = rec
        .iter()
        .filter_map(|r| if let Record::Error { message, .. } = r { Some(message.as_str()) } else { None })
        .collect();
    assert!(errors.iter().any(|e| e.contains("browsers take at most 1048576 bytes")), "{errors:?}");
    let logs: Vec<&str> = rec
        .iter()
        .filter_map(|r| if let Record::Log { message, .. } = r { Some(message.as_str()) } else { None })
        .collect();
    assert_eq!(logs.iter().filter(|l| l.starts_with("host stderr: echo_host: message")).count(), 50);
    assert!(logs.iter().any(|l| l.contains("the host exited (status 0)")), "{logs:?}");
    // The trace is the user's: private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    std::fs::remove_file(&file).unwrap();

    // Chrome and Chromium start a host with the caller's origin and a
    // window handle instead of a manifest path and an extension id: passed
    // on as they are.
    let chrome_args = ["chrome-extension://knldjmfmopnpolahpmmgbagdohdnhkik/", "--parent-window=0"];
    let (out, ok) = run_host(&env, &wrapper, &chrome_args, &frame(&json!({"argv": true})));
    assert!(ok);
    let answer: Value = serde_json::from_slice(&out[4..]).unwrap();
    assert_eq!(answer["argv"], json!(chrome_args), "the host got Chrome's arguments unchanged");
    for e in std::fs::read_dir(&traces).unwrap().flatten() {
        std::fs::remove_file(e.path()).unwrap();
    }

    // The classic bug: the host prints text on stdout. Passed on unchanged, diagnosed.
    let bug = frame(&json!({"print": "/home/user/debug output\n"}));
    let (seen, _) = run_host(&env, &wrapper, &firefox, &bug);
    assert_eq!(seen, b"/home/user/debug output\n");
    let (_, rec) = records_of(&traces, "echo_host");
    let said: Vec<String> = rec
        .iter()
        .filter_map(|r| if let Record::Error { message, .. } = r { Some(message.clone()) } else { None })
        .collect();
    assert!(
        said.iter()
            .any(|m| m.contains("\"/hom\": something printed text to stdout")
                && m.contains("must go to stderr")),
        "{said:?}"
    );

    // Untapped: the manifest exactly as it was, the wrapper gone.
    let out = tap(&["untap", "echo_host"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), original);
    assert!(!wrapper.exists());
    let again = tap(&["untap", "echo_host"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("echo_host is not tapped"));
}

/// A host that does not exist: the browser sees it fail as it would, and
/// the trace says why.
#[test]
fn a_missing_host_is_recorded_and_fails_as_it_would() {
    let env = TestEnv::new();
    let traces = env.dir.path().join("traces");
    let out = Command::new(tabscope_bin())
        .args(["tap-run", "--name", "echo_host", "--host", "/nonexistent/host", "--traces"])
        .arg(&traces)
        .args(["--", "/x/echo_host.json", "x@y"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing but frames on stdout");
    let (_, rec) = records_of(&traces, "echo_host");
    assert!(
        rec.iter().any(|r| matches!(r, Record::Error { message, .. } if message.contains("did not start")))
    );
}

/// A real browser through the tap: tabscope's own host, tapped, started by
/// a real Thunderbird for the agent. Everything works as untapped (the
/// bridge still finds the browser's profile past the tap), and the trace
/// holds the agent's hello and a command and its answer.
#[test]
fn a_real_thunderbird_works_through_a_tapped_host_and_its_frames_are_recorded() {
    if !tabscope_tests::require_browser("thunderbird") {
        return;
    }
    let env = TestEnv::new();
    let traces = env.dir.path().join("traces");
    let run = |args: &[&str]| {
        let out = env.command(tabscope_bin()).args(args).env("TABSCOPE_TRACE_DIR", &traces).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["install"]);
    run(&["tap", "tabscope_bridge", "--browser", "thunderbird"]);
    let mut launched = tabscope_tests::Launched::start(&env, "thunderbird", &["--no-inspector"]);
    let mut o = tabscope_tests::Observer::new(tabscope_tests::TestSession::connect(&launched.bridge.socket));
    let tab = o.call("tabs.create", json!({"createProperties": {"url": "about:blank"}})).unwrap();
    drop(o);
    let (ok, said) = launched.quit();
    assert!(ok, "{said}");
    let (_, rec) = records_of(&traces, "tabscope_bridge");
    let messages = |d: Direction| -> Vec<Value> {
        rec.iter()
            .filter_map(|r| match r {
                Record::Frame { frame, .. } if frame.dir == d => frame.json.clone(),
                _ => None,
            })
            .collect()
    };
    let from_agent = messages(Direction::ToHost);
    let to_agent = messages(Direction::ToBrowser);
    assert_eq!(from_agent[0]["type"], "hello", "the agent's first message");
    let command =
        to_agent.iter().find(|m| m["method"] == "tabs.create").expect("the command, as the bridge sent it");
    let reply =
        from_agent.iter().find(|m| m["type"] == "reply" && m["id"] == command["id"]).expect("its reply");
    assert_eq!(reply["result"]["id"], tab["id"]);
    run(&["untap", "tabscope_bridge"]);
}

/// Live: while the browser talks to a tapped host, `tabscope list` shows
/// the tap and `tabscope watch --tap NAME --json` prints each frame as it
/// passes, before the host has ended.
#[test]
fn a_running_tap_is_listed_and_watched_live() {
    use std::io::{BufRead, BufReader};
    let Some(_python) = require_program(&["python3"], "apt-get install python3") else { return };
    let env = TestEnv::new();
    let (manifest, _) = install_echo_host(&env);
    let traces = env.dir.path().join("traces");
    let cmd = |args: &[&str]| {
        let mut c = env.command(tabscope_bin());
        c.args(args).env("TABSCOPE_TRACE_DIR", &traces);
        c
    };
    assert!(cmd(&["tap", "echo_host"]).output().unwrap().status.success());
    let wrapper: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let wrapper = PathBuf::from(wrapper["path"].as_str().unwrap());

    let mut watch = tabscope_tests::Reaped::spawn(
        cmd(&["watch", "--tap", "echo_host", "--json"]).stdout(Stdio::piped()).stderr(Stdio::null()),
    );
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut browser = tabscope_tests::Reaped::spawn(
        env.command(&wrapper)
            .args([manifest.to_str().unwrap(), "echo@tabscope.test"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut to_host = browser.stdin.take().unwrap();
    let mut from_host = browser.stdout.take().unwrap();
    to_host.write_all(&frame(&json!({"hello": "live"}))).unwrap();
    to_host.flush().unwrap();
    let mut answer = [0u8; 4];
    from_host.read_exact(&mut answer).unwrap();
    // Still running: the watch has both frames already.
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let second: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!((first["dir"].as_str(), &first["message"]["hello"]), (Some("toHost"), &json!("live")));
    assert_eq!(second["dir"], "toBrowser");
    let listed = String::from_utf8_lossy(&cmd(&["list"]).output().unwrap().stdout).into_owned();
    assert!(listed.contains("tapped host echo_host running"), "{listed}");
    drop(to_host);
    assert!(browser.wait().unwrap().success());
}
