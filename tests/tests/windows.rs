//! The Windows lane: the real Windows binaries, cross-built with mingw, run
//! under Wine with Wine's own registry and named pipes. The bridge is
//! started as Firefox starts it (frames on stdin); `tabscope.exe` finds it
//! by its discovery file, talks to it over a named pipe both sides check,
//! and writes, reads back and removes the registry key Windows browsers use.
//!
//! Needs `wine` and `x86_64-w64-mingw32-gcc` (Debian: wine,
//! gcc-mingw-w64-x86-64) and the `x86_64-pc-windows-gnu` Rust target; under
//! `CI=true` a missing one fails the test. Not proven here: a real Windows
//! (its ACL enforcement between two users, its console and paths).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tabscope_shared::codec::FrameWriter;
use tabscope_tests::{fixtures, require_program, wait_for, workspace_root};

const TARGET: &str = "x86_64-pc-windows-gnu";

/// A throwaway Wine prefix with the Windows binaries; `wineserver -k` and
/// the prefix's removal when dropped, so no Wine process outlives the test.
struct Wine {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Wine {
    fn start() -> Option<Wine> {
        require_program(&["wine"], "apt-get install wine")?;
        let gcc = require_program(&["x86_64-w64-mingw32-gcc"], "apt-get install gcc-mingw-w64-x86-64")?;
        let root = workspace_root();
        let target_dir = root.join("target/cross");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let built = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--target",
                TARGET,
                "-p",
                "tabscope-bridge",
                "-p",
                "tabscope",
                "--bins",
            ])
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(&root)
            .status()
            .expect("running cargo build");
        assert!(built.success(), "cross-building for Windows failed (rustup target add {TARGET})");
        let dir = tempfile::Builder::new().prefix("tabscope-wine-").tempdir().expect("temp dir");
        let wine = Wine { dir, bin: target_dir.join(TARGET).join("debug") };
        // A persistent wineserver, then the prefix and its services, none
        // holding our pipes: what Wine starts on first use inherits the
        // stdio of whichever command came first. (Output is still read
        // from files, not pipes: Wine starts its desktop process lazily,
        // from any command, and that one would hold a pipe open for ever.)
        std::fs::create_dir_all(wine.prefix()).expect("the prefix folder");
        let quiet = |mut c: Command| c.stdout(Stdio::null()).stderr(Stdio::null()).status().expect("wine");
        assert!(
            quiet({
                let mut c = wine.command("wineserver");
                c.arg("-p");
                c
            })
            .success()
        );
        let booted = quiet({
            let mut c = wine.command("wineboot");
            c.arg("-i");
            c
        });
        assert!(booted.success(), "wineboot failed");
        // Debian's Wine 8 lacks ProcessPrng, which every Rust .exe imports;
        // a stand-in built from tests/fixtures/wine goes into this prefix only.
        let dll = wine.prefix().join("drive_c/windows/system32/bcryptprimitives.dll");
        let cc = Command::new(gcc)
            .arg("-shared")
            .arg("-o")
            .arg(&dll)
            .arg(root.join("tests/fixtures/wine/bcryptprimitives.c"))
            .args(["-ladvapi32", "-Wl,--kill-at"])
            .output()
            .expect("mingw gcc");
        assert!(cc.status.success(), "building the stand-in DLL: {}", String::from_utf8_lossy(&cc.stderr));
        Some(wine)
    }

    fn prefix(&self) -> PathBuf {
        self.dir.path().join("prefix")
    }

    /// A Wine program (`wine`, `wineboot`, `wineserver`) in this prefix,
    /// with none of the Linux side's tabscope settings.
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("WINEPREFIX", self.prefix())
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("TABSCOPE_RUNTIME_DIR")
            .env_remove("TABSCOPE_LOG_DIR")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("DISPLAY")
            .stdin(Stdio::null());
        c
    }

    fn exe(&self, name: &str) -> Command {
        let mut c = self.command("wine");
        c.arg(self.bin.join(format!("{name}.exe")));
        c
    }

    fn tabscope(&self, args: &[&str]) -> Output {
        let mut c = self.exe("tabscope");
        c.args(args);
        Captured::spawn(c).finish()
    }

    fn reg_query(&self, key: &str) -> Output {
        let mut c = self.command("wine");
        c.args(["reg", "query", key, "/ve"]);
        Captured::spawn(c).finish()
    }

    /// The Windows user's local data folder, seen from Linux.
    fn local_app_data(&self) -> PathBuf {
        let users = self.prefix().join("drive_c/users");
        let user = std::fs::read_dir(&users)
            .expect("the prefix has users")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join("AppData/Local").is_dir())
            .expect("a user with AppData");
        user.join("AppData/Local")
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        let _ = self.command("wineserver").arg("-k").status();
        let _ = self.command("wineserver").arg("-w").status();
    }
}

/// `tabscope.exe call METHOD PARAMS`, answered by the browser's side of `bridge`.
fn call_answered(wine: &Wine, bridge: &mut WinBridge, method: &str, params: &str, result: Value) -> Output {
    let mut call = wine.exe("tabscope");
    call.args(["call", method, params]);
    let call = Captured::spawn(call);
    let command = wait_for(Duration::from_secs(60), || {
        bridge.from_bridge.recv_timeout(Duration::from_millis(200)).ok().filter(|m| m["type"] == "command")
    })
    .expect("the command reached the browser's side");
    assert_eq!(command["method"], method);
    bridge.send(&json!({"type":"reply","id":command["id"],"result":result}));
    call.finish()
}

/// A Wine command whose output goes to files: the command's end is its
/// process's exit, whoever else holds its output open.
struct Captured {
    child: Child,
    out: std::fs::File,
    err: std::fs::File,
}

impl Captured {
    fn spawn(mut c: Command) -> Self {
        let (out, err) = (tempfile::tempfile().unwrap(), tempfile::tempfile().unwrap());
        let child = c
            .stdout(out.try_clone().unwrap())
            .stderr(err.try_clone().unwrap())
            .spawn()
            .expect("spawning a Wine command");
        Captured { child, out, err }
    }

    fn finish(mut self) -> Output {
        use std::io::{Read, Seek};
        let status =
            tabscope_tests::wait_child(&mut self.child, Duration::from_secs(120)).unwrap_or_else(|| {
                let _ = self.child.kill();
                panic!("a Wine command did not finish in 120 s")
            });
        let read = |f: &mut std::fs::File| {
            let mut v = Vec::new();
            f.rewind().unwrap();
            f.read_to_end(&mut v).unwrap();
            v
        };
        Output { status, stdout: read(&mut self.out), stderr: read(&mut self.err) }
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The bridge under Wine with the browser's end of its stdio.
struct WinBridge {
    child: Child,
    to_bridge: Option<FrameWriter<std::process::ChildStdin>>,
    from_bridge: crossbeam_channel::Receiver<Value>,
}

impl WinBridge {
    fn start(wine: &Wine) -> Self {
        let mut bridge = wine.exe("tabscope-bridge");
        bridge.args([r"C:\fake\tabscope_bridge.json", "tabscope-agent@tabscope.dev"]);
        Self::start_with(bridge)
    }

    /// `host` started as the browser starts a host: frames on its stdio.
    fn start_with(mut host: Command) -> Self {
        let (child, to_bridge, from_bridge) = tabscope_tests::spawn_host(&mut host);
        WinBridge { child, to_bridge: Some(to_bridge), from_bridge }
    }

    fn send(&mut self, msg: &Value) {
        self.to_bridge.as_mut().expect("open").write_message(msg).expect("write to the bridge");
    }
}

impl Drop for WinBridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn discovery_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_bridge_serves_the_cli_over_a_checked_named_pipe() {
    let Some(wine) = Wine::start() else { return };
    let mut bridge = WinBridge::start(&wine);
    bridge.send(&fixtures::hello());
    bridge.send(&fixtures::snapshot());

    let listed = wait_for(Duration::from_secs(60), || {
        let out = wine.tabscope(&["list"]);
        let t = text(&out);
        (out.status.success() && t.contains("Thunderbird 153.7.0")).then_some(t)
    })
    .expect("tabscope.exe list shows the bridge");
    assert!(listed.contains("tabscope-agent@tabscope.dev"), "{listed}");

    // The discovery file is in the user's local data folder and names an
    // unguessable pipe: `\\.\pipe\tabscope-<pid>-<32 hex>`.
    let run = wine.local_app_data().join("tabscope/tabscope/data/run");
    let files = discovery_files(&run);
    assert_eq!(files.len(), 1, "one discovery file in {}", run.display());
    let disc: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    let pid = disc["pid"].as_u64().expect("pid");
    let socket = disc["socket"].as_str().expect("socket").to_owned();
    let nonce =
        socket.strip_prefix(&format!(r"\\.\pipe\tabscope-{pid}-")).unwrap_or_else(|| panic!("{socket}"));
    assert!(nonce.len() == 32 && nonce.bytes().all(|b| b.is_ascii_hexdigit()), "{socket}");

    // The pipe's access list, read back from the system by doctor: our user only.
    let doctor = text(&wine.tabscope(&["doctor"]));
    assert!(doctor.contains("its pipe admits only your user (D:P(A;;"), "{doctor}");

    // Over the pipe: the model, then a command answered by the "browser".
    let snapshot = wine.tabscope(&["snapshot"]);
    assert!(snapshot.status.success(), "{}", text(&snapshot));
    let model: Value = serde_json::from_slice(&snapshot.stdout).expect("snapshot is JSON");
    assert!(model["snapshot"].to_string().contains(r#""mailTab":true"#), "{model}");

    let out = call_answered(&wine, &mut bridge, "tabs.get", r#"{"tabId":1}"#, fixtures::mail_tab());
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"mailTab\": true"), "{}", text(&out));

    // A discovery file naming a pipe of another form is not followed (a
    // copy of the real one, under another live pid: the bridge's own pid
    // is the only one we know lives, so the copy replaces it).
    let mut planted = disc.clone();
    planted["socket"] = json!(r"\\.\pipe\someone-elses");
    std::fs::write(&files[0], serde_json::to_vec(&planted).unwrap()).unwrap();
    let refused = wine.tabscope(&["snapshot"]);
    assert!(!refused.status.success(), "a planted pipe name was followed: {}", text(&refused));
    std::fs::write(&files[0], serde_json::to_vec(&disc).unwrap()).unwrap();

    // A bridge killed without cleaning up: the next listing sees its
    // process is gone (pid_alive, not always-true any more) and removes it.
    let _ = bridge.child.kill();
    let _ = bridge.child.wait();
    let gone = wait_for(Duration::from_secs(30), || {
        let out = wine.tabscope(&["list"]);
        (!text(&out).contains("Thunderbird 153.7.0")).then_some(())
    });
    assert!(gone.is_some(), "a dead bridge is still listed");
    assert!(discovery_files(&run).is_empty(), "the dead bridge's discovery file was removed");
}

#[test]
fn install_doctor_and_uninstall_round_trip_the_registry_key() {
    let Some(wine) = Wine::start() else { return };
    let key = r"HKCU\Software\Mozilla\NativeMessagingHosts\tabscope_bridge";
    let query = || wine.reg_query(key);

    let out = wine.tabscope(&["install"]);
    assert!(out.status.success(), "{}", text(&out));
    let installed = text(&out);
    assert!(installed.contains("registered: HKEY_CURRENT_USER"), "{installed}");

    // What Firefox reads: the key's default value names the manifest, which
    // names the bridge next to tabscope.exe.
    let q = query();
    assert!(q.status.success(), "reg query: {}", text(&q));
    let value = text(&q);
    let manifest_win = value
        .lines()
        .find_map(|l| l.split("REG_SZ").nth(1))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no REG_SZ default value: {value}"));
    assert!(manifest_win.ends_with(r"tabscope\tabscope_bridge.json"), "{manifest_win}");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(wine.local_app_data().join("tabscope/tabscope_bridge.json")).expect("the manifest"),
    )
    .unwrap();
    let bridge = manifest["path"].as_str().unwrap();
    assert!(bridge.ends_with(r"\tabscope-bridge.exe"), "{bridge}");
    assert!(!bridge.starts_with(r"\\?\"), "browsers do not take verbatim paths: {bridge}");

    let doctor = text(&wine.tabscope(&["doctor"]));
    assert!(
        doctor.contains(
            r"registry HKEY_CURRENT_USER\Software\Mozilla\NativeMessagingHosts\tabscope_bridge names it"
        ),
        "{doctor}"
    );
    assert!(doctor.contains("bridge runs: tabscope-bridge"), "{doctor}");

    // A browser found where its installer registered it ("App Paths"),
    // though it is on no PATH and in no Program Files folder.
    let fake = wine.prefix().join("drive_c/Apps/TB/thunderbird.exe");
    std::fs::create_dir_all(fake.parent().unwrap()).unwrap();
    std::fs::write(&fake, b"MZ").unwrap();
    let app_paths = r"HKCU\Software\Microsoft\Windows\CurrentVersion\App Paths\thunderbird.exe";
    let mut add = wine.command("wine");
    add.args(["reg", "add", app_paths, "/ve", "/d", r"C:\Apps\TB\thunderbird.exe", "/f"]);
    assert!(Captured::spawn(add).finish().status.success());
    let doctor = text(&wine.tabscope(&["doctor"]));
    assert!(doctor.contains(r"ok   Thunderbird: C:\Apps\TB\thunderbird.exe"), "{doctor}");

    let out = wine.tabscope(&["uninstall"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(r"removed HKEY_CURRENT_USER"), "{}", text(&out));
    assert!(!query().status.success(), "the key is gone");
    let doctor = text(&wine.tabscope(&["doctor"]));
    assert!(doctor.contains("no manifest at"), "{doctor}");
}

#[test]
fn tap_follows_the_registry_records_a_host_run_through_cmd_and_untap_restores_the_key() {
    let Some(wine) = Wine::start() else { return };
    let key = r"HKCU\Software\Mozilla\NativeMessagingHosts\tabscope_bridge";
    let named = || {
        text(&wine.reg_query(key)).lines().find_map(|l| l.split("REG_SZ").nth(1)).map(|v| v.trim().to_owned())
    };
    assert!(wine.tabscope(&["install"]).status.success());
    let installed = named().expect("install registered the host");

    // Listed from the registry, then tapped: the user's key now names a
    // tapped copy, the manifest install wrote is left as it was.
    let listing = text(&wine.tabscope(&["tap"]));
    assert!(listing.contains("tabscope_bridge") && listing.contains("firefox,thunderbird"), "{listing}");
    let manifest_file = wine.local_app_data().join("tabscope/tabscope_bridge.json");
    let before = std::fs::read(&manifest_file).unwrap();
    let out = wine.tabscope(&["tap", "tabscope_bridge"]);
    assert!(out.status.success(), "{}", text(&out));
    let copy = named().expect("the key is still there");
    assert!(copy.ends_with(r"taps\tabscope_bridge.firefox.tapped.json"), "{copy}");
    assert_eq!(std::fs::read(&manifest_file).unwrap(), before, "the installed manifest is untouched");
    assert!(text(&wine.tabscope(&["tap"])).contains("TAPPED"));

    // Started as Firefox starts a batch-file host: through cmd.exe, with
    // the manifest's path and the add-on id.
    let copy_json: Value = {
        let linux = wine.prefix().join("drive_c").join(copy.trim_start_matches(r"C:\").replace('\\', "/"));
        serde_json::from_slice(&std::fs::read(linux).expect("the tapped copy")).unwrap()
    };
    let wrapper = copy_json["path"].as_str().expect("path").to_owned();
    assert!(wrapper.ends_with(".cmd"), "{wrapper}");
    let mut host = wine.command("wine");
    host.args(["cmd", "/c", &wrapper, &copy, "tabscope-agent@tabscope.dev"]);
    let mut bridge = WinBridge::start_with(host);
    bridge.send(&fixtures::hello());
    bridge.send(&fixtures::snapshot());
    let listed = wait_for(Duration::from_secs(60), || {
        let t = text(&wine.tabscope(&["list"]));
        (t.contains("Thunderbird 153.7.0") && t.contains("tapped host tabscope_bridge running")).then_some(t)
    });
    assert!(listed.is_some(), "the tapped bridge and its tap are listed");
    let out = call_answered(&wine, &mut bridge, "tabs.get", r#"{"tabId":1}"#, fixtures::mail_tab());
    assert!(out.status.success(), "{}", text(&out));
    bridge.to_bridge = None;
    assert!(
        tabscope_tests::wait_child(&mut bridge.child, Duration::from_secs(30)).is_some(),
        "EOF ends tap and host"
    );

    // The trace: both directions, the host's stderr, its exit.
    let traces = wine.prefix().join("drive_c/users");
    let trace = walk(&traces)
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("tap-tabscope_bridge-")))
        .expect("a tap trace");
    let records: Vec<Value> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let frames =
        |dir: &str| records.iter().filter(|r| r["kind"] == "frame" && r["frame"]["dir"] == dir).count();
    assert!(frames("toHost") >= 3, "hello, snapshot, reply: {records:?}");
    assert!(frames("toBrowser") >= 1, "the command: {records:?}");
    let all = serde_json::to_string(&records).unwrap();
    assert!(all.contains("host stderr") && all.contains("exit"), "{all}");

    let out = wine.tabscope(&["untap", "tabscope_bridge"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(named().as_deref(), Some(installed.as_str()), "the key names the installed manifest again");
    assert!(!text(&wine.tabscope(&["tap"])).contains("TAPPED"));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
