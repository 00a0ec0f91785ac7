//! Subcommands about traces: record, save the flight recorder, replay,
//! statistics and export.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use tabscope_shared::client::{Session, SessionEvent};
use tabscope_shared::files::Replacement;
use tabscope_shared::protocol::{ClientMsg, ServerMsg, TraceFileStatus};
use tabscope_shared::terminal::escape;
use tabscope_shared::trace::{Stats, export_chrome};

use super::bridges::pick;

#[derive(Subcommand, Debug)]
pub enum TraceCmd {
    /// Counts per event kind, duration, rates and command round trips.
    Stats { file: PathBuf },
    /// Convert a trace for other tools.
    Export {
        #[arg(long, value_enum, default_value_t = Format::Chrome)]
        format: Format,
        file: PathBuf,
        out: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Chrome Trace Event Format: open it in https://ui.perfetto.dev or chrome://tracing.
    Chrome,
}

pub fn run(cmd: TraceCmd) -> anyhow::Result<()> {
    match cmd {
        TraceCmd::Stats { file } => {
            let f = File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
            let s = Stats::read(BufReader::with_capacity(1 << 18, f))
                .with_context(|| file.display().to_string())?;
            print!("{s}");
            Ok(())
        }
        TraceCmd::Export { format: Format::Chrome, file, out } => {
            let f = File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
            // Written beside `out` and renamed at the end: a failed export
            // leaves no half file. 0600: it holds titles and URLs.
            let mut o = Replacement::new(&out).with_context(|| format!("cannot create {}", out.display()))?;
            let done = export_chrome(BufReader::with_capacity(1 << 18, f), BufWriter::new(&mut o))
                .with_context(|| file.display().to_string())?;
            o.commit().with_context(|| format!("cannot write {}", out.display()))?;
            if let Some(w) = &done.warning {
                eprintln!("tabscope: {}", escape(w));
            }
            println!(
                "wrote {}: {} instant events, {} commands, {} names; open it in https://ui.perfetto.dev or chrome://tracing",
                out.display(),
                done.instant,
                done.complete,
                done.metadata
            );
            Ok(())
        }
    }
}

/// The bridge writes the file itself (it sees every record first hand), so
/// the path it gets must not depend on our working directory.
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    let abs = std::path::absolute(path).with_context(|| format!("bad path {}", path.display()))?;
    if let Some(dir) = abs.parent()
        && !dir.is_dir()
    {
        bail!("{} does not exist", dir.display());
    }
    Ok(abs)
}

/// The next message `want` picks out, within `timeout`; bridge errors and
/// a closed connection end the wait with a clear error.
fn wait_for<T>(
    session: &Session,
    timeout: Duration,
    want: impl Fn(ServerMsg) -> Option<T>,
) -> anyhow::Result<Option<T>> {
    let until = Instant::now() + timeout;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match session.rx.recv_timeout(left) {
            Ok(SessionEvent::Msg(m)) => {
                if let Some(x) = want(m) {
                    return Ok(Some(x));
                }
            }
            Ok(SessionEvent::Warning(w)) => eprintln!("tabscope: {}", escape(&w)),
            Ok(SessionEvent::Closed(why)) => {
                bail!("{why}; a recording holds what was written until then")
            }
            Err(_) => return Ok(None),
        }
    }
}

fn say(st: &TraceFileStatus, what: &str) -> anyhow::Result<()> {
    if let Some(e) = &st.error {
        bail!("{e}");
    }
    eprintln!("{what}: {} records ({} events) in {}", st.records, st.events, st.path.display());
    Ok(())
}

const ANSWER: Duration = Duration::from_secs(30);

/// `tabscope record --out FILE [--for 30s]`.
pub fn record(selector: Option<&str>, out: &Path, duration: Option<Duration>) -> anyhow::Result<()> {
    let path = absolute(out)?;
    let d = pick(selector)?;
    let session = Session::spawn(&d.socket, Arc::new(|| {}))?;
    let _ = session.tx.send(ClientMsg::Record { path: path.clone() });
    let started = wait_for(&session, ANSWER, |m| match m {
        ServerMsg::RecordingStarted { .. } => Some(None),
        ServerMsg::RecordingStopped(st) => Some(Some(st)),
        _ => None,
    })?
    .context("the bridge did not answer the request to record")?;
    if let Some(st) = started {
        return say(&st, "not recorded");
    }
    let stop = Arc::new(AtomicBool::new(false));
    #[cfg(unix)]
    for sig in [libc::SIGINT, libc::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let until = duration.map(|d| Instant::now() + d);
    match duration {
        Some(t) => {
            eprintln!("recording {} to {} for {}", escape(&d.browser_label()), path.display(), d_label(&t))
        }
        None => eprintln!("recording {} to {} (Ctrl-C to stop)", escape(&d.browser_label()), path.display()),
    }
    // The bridge writes; this end waits, and hears if writing fails.
    while !stop.load(Ordering::Relaxed) && until.is_none_or(|u| Instant::now() < u) {
        let failed = wait_for(&session, Duration::from_millis(100), |m| match m {
            ServerMsg::RecordingStopped(st) => Some(st),
            _ => None,
        })?;
        if let Some(st) = failed {
            return say(&st, "recording stopped");
        }
    }
    let _ = session.tx.send(ClientMsg::StopRecording);
    let st = wait_for(&session, ANSWER, |m| match m {
        ServerMsg::RecordingStopped(st) => Some(st),
        _ => None,
    })?
    .context("the bridge did not confirm the end of the recording")?;
    say(&st, "recorded")
}

fn d_label(d: &Duration) -> String {
    humantime::format_duration(*d).to_string()
}

/// `tabscope flight --out FILE`: what just happened, from the bridge's memory.
pub fn save_flight(selector: Option<&str>, out: &Path) -> anyhow::Result<()> {
    let path = absolute(out)?;
    let d = pick(selector)?;
    let session = Session::spawn(&d.socket, Arc::new(|| {}))?;
    let _ = session.tx.send(ClientMsg::SaveFlight { path });
    let st = wait_for(&session, ANSWER, |m| match m {
        ServerMsg::FlightSaved(st) => Some(st),
        _ => None,
    })?
    .context("the bridge did not answer")?;
    say(&st, "saved what just happened")
}

/// `tabscope replay FILE`: runs the bridge in replay mode in the foreground.
pub fn replay(file: &Path, speed: &str, exit_at_end: bool) -> anyhow::Result<()> {
    let bridge = super::install::default_bridge_path()?;
    let file = absolute(file)?;
    // Fail here, with the reader's words, rather than in the child.
    let f = File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
    let header = tabscope_shared::trace::TraceReader::new(BufReader::new(f))
        .with_context(|| file.display().to_string())?
        .header()
        .clone();
    let mut cmd = std::process::Command::new(bridge);
    cmd.arg("--replay").arg(&file).args(["--speed", speed]);
    if exit_at_end {
        cmd.arg("--exit-at-end");
    }
    eprintln!(
        "replaying {} ({}) at speed {speed}: it starts when an inspector connects (`tabscope`, `tabscope watch`); Ctrl-C stops",
        file.display(),
        escape(&header.browser_label())
    );
    // Killed by SIGTERM or SIGKILL, `replay` takes its bridge with it.
    tabscope_shared::child::die_with_parent(&mut cmd);
    let status = cmd.status().context("cannot start tabscope-bridge")?;
    if !status.success() {
        bail!(
            "the replaying bridge failed ({status}); its log: {}",
            tabscope_shared::discovery::log_file().display()
        );
    }
    Ok(())
}
