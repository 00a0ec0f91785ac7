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
    let file = fs::create_dir_all(&dir).ok().and_then(|_| {
        if fs::metadata(&path).is_ok_and(|m| m.len() > MAX_LOG) {
            let _ = fs::rename(&path, path.with_extension("log.1"));
        }
        OpenOptions::new().create(true).append(true).open(&path).ok()
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
