//! The real inspector window under Xvfb, attached by `tabscope launch` to a
//! real headless Thunderbird; a screenshot proves it drew the browser's
//! state. Set TABSCOPE_SCREENSHOT_DIR to keep the PNG (docs/ screenshots).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tabscope_tests::{Launched, TestEnv, TestSession, processes_mentioning, require_program, wait_for};

/// A private X server; dropped, it stops.
struct Xvfb(std::process::Child, String);

impl Xvfb {
    fn start() -> Self {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        Self(child, format!(":{}", line.trim()))
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_inspector_window_shows_a_real_thunderbird() {
    let tools = [
        require_program(&["Xvfb"], "apt-get install xvfb"),
        require_program(&["import"], "apt-get install imagemagick"),
        require_program(&["xdotool"], "apt-get install xdotool"),
        require_program(&["thunderbird"], "apt-get install thunderbird"),
    ];
    if tools.iter().any(Option::is_none) {
        return;
    }
    let x = Xvfb::start();
    let env = TestEnv::new();
    let xdg = env.dir.path().join("xdg");
    std::fs::create_dir_all(&xdg).unwrap();
    std::fs::set_permissions(&xdg, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    // SAFETY: tests in this binary run one at a time (there is one), and the
    // launcher inherits these.
    unsafe {
        std::env::set_var("DISPLAY", &x.1);
        std::env::set_var("XDG_RUNTIME_DIR", &xdg);
    }
    let mut launched = Launched::start(&env, "thunderbird", &[]);
    let profile = launched.bridge.bridge.profile.clone().unwrap();
    let mut s = TestSession::connect(&launched.bridge.socket);
    s.call("tabs.create", json!({"createProperties": {"url": "https://example.org/"}})).unwrap();
    s.call(
        "sessions.setTabValue",
        json!({"tabId": 1, "key": "myaddon-state", "value": "{\"folder\":\"Inbox\",\"unread\":3}"}),
    )
    .unwrap();
    s.call("sessions.setTabValue", json!({"tabId": 1, "key": "color", "value": "red"})).unwrap();

    // The window exists and has a title.
    let found = wait_for(Duration::from_secs(30), || {
        let out = Command::new("xdotool")
            .args(["search", "--name", "^tabscope$"])
            .env("DISPLAY", &x.1)
            .output()
            .ok()?;
        let id = String::from_utf8_lossy(&out.stdout).lines().next()?.trim().to_owned();
        (!id.is_empty()).then_some(id)
    });
    let win = found.unwrap_or_else(|| {
        panic!(
            "no inspector window on {}; launcher said:\n{}",
            x.1,
            std::fs::read_to_string(&launched.output).unwrap_or_default()
        )
    });
    // Select the mail tab (first tab row) so the details and values show.
    std::thread::sleep(Duration::from_secs(2));
    let _ = Command::new("xdotool")
        .args(["mousemove", "--window", &win, "70", "93", "click", "1"])
        .env("DISPLAY", &x.1)
        .status();
    std::thread::sleep(Duration::from_secs(1));
    let shot = env.dir.path().join("inspector-thunderbird.png");
    let ok =
        Command::new("import").args(["-window", "root"]).arg(&shot).env("DISPLAY", &x.1).status().unwrap();
    assert!(ok.success(), "screenshot");
    let colors = Command::new("convert").arg(&shot).args(["-format", "%k", "info:"]).output().unwrap();
    let colors: u32 = String::from_utf8_lossy(&colors.stdout).trim().parse().unwrap_or(0);
    assert!(colors > 50, "the screenshot is nearly blank ({colors} colours)");
    if let Some(dir) = std::env::var_os("TABSCOPE_SCREENSHOT_DIR") {
        std::fs::copy(&shot, std::path::Path::new(&dir).join("inspector-thunderbird.png")).unwrap();
    }

    // Ctrl-C with the window open: the browser closes cleanly, nothing stays.
    let (ok, out) = launched.quit();
    assert!(ok, "{out}");
    assert!(out.contains("closing the browser") && !out.contains("terminating it"), "{out}");
    let gone = wait_for(Duration::from_secs(5), || processes_mentioning(&profile).is_empty().then_some(()));
    assert!(gone.is_some(), "left running: {:?}", processes_mentioning(&profile));
    assert!(env.bridges().is_empty());
}
