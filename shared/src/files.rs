//! Files that hold the user's data (traces, flight recordings, discovery
//! files, the host manifest): created private, never through a link an
//! attacker left, and durable where it matters.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Creates a new regular file, 0600, for writing. Refuses a path that
/// already exists (so nothing is truncated, and no FIFO, device or
/// `/proc/self/fd/N` is opened) and a symlink in the last component.
pub fn create_private(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    let file = opts.open(path).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} already exists: tabscope writes only new files, choose another name", path.display()),
        ),
        _ => e,
    })?;
    // create_new cannot give anything else, but say so if a platform did.
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!("{} is not a regular file", path.display())));
    }
    Ok(file)
}

/// Flushes a file's data and its directory entry to the disk: after this a
/// power cut keeps the file.
pub fn sync_file_and_dir(file: &File, path: &Path) -> io::Result<()> {
    file.sync_all()?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Makes a rename or creation in `dir` durable (no-op where directories
/// cannot be opened, as on Windows).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Replaces `path` with `bytes` atomically and durably: readers see the old
/// file or the new one, never half of one, and a crash keeps one of them.
/// The new file is 0600 unless `mode` says otherwise.
pub fn write_atomic(path: &Path, bytes: &[u8], #[allow(unused)] mode: u32) -> io::Result<()> {
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut f = create_private(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn temp_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    path.with_file_name(format!(".{name}.{}.{nanos}.tmp", std::process::id()))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn new_files_are_private_and_nothing_existing_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl");
        create_private(&p).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        // An existing file is not truncated; a symlink is not followed.
        fs::write(&p, b"keep").unwrap();
        assert!(create_private(&p).unwrap_err().to_string().contains("already exists"));
        assert_eq!(fs::read(&p).unwrap(), b"keep");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &link).unwrap();
        create_private(&link).unwrap_err();
        assert!(!dir.path().join("elsewhere").exists());
        create_private(Path::new("/dev/null")).unwrap_err();
        create_private(Path::new("/proc/self/fd/1")).unwrap_err();
    }

    #[test]
    fn atomic_writes_replace_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        write_atomic(&p, b"one", 0o644).unwrap();
        write_atomic(&p, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o644);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }
}
