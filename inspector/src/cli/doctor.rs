//! `tabscope doctor`: every link from browser to inspector, checked, with
//! what to fix; and finding the browsers (also used by `launch`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::bail;
use tabscope_shared::discovery;
use tabscope_shared::protocol::{ADDON_ID, HOST_NAME};

use super::BrowserChoice;
use super::install::{HostManifest, manifest_locations};

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
/// On `PATH` first, then where each OS installs the browsers.
pub fn find_browser(names: &[&str]) -> Option<PathBuf> {
    let exe = |n: &str| if cfg!(windows) { format!("{n}.exe") } else { n.to_owned() };
    let on_path =
        std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    let home = directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf()).unwrap_or_default();
    let env = |k: &str| std::env::var_os(k).map(PathBuf::from);
    on_path
        .flat_map(|dir| names.iter().map(move |n| dir.join(exe(n))))
        .chain(registered(names))
        .chain(install_locations(std::env::consts::OS, names, &home, &env))
        .find(|p| p.is_file())
}

/// Windows: where the installer registered the browser ("App Paths").
#[cfg(windows)]
fn registered(names: &[&str]) -> Vec<PathBuf> {
    names.iter().filter_map(|n| tabscope_shared::registry::app_path(&format!("{n}.exe"))).collect()
}

#[cfg(not(windows))]
fn registered(_names: &[&str]) -> Vec<PathBuf> {
    Vec::new()
}

/// Where installers put the browsers named `names` on `os` (not verified
/// on a real Mac or Windows machine: these are the installers' documented
/// defaults). `env` reads an environment variable (Windows' folders).
pub fn install_locations(
    os: &str,
    names: &[&str],
    home: &Path,
    env: &dyn Fn(&str) -> Option<PathBuf>,
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for &name in names {
        let (bundles, folders): (&[&str], &[&str]) = match name {
            "thunderbird" | "thunderbird-esr" => {
                (&["Thunderbird", "Thunderbird Beta", "Thunderbird Daily"], &["Mozilla Thunderbird"])
            }
            "betterbird" => (&["Betterbird"], &["Betterbird"]),
            "firefox" | "firefox-esr" => (
                &["Firefox", "Firefox ESR", "Firefox Developer Edition", "Firefox Nightly"],
                &["Mozilla Firefox", "Firefox Developer Edition", "Firefox Nightly"],
            ),
            _ => (&[], &[]),
        };
        let exe = if name.starts_with("thunderbird") {
            "thunderbird"
        } else if name.starts_with("firefox") {
            "firefox"
        } else {
            name
        };
        match os {
            "macos" => {
                for root in [PathBuf::from("/Applications"), home.join("Applications")] {
                    for b in bundles {
                        push(&mut out, root.join(format!("{b}.app/Contents/MacOS/{exe}")));
                    }
                }
            }
            "windows" => {
                let roots = ["ProgramFiles", "ProgramFiles(x86)", "LOCALAPPDATA"].into_iter().filter_map(env);
                for root in roots {
                    for f in folders {
                        push(&mut out, root.join(f).join(format!("{exe}.exe")));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Adds `p` unless it is there already (two names can share an install).
fn push(out: &mut Vec<PathBuf>, p: PathBuf) {
    if !out.contains(&p) {
        out.push(p);
    }
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
        #[cfg(windows)]
        check_registry(&mut r, &path);
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
                // Not refused: Gecko confined this way asks the XDG desktop
                // portal's WebExtensions interface to find and start hosts
                // (firefox-source-docs, "Native messaging for a
                // strictly-confined Firefox"); not verified on this project's machines.
                Some(kind) => r.note(&format!(
                    "{label} at {} is a {kind} package: it reaches native hosts only through the XDG desktop \
                     portal (xdg-desktop-portal with its WebExtensions portal, and the pref \
                     widget.use-xdg-desktop-portal.native-messaging = 1), which asks you once per add-on; \
                     if that is missing, use a {label} from your distribution's packages or mozilla.org",
                    p.display()
                )),
                None => r.ok(&format!("{label}: {}", p.display())),
            },
            None => r.note(&format!("{label} not found on PATH or where installers put it ({how})")),
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
                #[cfg(windows)]
                check_pipe(&mut r, &d.socket);
            }
        }
        Err(e) => r.bad(&format!("cannot list bridges: {e}"), "check the runtime directory"),
    }
    println!("bridge log: {}", discovery::log_file().display());
    if r.problems > 0 {
        bail!("{} problem(s) found", r.problems);
    }
    println!("all good");
    Ok(())
}

/// Windows: the browsers find the manifest only through the registry.
#[cfg(windows)]
fn check_registry(r: &mut Report, manifest: &Path) {
    use tabscope_shared::registry::{self, MOZILLA_HOSTS};
    let key = format!(r"{MOZILLA_HOSTS}\{HOST_NAME}");
    match registry::host_manifest(MOZILLA_HOSTS, HOST_NAME) {
        Some((named, hive)) if named == manifest => {
            r.ok(&format!(r"registry {}\{key} names it", hive.label()))
        }
        Some((named, hive)) => r.bad(
            &format!(r"registry {}\{key} names {}, not this manifest", hive.label(), named.display()),
            "run `tabscope install` (HKEY_CURRENT_USER wins over HKEY_LOCAL_MACHINE)",
        ),
        None => r.bad(
            &format!(r"no registry key {key}: the browsers cannot find the manifest"),
            "run `tabscope install`",
        ),
    }
}

/// Windows: the bridge's pipe, as the system has it, admits only this user.
#[cfg(windows)]
fn check_pipe(r: &mut Report, pipe: &Path) {
    use tabscope_shared::winsec;
    let name = pipe.to_string_lossy();
    match (winsec::pipe_acl(&name), winsec::current_user_sid()) {
        (Ok(acl), Ok(me)) if winsec::admits_only(&acl, &me) => {
            r.ok(&format!("its pipe admits only your user ({acl})"))
        }
        (Ok(acl), Ok(_)) => r.bad(
            &format!("its pipe {name} admits others: {acl}"),
            "stop that bridge (another program may have made the pipe) and report it",
        ),
        (Err(e), _) | (_, Err(e)) => r.note(&format!("cannot read the access list of {name}: {e}")),
    }
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
    fn browsers_are_looked_for_where_each_os_installs_them() {
        let home = Path::new("/Users/me");
        let mac = install_locations("macos", THUNDERBIRD_NAMES, home, &|_| None);
        assert!(mac.contains(&PathBuf::from("/Applications/Thunderbird.app/Contents/MacOS/thunderbird")));
        assert!(
            mac.contains(&PathBuf::from("/Users/me/Applications/Betterbird.app/Contents/MacOS/betterbird"))
        );
        let env = |k: &str| match k {
            "ProgramFiles" => Some(PathBuf::from("C:/Program Files")),
            "LOCALAPPDATA" => Some(PathBuf::from("C:/Users/me/AppData/Local")),
            _ => None,
        };
        let win = install_locations("windows", FIREFOX_NAMES, home, &env);
        assert!(win.contains(&PathBuf::from("C:/Program Files/Mozilla Firefox/firefox.exe")), "{win:?}");
        assert!(win.contains(&PathBuf::from("C:/Users/me/AppData/Local/Mozilla Firefox/firefox.exe")));
        assert!(install_locations("linux", FIREFOX_NAMES, home, &env).is_empty(), "Linux: PATH only");
        let unique: std::collections::HashSet<_> = win.iter().collect();
        assert_eq!(unique.len(), win.len(), "firefox and firefox-esr share folders, listed once");
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
