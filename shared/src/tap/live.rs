//! Taps running now, and their frames as they are written: each run of a
//! tapped host writes `tap-NAME-TIME-PID.jsonl` and flushes it after every
//! frame, so following the file is watching the host live.

use std::path::{Path, PathBuf};

use crate::trace::tail::Following;
use crate::trace::{Record, TraceError};

/// A tapped host running now.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RunningTap {
    pub name: String,
    pub pid: u32,
    pub trace: PathBuf,
}

/// The runs of tapped hosts whose tap process is alive, oldest first.
pub fn running(traces: &Path) -> Vec<RunningTap> {
    let mut out: Vec<(std::time::SystemTime, RunningTap)> = Vec::new();
    for e in std::fs::read_dir(traces).into_iter().flatten().flatten() {
        let path = e.path();
        let Some(file) = path.file_name().and_then(|n| n.to_str()) else { continue };
        let Some(rest) = file.strip_prefix("tap-").and_then(|r| r.strip_suffix(".jsonl")) else { continue };
        // NAME-STAMP-PID: the name may hold '-'? Host names cannot (letters, digits, _ and .).
        let mut parts = rest.rsplitn(3, '-');
        let (Some(pid), Some(_stamp), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if !crate::discovery::pid_alive(pid) {
            continue;
        }
        let when = e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
        out.push((when, RunningTap { name: name.to_owned(), pid, trace: path }));
    }
    out.sort_by_key(|(when, _)| *when);
    out.into_iter().map(|(_, t)| t).collect()
}

/// Calls `each` with every record of `path` as it is written, until the
/// tap process `pid` has ended and the file is read to its end, or `each`
/// returns false. Read as the inspector follows a tap
/// ([`crate::trace::tail::Following`]: whole lines only, the header waited for).
pub fn follow(path: &Path, pid: u32, mut each: impl FnMut(Record) -> bool) -> Result<(), TraceError> {
    let alive = || crate::discovery::pid_alive(pid);
    let (mut reader, following) = Following::open(path, &alive)?;
    loop {
        match reader.next() {
            Some(Ok(record)) => {
                if !each(record) {
                    return Ok(());
                }
            }
            Some(Err(e)) => return Err(e),
            None if following.wait() => {}
            None => return Ok(()),
        }
    }
}
