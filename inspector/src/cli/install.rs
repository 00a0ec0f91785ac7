//! Host manifest installation, the `.xpi`, and `doctor`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tabscope_shared::discovery;
use tabscope_shared::protocol::{ADDON_ID, HOST_NAME};

use super::{ADDON_FILES, BrowserChoice};

/// A native-messaging host manifest (Mozilla's format).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct HostManifest {
    pub name: String,
    pub description: String,
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub allowed_extensions: Vec<String>,
}

fn home() -> anyhow::Result<PathBuf> {
    directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf()).context("cannot find the home directory")
}

/// Where each browser reads per-user host manifests on this OS.
pub fn manifest_locations(choice: BrowserChoice) -> anyhow::Result<Vec<(&'static str, PathBuf)>> {
    let home = home()?;
    let file = format!("{HOST_NAME}.json");
    let mut out = Vec::new();
    let want = |b: BrowserChoice| choice == BrowserChoice::All || choice == b;
    if cfg!(target_os = "macos") {
        if want(BrowserChoice::Thunderbird) {
            out.push(("Thunderbird", home.join("Library/Mozilla/NativeMessagingHosts").join(&file)));
        }
        if want(BrowserChoice::Firefox) {
            out.push((
                "Firefox",
                home.join("Library/Application Support/Mozilla/NativeMessagingHosts").join(&file),
            ));
        }
    } else if cfg!(windows) {
        // The registry points at this file (HKCU\Software\Mozilla\NativeMessagingHosts\tabscope_bridge).
        let base = directories::BaseDirs::new().context("no local data directory")?;
        out.push(("Thunderbird and Firefox", base.data_local_dir().join("tabscope").join(&file)));
    } else {
        // Linux and the BSDs: one place for both browsers.
        out.push(("Thunderbird and Firefox", home.join(".mozilla/native-messaging-hosts").join(&file)));
    }
    Ok(out)
}

/// The bridge binary that ships next to this program.
pub fn default_bridge_path() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let name = if cfg!(windows) { "tabscope-bridge.exe" } else { "tabscope-bridge" };
    let path = exe.parent().context("program has no folder")?.join(name);
    if !path.exists() {
        bail!(
            "{} not found next to tabscope; build it with `cargo build --release -p tabscope-bridge` or pass --bridge-path",
            path.display()
        );
    }
    Ok(fs::canonicalize(&path).unwrap_or(path))
}

pub fn manifest_for(bridge: &Path, extra_ids: &[String], previous: Option<&HostManifest>) -> HostManifest {
    let mut ids = vec![ADDON_ID.to_owned()];
    // Keep ids allowed by an earlier install (add-ons that embed the agent).
    for id in previous.iter().flat_map(|p| p.allowed_extensions.iter()).chain(extra_ids) {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    HostManifest {
        name: HOST_NAME.into(),
        description: "tabscope bridge: mirrors windows, tabs and session values for the tabscope inspector"
            .into(),
        path: bridge.to_string_lossy().into_owned(),
        kind: "stdio".into(),
        allowed_extensions: ids,
    }
}

fn read_manifest(path: &Path) -> Option<HostManifest> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

pub fn install(choice: BrowserChoice, extra_ids: &[String], bridge: Option<PathBuf>) -> anyhow::Result<()> {
    let bridge = match bridge {
        Some(p) => fs::canonicalize(&p).with_context(|| format!("bridge {}", p.display()))?,
        None => default_bridge_path()?,
    };
    for (browser, path) in manifest_locations(choice)? {
        let m = manifest_for(&bridge, extra_ids, read_manifest(&path).as_ref());
        fs::create_dir_all(path.parent().expect("manifest path has a folder"))?;
        let mut text = serde_json::to_vec_pretty(&m)?;
        text.push(b'\n');
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("{browser}: wrote {}", path.display());
        println!("  bridge: {}", m.path);
        println!("  allowed add-ons: {}", m.allowed_extensions.join(", "));
        #[cfg(windows)]
        register_windows(&path)?;
    }
    println!(
        "Next: install the agent add-on (`tabscope package`, then Install Add-on From File), or run `tabscope launch thunderbird`."
    );
    Ok(())
}

#[cfg(windows)]
fn register_windows(path: &Path) -> anyhow::Result<()> {
    let key = format!(r"HKCU\Software\Mozilla\NativeMessagingHosts\{HOST_NAME}");
    let status = std::process::Command::new("reg")
        .args(["add", &key, "/ve", "/t", "REG_SZ", "/d"])
        .arg(path)
        .arg("/f")
        .status()?;
    if !status.success() {
        bail!("reg add {key} failed");
    }
    Ok(())
}

pub fn uninstall(choice: BrowserChoice) -> anyhow::Result<()> {
    for (browser, path) in manifest_locations(choice)? {
        match fs::remove_file(&path) {
            Ok(()) => println!("{browser}: removed {}", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                println!("{browser}: nothing at {}", path.display())
            }
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
    Ok(())
}

/// Zips the agent with manifest.json at the archive's root.
pub fn write_xpi(out: &Path) -> anyhow::Result<()> {
    let file = fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in ADDON_FILES {
        zip.start_file(*name, opts)?;
        zip.write_all(text.as_bytes())?;
    }
    zip.finish()?;
    Ok(())
}

/// Writes the agent's files unpacked into `dir` (for sideloading by path).
pub fn write_addon_dir(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir)?;
    for (name, text) in ADDON_FILES {
        fs::write(dir.join(name), text)?;
    }
    Ok(())
}

// ----- doctor -----

struct Report {
    problems: usize,
}

impl Report {
    fn ok(&self, what: &str) {
        println!("  ok   {what}");
    }
    fn bad(&mut self, what: &str, fix: &str) {
        self.problems += 1;
        println!("  FAIL {what}\n       fix: {fix}");
    }
    fn note(&self, what: &str) {
        println!("  --   {what}");
    }
}

/// Where a browser binary is, and whether it is confined.
pub fn find_browser(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

pub fn confinement(binary: &Path) -> Option<&'static str> {
    let real = fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
    let s = real.to_string_lossy();
    if s.starts_with("/snap/") || s.contains("/snap/bin/") {
        Some("Snap")
    } else if s.contains("flatpak") {
        Some("Flatpak")
    } else {
        None
    }
}

pub const THUNDERBIRD_NAMES: &[&str] = &["thunderbird", "thunderbird-esr", "betterbird"];
pub const FIREFOX_NAMES: &[&str] = &["firefox-esr", "firefox"];

pub fn doctor() -> anyhow::Result<()> {
    let mut r = Report { problems: 0 };
    println!("host manifest");
    let mut manifest_bridge = None;
    for (browser, path) in manifest_locations(BrowserChoice::All)? {
        let Ok(bytes) = fs::read(&path) else {
            r.bad(&format!("{browser}: no manifest at {}", path.display()), "run `tabscope install`");
            continue;
        };
        let m: HostManifest = match serde_json::from_slice(&bytes) {
            Ok(m) => m,
            Err(e) => {
                r.bad(
                    &format!("{browser}: {} is not a valid manifest: {e}", path.display()),
                    "run `tabscope install` to rewrite it",
                );
                continue;
            }
        };
        r.ok(&format!("{browser}: {}", path.display()));
        if m.name == HOST_NAME {
            r.ok(&format!("name is {HOST_NAME}"))
        } else {
            r.bad(&format!("name is {:?}, not {HOST_NAME}", m.name), "run `tabscope install`")
        }
        if m.kind == "stdio" {
            r.ok("type is stdio")
        } else {
            r.bad(&format!("type is {:?}", m.kind), "run `tabscope install`")
        }
        if m.allowed_extensions.iter().any(|e| e == ADDON_ID) {
            r.ok(&format!("allows {}", m.allowed_extensions.join(", ")));
        } else {
            r.bad(&format!("{ADDON_ID} is not among allowed_extensions"), "run `tabscope install`");
        }
        let bridge = PathBuf::from(&m.path);
        if !bridge.is_absolute() {
            r.bad(
                &format!("path {:?} is not absolute (Linux and macOS need an absolute path)", m.path),
                "run `tabscope install`",
            );
        } else if !is_executable(&bridge) {
            r.bad(
                &format!("bridge {} is missing or not executable", m.path),
                "build it (`cargo build --release`) and run `tabscope install`",
            );
        } else {
            r.ok(&format!("bridge {} is executable", m.path));
            manifest_bridge = Some(bridge);
        }
    }
    if let Some(bridge) = manifest_bridge {
        match std::process::Command::new(&bridge).arg("--version").output() {
            Ok(out) if out.status.success() && out.stdout.is_empty() => {
                r.ok(&format!("bridge runs: {}", String::from_utf8_lossy(&out.stderr).trim()))
            }
            Ok(out) if !out.stdout.is_empty() => {
                r.bad("the bridge printed to stdout", "stdout must carry frames only: report this bug")
            }
            Ok(out) => r.bad(
                &format!("bridge --version failed: {}", String::from_utf8_lossy(&out.stderr)),
                "rebuild the bridge",
            ),
            Err(e) => {
                r.bad(&format!("cannot run the bridge: {e}"), "rebuild the bridge and run `tabscope install`")
            }
        }
    }
    println!("browsers");
    for (label, names, how) in [
        (
            "Thunderbird",
            THUNDERBIRD_NAMES,
            "install it: `sudo apt-get install thunderbird` (Debian/Ubuntu) or from thunderbird.net",
        ),
        (
            "Firefox",
            FIREFOX_NAMES,
            "install it: `sudo apt-get install firefox-esr` (Debian) or from mozilla.org",
        ),
    ] {
        match find_browser(names) {
            Some(p) => match confinement(&p) {
                Some(kind) => r.bad(
                    &format!(
                        "{label} at {} is a {kind} package: its sandbox blocks native messaging",
                        p.display()
                    ),
                    &format!("use a {label} from your distribution's packages or mozilla.org (not {kind})"),
                ),
                None => r.ok(&format!("{label}: {}", p.display())),
            },
            None => r.note(&format!("{label} not found on PATH ({how})")),
        }
    }
    println!("bridges");
    let dir = discovery::runtime_dir_path();
    match discovery::runtime_dir() {
        Ok(_) => r.ok(&format!("runtime directory {} is private", dir.display())),
        Err(e) => r.bad(
            &format!("runtime directory {}: {e}", dir.display()),
            "remove it or set TABSCOPE_RUNTIME_DIR",
        ),
    }
    match discovery::list_bridges(&dir) {
        Ok(list) if list.is_empty() => {
            r.note("no bridge running: start the browser with the agent installed")
        }
        Ok(list) => {
            for d in list {
                r.ok(&format!("bridge {} for {}", d.bridge.pid, d.browser_label()));
            }
        }
        Err(e) => r.bad(&format!("cannot list bridges: {e}"), "check the runtime directory"),
    }
    println!("bridge log: {}", log_file().display());
    if r.problems > 0 {
        bail!("{} problem(s) found", r.problems);
    }
    println!("all good");
    Ok(())
}

/// The bridge's log file (the bridge's own rule, see bridge/src/logging.rs).
pub fn log_file() -> PathBuf {
    if let Some(d) = std::env::var_os("TABSCOPE_LOG_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("bridge.log");
    }
    directories::ProjectDirs::from("dev", "tabscope", "tabscope")
        .map(|p| p.state_dir().unwrap_or(p.data_local_dir()).join("bridge.log"))
        .unwrap_or_else(|| std::env::temp_dir().join("tabscope-logs/bridge.log"))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reinstall_keeps_embedding_add_ons() {
        let first = manifest_for(Path::new("/opt/tabscope-bridge"), &["my-addon@example.com".into()], None);
        assert_eq!(first.allowed_extensions, vec![ADDON_ID.to_owned(), "my-addon@example.com".into()]);
        let again = manifest_for(Path::new("/new/tabscope-bridge"), &[], Some(&first));
        assert_eq!(again.allowed_extensions, first.allowed_extensions);
        assert_eq!(again.path, "/new/tabscope-bridge");
        assert_eq!(again.name, "tabscope_bridge");
    }

    #[test]
    fn the_templates_in_manifests_match_what_install_writes() {
        for (text, path) in [
            (include_str!("../../../manifests/tabscope_bridge.json"), "/ABSOLUTE/PATH/TO/tabscope-bridge"),
            (
                include_str!("../../../manifests/tabscope_bridge.windows.json"),
                "C:\\ABSOLUTE\\PATH\\TO\\tabscope-bridge.exe",
            ),
        ] {
            let template: HostManifest = serde_json::from_str(text).unwrap();
            assert_eq!(template, manifest_for(Path::new(path), &[], None));
        }
    }

    #[test]
    fn xpi_has_the_manifest_at_its_root() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a.xpi");
        write_xpi(&out).unwrap();
        let mut z = zip::ZipArchive::new(fs::File::open(&out).unwrap()).unwrap();
        let manifest: serde_json::Value =
            serde_json::from_reader(z.by_name("manifest.json").unwrap()).unwrap();
        assert_eq!(manifest["browser_specific_settings"]["gecko"]["id"], ADDON_ID);
        assert!(z.by_name("tabscope-agent.js").is_ok());
    }

    #[test]
    fn snap_and_flatpak_are_recognised() {
        assert_eq!(confinement(Path::new("/snap/bin/thunderbird")), Some("Snap"));
        assert_eq!(
            confinement(Path::new("/var/lib/flatpak/exports/bin/org.mozilla.Thunderbird")),
            Some("Flatpak")
        );
        assert_eq!(confinement(Path::new("/usr/bin/true")), None);
    }
}
