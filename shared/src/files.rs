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
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut r = Replacement::new(path)?;
    r.set_mode(mode)?;
    r.write_all(bytes)?;
    r.commit()
}

/// A file written beside `path` and put in its place only by
/// [`Replacement::commit`]: an export that fails half-way leaves the old
/// file, or none, never half a file. 0600 unless set otherwise.
pub struct Replacement {
    file: Option<File>,
    tmp: PathBuf,
    path: PathBuf,
}

impl Replacement {
    pub fn new(path: &Path) -> io::Result<Self> {
        let tmp = temp_sibling(path);
        let file = create_private(&tmp)?;
        Ok(Replacement { file: Some(file), tmp, path: path.to_owned() })
    }

    pub fn set_mode(&mut self, #[allow(unused)] mode: u32) -> io::Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            self.file()?.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    }

    fn file(&mut self) -> io::Result<&mut File> {
        self.file.as_mut().ok_or_else(|| io::Error::other("the file was already committed"))
    }

    /// Syncs the new file, renames it over `path` and syncs the folder.
    pub fn commit(mut self) -> io::Result<()> {
        let file = self.file.take().ok_or_else(|| io::Error::other("the file was already committed"))?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.tmp, &self.path)?;
        sync_dir(self.path.parent().unwrap_or(Path::new(".")))
    }
}

impl Write for Replacement {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file()?.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file()?.flush()
    }
}

impl Drop for Replacement {
    /// Not committed: the temporary file goes, `path` is untouched.
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
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

    #[test]
    fn a_replacement_not_committed_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        fs::write(&p, b"old").unwrap();
        let mut r = Replacement::new(&p).unwrap();
        r.write_all(b"half").unwrap();
        drop(r);
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let mut r = Replacement::new(&p).unwrap();
        r.write_all(b"new").unwrap();
        r.commit().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
