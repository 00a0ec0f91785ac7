//! Whether a browser has a profile open. A running Firefox or Thunderbird
//! rewrites its session files on its own schedule and on quit, so an
//! offline edit made meanwhile would be lost, or worse, half-lost.
//!
//! Both browsers lock the profile the same way (nsProfileLock): on Unix an
//! fcntl lock on `.parentlock` plus a `lock` symlink to `host:+pid`; on
//! Windows `parent.lock` held open without sharing.

use std::path::Path;

/// Why the profile is in use, or `None` when no browser holds it.
pub fn in_use(profile: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        if let Some(pid) = fcntl_holder(&profile.join(".parentlock")) {
            return Some(format!("a browser (process {pid}) has this profile open: quit it first"));
        }
        // An old-style lock without the fcntl one (e.g. a network file system).
        if let Some(pid) = symlink_holder(&profile.join("lock")) {
            return Some(format!("a browser (process {pid}) holds this profile's lock: quit it first"));
        }
        None
    }
    #[cfg(windows)]
    {
        let lock = profile.join("parent.lock");
        // The browser keeps it open with no sharing: a second open fails.
        match std::fs::OpenOptions::new().write(true).open(&lock) {
            Err(e) if lock.exists() && e.raw_os_error() == Some(32) => {
                Some("a browser has this profile open (parent.lock is held): quit it first".into())
            }
            _ => None,
        }
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = profile;
        None
    }
}

/// The pid holding an fcntl lock on `path`, asked without taking the lock.
#[cfg(unix)]
fn fcntl_holder(path: &Path) -> Option<i32> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: a zeroed flock is a valid value; F_GETLK only fills it in.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    // SAFETY: a valid open fd and a pointer to a live flock.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut fl) };
    // l_type and F_UNLCK are both shorts on macOS, a short and an int on
    // Linux: one of these casts is always a no-op, which one depends on the OS.
    #[allow(clippy::unnecessary_cast)]
    let unlocked = fl.l_type as i32 == libc::F_UNLCK as i32;
    (r == 0 && !unlocked).then_some(fl.l_pid)
}

/// The live pid a `lock` symlink (`host:+pid`) names. A dead one is a
/// crash's leftover: the browser itself ignores it.
#[cfg(unix)]
fn symlink_holder(path: &Path) -> Option<u32> {
    let target = std::fs::read_link(path).ok()?;
    let pid: u32 = target.to_str()?.rsplit_once(":+")?.1.parse().ok()?;
    crate::discovery::pid_alive(pid).then_some(pid)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_held_fcntl_lock_or_a_live_lock_link_is_in_use_and_a_stale_link_is_not() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(in_use(dir.path()), None);
        // A crash leaves the link behind with a dead pid.
        std::os::unix::fs::symlink("127.0.0.1:+999999999", dir.path().join("lock")).unwrap();
        assert_eq!(in_use(dir.path()), None);
        // A lock held by another process (a child: fcntl locks are per process).
        std::fs::write(dir.path().join(".parentlock"), b"").unwrap();
        let script = format!(
            "import fcntl,time,sys; f=open('{}','w'); fcntl.lockf(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)",
            dir.path().join(".parentlock").display()
        );
        let mut child = std::process::Command::new("python3")
            .args(["-c", &script])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 holds the lock");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line)
            .unwrap();
        let said = in_use(dir.path());
        let _ = child.kill();
        let _ = child.wait();
        let said = said.expect("in use while the lock is held");
        assert!(said.contains(&format!("process {}", child.id())), "{said}");
        assert_eq!(in_use(dir.path()), None, "free once the holder is gone");
    }
}
