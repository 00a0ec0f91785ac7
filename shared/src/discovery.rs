//! Where bridges live: a private per-user runtime directory holding, per
//! bridge, `<pid>.sock` and `<pid>.json` (who it is, which browser).
//!
//! `$TABSCOPE_RUNTIME_DIR` overrides the location (tests, several users on
//! one machine); otherwise `$XDG_RUNTIME_DIR/tabscope`, else `run` in the
//! user's own state folder (`~/.local/state/tabscope/run`). There is no
//! fallback in a shared folder such as `/tmp`: a predictable name there can
//! be taken first by another user, to block every bridge or to pose as one.
//!
//! Bridges and clients trust the folder only as ssh-agent would: a real
//! directory (not a symlink), ours, writable by nobody else, under parents
//! that only we or root can change. Clients then take only `<dir>/<pid>.sock`
//! and check who listens on it (`client::connect_stream`).

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

/// The runtime directory's path, without touching the file system. Empty
/// when there is nowhere private to put it (no runtime folder, no home):
/// checking it then fails with a message that says what to set.
pub fn runtime_dir_path() -> PathBuf {
    if let Some(d) = std::env::var_os("TABSCOPE_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("tabscope");
    }
    project_dirs().map(|p| p.state_dir().unwrap_or(p.data_local_dir()).join("run")).unwrap_or_default()
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("dev", "tabscope", "tabscope")
}

fn no_private_place() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        "no private folder for the bridges' sockets: neither XDG_RUNTIME_DIR nor a home folder is set; \
         set TABSCOPE_RUNTIME_DIR to a folder only you can write to",
    )
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

#[cfg(unix)]
fn refuse(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, msg)
}

/// Creates `dir` 0700 if needed, then checks it as [`check_private_dir`]
/// does; a folder of ours that others could only read is tightened.
#[cfg(unix)]
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if dir.as_os_str().is_empty() {
        return Err(no_private_place());
    }
    match fs::DirBuilder::new().mode(0o700).recursive(true).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = check_private_dir(dir)?.expect("created above");
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Err(no_private_place());
    }
    fs::create_dir_all(dir)
}

/// Checks, without changing anything, that `dir` can be trusted to hold
/// bridges: a directory and not a symlink, owned by us, writable by nobody
/// else, and under parents that only we or root can change (or that are
/// sticky, like `/tmp`, so nobody can swap our folder for theirs).
/// `None` when it does not exist.
#[cfg(unix)]
pub fn check_private_dir(dir: &Path) -> io::Result<Option<fs::Metadata>> {
    use std::os::unix::fs::MetadataExt;
    if dir.as_os_str().is_empty() {
        return Err(no_private_place());
    }
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() {
        return Err(refuse(format!("{} is a symbolic link: refusing to use it", dir.display())));
    }
    if !meta.is_dir() {
        return Err(io::Error::other(format!("{} is not a directory", dir.display())));
    }
    let me = current_uid();
    if meta.uid() != me {
        return Err(refuse(format!(
            "{} belongs to uid {}, not to us (uid {me}): refusing to use it",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(refuse(format!(
            "{} is writable by others (mode {:o}): refusing to use it; \
             remove it or `chmod 700` it if you trust what is in it",
            dir.display(),
            meta.mode() & 0o777
        )));
    }
    let abs = std::path::absolute(dir)?;
    for parent in abs.ancestors().skip(1) {
        let m = fs::metadata(parent)?;
        let sticky = m.mode() & 0o1000 != 0;
        if (m.uid() != me && m.uid() != 0) || (m.mode() & 0o022 != 0 && !sticky) {
            return Err(refuse(format!(
                "{} is inside {}, which others can change (owner uid {}, mode {:o}): refusing to use it; \
                 set TABSCOPE_RUNTIME_DIR to a folder of yours",
                dir.display(),
                parent.display(),
                m.uid(),
                m.mode() & 0o7777
            )));
        }
    }
    Ok(Some(meta))
}

#[cfg(not(unix))]
pub fn check_private_dir(dir: &Path) -> io::Result<Option<fs::Metadata>> {
    if dir.as_os_str().is_empty() {
        return Err(no_private_place());
    }
    match fs::symlink_metadata(dir) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Where the bridge keeps `bridge.log`: `$TABSCOPE_LOG_DIR`, else the user's
/// state directory (`~/.local/state/tabscope` on Linux). One rule for the
/// bridge that writes the log and for `doctor`, which points people at it.
pub fn log_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TABSCOPE_LOG_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    project_dirs()
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

    /// Whether `other` serves the same agent as this one: same browser,
    /// profile and extension id (two agents in one browser, tabscope's and
    /// one embedded in the user's add-on, are two). A restarted bridge
    /// takes over the old one's place only if so.
    pub fn same_agent(&self, other: &Discovery) -> bool {
        let key = |d: &Discovery| {
            (
                d.browser.as_ref().map(|b| b.name.clone()),
                d.bridge.profile.clone(),
                d.bridge.extension_id.clone(),
            )
        };
        key(self) == key(other)
    }
}

/// Where bridge `pid` listens on Unix: `<dir>/<pid>.sock`, in the private folder.
pub fn socket_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.sock"))
}

/// The name a new bridge listens on. On Windows named pipes share one
/// namespace for all users, so the name is one nobody can guess beforehand
/// (`\\.\pipe\tabscope-<pid>-<random>`); it is known only through the
/// private discovery file.
#[cfg(not(windows))]
pub fn new_socket_name(dir: &Path, pid: u32) -> PathBuf {
    socket_path(dir, pid)
}

/// Every bridge's pipe name starts so (Windows).
pub const PIPE_PREFIX: &str = r"\\.\pipe\tabscope-";

#[cfg(windows)]
pub fn new_socket_name(_dir: &Path, pid: u32) -> PathBuf {
    PathBuf::from(format!("{PIPE_PREFIX}{pid}-{}", crate::token::random_hex()))
}

/// Whether `socket` is a name bridge `pid` in `dir` may listen on; a
/// discovery file naming anything else is ignored.
#[cfg(not(windows))]
pub fn is_socket_of(dir: &Path, pid: u32, socket: &Path) -> bool {
    socket == socket_path(dir, pid)
}

#[cfg(windows)]
pub fn is_socket_of(_dir: &Path, pid: u32, socket: &Path) -> bool {
    let prefix = format!("{PIPE_PREFIX}{pid}-");
    socket.to_str().and_then(|s| s.strip_prefix(&prefix)).is_some_and(crate::token::is_token)
}

pub fn discovery_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.json"))
}

/// Writes the discovery file atomically (readers never see half of it).
pub fn write_discovery(dir: &Path, d: &Discovery) -> io::Result<()> {
    crate::files::write_atomic(&discovery_path(dir, d.bridge.pid), &serde_json::to_vec_pretty(d)?, 0o600)
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

#[cfg(windows)]
pub fn pid_alive(pid: u32) -> bool {
    crate::winsec::pid_alive(pid)
}

/// The live bridges in `dir`, oldest first. Entries of dead bridges are
/// removed. The folder is checked first ([`check_private_dir`]), and a
/// discovery file is taken only as `<pid>.json`, a regular file of ours,
/// naming that pid and its socket ([`is_socket_of`]).
pub fn list_bridges(dir: &Path) -> io::Result<Vec<Discovery>> {
    let mut found = Vec::new();
    if check_private_dir(dir)?.is_none() {
        return Ok(found);
    }
    for entry in fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        let Some(pid) = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if !pid_alive(pid) {
            let _ = fs::remove_file(&path);
            continue;
        }
        if path.extension().is_some_and(|e| e == "json")
            && is_own_file(&path)
            && let Ok(bytes) = fs::read(&path)
            && let Ok(d) = serde_json::from_slice::<Discovery>(&bytes)
            && d.bridge.pid == pid
            && is_socket_of(dir, pid, &d.socket)
        {
            found.push(d);
        }
    }
    found.sort_by(|a, b| a.bridge.started.total_cmp(&b.bridge.started).then(a.bridge.pid.cmp(&b.bridge.pid)));
    Ok(found)
}

/// A regular file (not a symlink, FIFO or device) owned by us.
#[cfg(unix)]
fn is_own_file(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.uid() == current_uid())
}

#[cfg(not(unix))]
fn is_own_file(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}

/// Picks one bridge: by pid, by the agent's extension id, or by browser
/// name prefix ("thunderbird", "firefox"); with no selector, the only one.
pub fn select<'a>(bridges: &'a [Discovery], selector: Option<&str>) -> Result<&'a Discovery, String> {
    let listing = || {
        bridges
            .iter()
            .map(|d| {
                let ext = d.bridge.extension_id.as_deref().unwrap_or("-");
                format!("  {}  {}  {ext}", d.bridge.pid, d.browser_label())
            })
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
                        || d.bridge.extension_id.as_deref() == Some(sel)
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

    fn disc_in(dir: &Path, pid: u32, name: &str) -> Discovery {
        Discovery { socket: socket_path(dir, pid), ..disc(pid, name) }
    }

    #[test]
    fn stale_entries_are_cleaned_and_live_ones_listed() {
        let tmp = tempfile::tempdir().unwrap();
        let me = std::process::id();
        write_discovery(tmp.path(), &disc_in(tmp.path(), me, "Thunderbird")).unwrap();
        assert_eq!(fs::metadata(discovery_path(tmp.path(), me)).unwrap().mode() & 0o777, 0o600);
        // A pid that cannot be alive (above pid_max on Linux).
        let dead = 4_194_305 + 7;
        write_discovery(tmp.path(), &disc_in(tmp.path(), dead, "Firefox")).unwrap();
        fs::write(socket_path(tmp.path(), dead), b"").unwrap();
        let found = list_bridges(tmp.path()).unwrap();
        assert_eq!(found.iter().map(|d| d.bridge.pid).collect::<Vec<_>>(), vec![me]);
        assert!(!discovery_path(tmp.path(), dead).exists());
        assert!(!socket_path(tmp.path(), dead).exists());
    }

    #[test]
    fn a_discovery_file_naming_another_socket_or_pid_is_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let me = std::process::id();
        // Someone else's socket, or another bridge's pid, under our pid's name.
        write_discovery(tmp.path(), &disc(me, "Thunderbird")).unwrap();
        assert!(list_bridges(tmp.path()).unwrap().is_empty());
        let other =
            Discovery { bridge: BridgeInfo { pid: 1, ..Default::default() }, ..disc_in(tmp.path(), me, "x") };
        fs::write(discovery_path(tmp.path(), me), serde_json::to_vec(&other).unwrap()).unwrap();
        assert!(list_bridges(tmp.path()).unwrap().is_empty());
        // A link in place of the discovery file is not read.
        let real = tmp.path().join("elsewhere.json");
        fs::write(&real, serde_json::to_vec(&disc_in(tmp.path(), me, "x")).unwrap()).unwrap();
        fs::remove_file(discovery_path(tmp.path(), me)).unwrap();
        std::os::unix::fs::symlink(&real, discovery_path(tmp.path(), me)).unwrap();
        assert!(list_bridges(tmp.path()).unwrap().is_empty());
    }

    #[test]
    fn a_runtime_folder_that_is_a_link_or_in_a_shared_folder_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        ensure_private_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = list_bridges(&link).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let shared = tmp.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
        let e = ensure_private_dir(&shared.join("tabscope")).unwrap_err();
        assert!(e.to_string().contains("which others can change"), "{e}");
        // A sticky shared folder (like /tmp) is fine: nobody can swap ours.
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        ensure_private_dir(&shared.join("tabscope")).unwrap();
    }

    #[test]
    fn with_no_runtime_folder_the_fallback_is_in_our_own_home() {
        // Read without changing the process's environment: the rule alone.
        let p = project_dirs().map(|p| p.state_dir().unwrap_or(p.data_local_dir()).join("run"));
        if let Some(p) = p {
            assert!(!p.starts_with(std::env::temp_dir()), "{}", p.display());
        }
        assert_eq!(ensure_private_dir(Path::new("")).unwrap_err().kind(), io::ErrorKind::NotFound);
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

    #[test]
    fn two_agents_in_one_browser_are_told_apart_by_extension_id() {
        let agent = |pid, ext: &str| {
            let mut d = disc(pid, "Thunderbird");
            d.bridge.extension_id = Some(ext.into());
            d
        };
        let two = vec![agent(10, "tabscope-agent@tabscope.dev"), agent(20, "mine@example.com")];
        assert_eq!(select(&two, Some("mine@example.com")).unwrap().bridge.pid, 20);
        let e = select(&two, Some("thunderbird")).unwrap_err();
        assert!(e.contains("20  Thunderbird 153.7.0  mine@example.com"), "{e}");
        // A restarted bridge is the same agent only with the same extension id.
        assert!(agent(30, "mine@example.com").same_agent(&two[1]));
        assert!(!agent(30, "mine@example.com").same_agent(&two[0]));
    }
}
