//! Logs go to stderr and to `bridge.log`, never to stdout (stdout is the
//! browser's frame stream). `TABSCOPE_LOG` sets the filter (default `info`),
//! `TABSCOPE_LOG_DIR` the folder (default: the user's state directory).

use std::fs::{self, OpenOptions};
use std::path::PathBuf;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

/// The log file grows to this size, then the old one is kept as `.1`.
const MAX_LOG: u64 = 8 * 1024 * 1024;

/// Sets up logging; returns the log file's path.
pub fn init() -> PathBuf {
    let dir = tabscope_shared::discovery::log_dir();
    let path = tabscope_shared::discovery::log_file();
    let filter = EnvFilter::try_from_env("TABSCOPE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // The log holds URLs, titles and errors of the user's browser: a
    // private folder and a private file, never opened through a link.
    let file = create_private_dir(&dir).ok().and_then(|_| {
        if fs::metadata(&path).is_ok_and(|m| m.len() > MAX_LOG) {
            let _ = fs::rename(&path, path.with_extension("log.1"));
        }
        open_private(&path)
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_target(false);
    let pid = std::process::id();
    match file {
        Some(f) => builder
            .with_writer(std::io::stderr.and(Mutex::new(f)))
            .fmt_fields(tracing_subscriber::fmt::format::DefaultFields::new())
            .with_thread_names(true)
            .init(),
        None => builder.with_writer(std::io::stderr).init(),
    }
    tracing::debug!("pid {pid} logging to {}", path.display());
    path
}

#[cfg(unix)]
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new().mode(0o700).recursive(true).create(dir)?;
    let m = fs::symlink_metadata(dir)?;
    if m.is_dir() && m.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

fn open_private(path: &std::path::Path) -> Option<fs::File> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
        let f = opts.open(path).ok()?;
        let m = f.metadata().ok()?;
        if !m.is_file() {
            return None;
        }
        if m.permissions().mode() & 0o077 != 0 {
            f.set_permissions(fs::Permissions::from_mode(0o600)).ok()?;
        }
        Some(f)
    }
    #[cfg(not(unix))]
    opts.open(path).ok()
}
