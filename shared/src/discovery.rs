//! Where bridges live: a private per-user runtime directory holding, per
//! bridge, `<pid>.sock` and `<pid>.json` (who it is, which browser).
//!
//! `$TABSCOPE_RUNTIME_DIR` overrides the location (tests, several users on
//! one machine); otherwise `$XDG_RUNTIME_DIR/tabscope`, else
//! `<tmp>/tabscope-<uid>`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::protocol::{BridgeInfo, BrowserInfo};

/// The runtime directory, created 0700 and checked to be ours and private.
pub fn runtime_dir() -> io::Result<PathBuf> {
    let dir = runtime_dir_path();
    ensure_private_dir(&dir)?;
    Ok(dir)
}

/// The runtime directory's path, without touching the file system.
pub fn runtime_dir_path() -> PathBuf {
    if let Some(d) = std::env::var_os("TABSCOPE_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("tabscope");
    }
    std::env::temp_dir().join(format!("tabscope-{}", current_uid()))
}

#[cfg(unix)]
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
pub fn current_uid() -> u32 {
    0
}

/// Creates `dir` 0700 if needed; refuses one owned by someone else or one
/// that others could write to (they could have planted a socket or a
/// discovery file in it), and tightens one of ours that others could only read.
#[cfg(unix)]
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    match fs::DirBuilder::new().mode(0o700).recursive(true).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other(format!("{} is not a directory", dir.display())));
    }
    if meta.uid() != current_uid() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} belongs to uid {}, not to us (uid {}): refusing to use it",
                dir.display(),
                meta.uid(),
                current_uid()
            ),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is writable by others (mode {:o}): refusing to use it; \
                 remove it or `chmod 700` it if you trust what is in it",
                dir.display(),
                meta.mode() & 0o777
            ),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

/// Where the bridge keeps `bridge.log`: `$TABSCOPE_LOG_DIR`, else the user's
/// state directory (`~/.local/state/tabscope` on Linux). One rule for the
/// bridge that writes the log and for `doctor`, which points people at it.
pub fn log_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TABSCOPE_LOG_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    directories::ProjectDirs::from("dev", "tabscope", "tabscope")
        .map(|p| p.state_dir().unwrap_or(p.data_local_dir()).to_path_buf())
        .unwrap_or_else(|| std::env::temp_dir().join("tabscope-logs"))
}

pub fn log_file() -> PathBuf {
    log_dir().join("bridge.log")
}

/// The discovery file: enough to list a bridge and connect to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    #[serde(flatten)]
    pub bridge: BridgeInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<BrowserInfo>,
    pub socket: PathBuf,
}

impl Discovery {
    /// "Thunderbird 153.7.0" or "unknown browser" before the agent said hello.
    pub fn browser_label(&self) -> String {
        match &self.browser {
            Some(b) => crate::protocol::browser_label(b, &self.bridge),
            None => "browser not yet identified".into(),
        }
    }
}

pub fn socket_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.sock"))
}

pub fn discovery_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.json"))
}

/// Writes the discovery file atomically (readers never see half of it).
pub fn write_discovery(dir: &Path, d: &Discovery) -> io::Result<()> {
    let path = discovery_path(dir, d.bridge.pid);
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, serde_json::to_vec_pretty(d)?)?;
    fs::rename(tmp, path)
}

pub fn remove_discovery(dir: &Path, pid: u32) {
    let _ = fs::remove_file(discovery_path(dir, pid));
    let _ = fs::remove_file(socket_path(dir, pid));
}

#[cfg(unix)]
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
pub fn pid_alive(_pid: u32) -> bool {
    true
}

/// The live bridges in `dir`, oldest first. Entries of dead bridges are removed.
pub fn list_bridges(dir: &Path) -> io::Result<Vec<Discovery>> {
    let mut found = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(pid) = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if !pid_alive(pid) {
            let _ = fs::remove_file(&path);
            continue;
        }
        if path.extension().is_some_and(|e| e == "json")
            && let Ok(bytes) = fs::read(&path)
            && let Ok(d) = serde_json::from_slice::<Discovery>(&bytes)
        {
            found.push(d);
        }
    }
    found.sort_by(|a, b| a.bridge.started.total_cmp(&b.bridge.started).then(a.bridge.pid.cmp(&b.bridge.pid)));
    Ok(found)
}

/// Picks one bridge: by pid or by browser name prefix ("thunderbird",
/// "firefox"); with no selector, the only one.
pub fn select<'a>(bridges: &'a [Discovery], selector: Option<&str>) -> Result<&'a Discovery, String> {
    let listing = || {
        bridges
            .iter()
            .map(|d| format!("  {}  {}", d.bridge.pid, d.browser_label()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let matches: Vec<&Discovery> = match selector {
        None => bridges.iter().collect(),
        Some(sel) => {
            let sel_lower = sel.to_lowercase();
            bridges
                .iter()
                .filter(|d| {
                    d.bridge.pid.to_string() == sel
                        || d.browser.as_ref().is_some_and(|b| b.name.to_lowercase().starts_with(&sel_lower))
                })
                .collect()
        }
    };
    match (matches.as_slice(), selector) {
        ([one], _) => Ok(one),
        ([], None) => {
            Err("no tabscope bridge is running: start Thunderbird or Firefox with the tabscope add-on \
             (`tabscope launch thunderbird`), or run `tabscope doctor`"
                .into())
        }
        ([], Some(sel)) if bridges.is_empty() => {
            Err(format!("no bridge matches {sel:?}: no bridge is running"))
        }
        ([], Some(sel)) => Err(format!("no bridge matches {sel:?}; running bridges:\n{}", listing())),
        (_, _) => Err(format!(
            "{} bridges are running; choose one with --bridge PID or --bridge BROWSER:\n{}",
            matches.len(),
            listing()
        )),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn disc(pid: u32, name: &str) -> Discovery {
        Discovery {
            bridge: BridgeInfo { pid, started: pid as f64, ..Default::default() },
            browser: Some(BrowserInfo { name: name.into(), version: "153.7.0".into(), ..Default::default() }),
            socket: PathBuf::from(format!("/x/{pid}.sock")),
        }
    }

    #[test]
    fn private_dir_is_created_0700_tightened_and_refused_when_others_can_write() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("rt");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        for mode in [0o770, 0o707, 0o777] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
            let e = ensure_private_dir(&dir).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
            assert!(e.to_string().contains("writable by others"), "{e}");
            assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, mode, "left as found");
        }
    }

    #[test]
    fn stale_entries_are_cleaned_and_live_ones_listed() {
        let tmp = tempfile::tempdir().unwrap();
        let me = std::process::id();
        write_discovery(tmp.path(), &disc(me, "Thunderbird")).unwrap();
        // A pid that cannot be alive (above pid_max on Linux).
        let dead = 4_194_305 + 7;
        write_discovery(tmp.path(), &disc(dead, "Firefox")).unwrap();
        fs::write(socket_path(tmp.path(), dead), b"").unwrap();
        let found = list_bridges(tmp.path()).unwrap();
        assert_eq!(found.iter().map(|d| d.bridge.pid).collect::<Vec<_>>(), vec![me]);
        assert!(!discovery_path(tmp.path(), dead).exists());
        assert!(!socket_path(tmp.path(), dead).exists());
    }

    #[test]
    fn selection_is_explicit_when_ambiguous() {
        let both = vec![disc(10, "Thunderbird"), disc(20, "Firefox")];
        assert_eq!(select(&both, Some("thunder")).unwrap().bridge.pid, 10);
        assert_eq!(select(&both, Some("20")).unwrap().bridge.pid, 20);
        let e = select(&both, None).unwrap_err();
        assert!(e.starts_with("2 bridges are running"), "{e}");
        assert!(e.contains("10  Thunderbird 153.7.0"), "{e}");
        assert!(select(&[], None).unwrap_err().contains("tabscope launch"));
        assert_eq!(select(&both[..1], None).unwrap().bridge.pid, 10);
    }
}
