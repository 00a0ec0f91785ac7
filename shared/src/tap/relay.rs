//! The tap itself: started by the browser in the host's place, it starts
//! the real host with the same arguments, environment and working folder,
//! and passes every byte both ways unchanged, each read written on at once.
//! Copies of the bytes go to frame scanners on the side, whose frames, the
//! host's stderr lines, its exit and what looks wrong become a trace.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};

use crate::codec::{BROWSER_MAX_INCOMING, FrameScanner, Scanned};
use crate::protocol::LogLevel;
use crate::trace::{Direction, Frame, Record, Source, TraceHeader, TraceWriter};

/// Frames the browser may send a host (Gecko: 4 GiB; Chrome: 4 GiB) are
/// scanned up to this size; a bigger one ends the scanning, not the relay.
const SCAN_MAX: usize = 64 << 20;
/// Browser-to-host sizes where browsers are known to fail on the way.
const TO_HOST_WARN: u64 = 64 << 20;
/// A host silent this long after a message is reported once.
const SILENCE: Duration = Duration::from_secs(5);
/// Records waiting for the writer; beyond, they are counted as a gap
/// rather than slowing the relay.
const QUEUE: usize = 4096;

/// What the relay writes down.
struct Recorder {
    tx: Sender<Record>,
    start: Instant,
    dropped: Arc<AtomicU64>,
}

impl Recorder {
    fn t(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn send(&self, r: Record) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(r) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn error(&self, message: String) {
        self.send(Record::Error { t: self.t(), message });
    }

    fn log(&self, message: String) {
        self.send(Record::Log { t: self.t(), level: LogLevel::Info, message });
    }
}

/// The trace file of one run of the host: `tap-<name>-<time>-<pid>.jsonl`.
pub fn trace_path(traces: &Path, name: &str) -> PathBuf {
    let stamp =
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string().replace([':', '-'], "");
    traces.join(format!("tap-{name}-{stamp}-{}.jsonl", std::process::id()))
}

/// Runs `program` with `args` between our stdio and it; returns its exit
/// code. The trace goes to `trace` (created new, 0600).
pub fn run(name: &str, program: &Path, args: &[OsString], trace: &Path) -> io::Result<i32> {
    let file = crate::files::create_private(trace)?;
    let (tx, rx) = crossbeam_channel::bounded::<Record>(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let wall = crate::now_ms();
    let writer = thread::spawn({
        let dropped = dropped.clone();
        move || write_trace(file, rx, wall, dropped)
    });
    let rec = Arc::new(Recorder { tx, start, dropped });
    rec.log(format!("tap of {name}: starting {} {:?}", program.display(), args));

    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            rec.error(format!("the host {} did not start: {e}", program.display()));
            drop(rec);
            let _ = writer.join();
            return Err(e);
        }
    };
    let last_to_host = Arc::new(AtomicU64::new(0));
    let last_to_browser = Arc::new(AtomicU64::new(0));

    let mut host_in = child.stdin.take().expect("piped");
    let to_host = {
        let rec = rec.clone();
        let last = last_to_host.clone();
        thread::spawn(move || {
            let mut scan = FrameScanner::new(SCAN_MAX);
            pump(io::stdin().lock(), &mut host_in, |bytes| {
                for s in scan.push(bytes) {
                    last.store(rec.t().max(1), Ordering::Relaxed);
                    frame(&rec, Direction::ToHost, s);
                }
            });
            rec.log("the browser closed the host's stdin (it disconnected the port)".into());
        })
    };
    let host_out = child.stdout.take().expect("piped");
    let to_browser = {
        let rec = rec.clone();
        let last = last_to_browser.clone();
        thread::spawn(move || {
            let mut scan = FrameScanner::new(SCAN_MAX);
            let stdout = io::stdout();
            pump(host_out, &mut stdout.lock(), |bytes| {
                for s in scan.push(bytes) {
                    last.store(rec.t().max(1), Ordering::Relaxed);
                    frame(&rec, Direction::ToBrowser, s);
                }
            });
            if scan.pending() > 0 {
                rec.error(format!(
                    "the host closed its stdout inside a frame ({} bytes of it sent): the browser never gets that message",
                    scan.pending()
                ));
            }
            rec.log("the host closed its stdout".into());
        })
    };
    let stderr = child.stderr.take().expect("piped");
    let errors = {
        let rec = rec.clone();
        thread::spawn(move || {
            let mut err = io::stderr();
            let mut lines = BufReader::new(stderr);
            let mut line = Vec::new();
            while lines.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                // Passed on as the browser would have had it (its console or log).
                let _ = err.write_all(&line);
                let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                rec.send(Record::Log {
                    t: rec.t(),
                    level: LogLevel::Warn,
                    message: format!("host stderr: {text}"),
                });
                line.clear();
            }
        })
    };
    let watchdog = {
        let rec = Arc::downgrade(&rec);
        thread::spawn(move || silence_watch(rec, last_to_host, last_to_browser))
    };

    let status = child.wait()?;
    let _ = to_browser.join();
    let _ = errors.join();
    let code = status.code().unwrap_or(1);
    let how = match status.code() {
        Some(0) => "the host exited (status 0)".to_owned(),
        Some(c) => format!("the host exited with status {c}"),
        None => format!("the host was killed ({status})"),
    };
    if status.success() {
        rec.log(how)
    } else {
        rec.error(how)
    }
    // The browser-side reader may be blocked on our stdin: not waited for.
    drop(to_host);
    drop(watchdog);
    drop(rec);
    let _ = writer.join();
    Ok(code)
}

/// Copies `from` to `to`, every read written and flushed at once; `seen`
/// gets a view of each piece after it is on its way.
fn pump(mut from: impl Read, to: &mut impl Write, mut seen: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        if to.write_all(&buf[..n]).and_then(|_| to.flush()).is_err() {
            return;
        }
        seen(&buf[..n]);
    }
}

fn frame(rec: &Recorder, dir: Direction, s: Scanned) {
    let t = rec.t();
    match s {
        Scanned::Frame(bytes) => {
            let size = bytes.len() as u64;
            let json = serde_json::from_slice(&bytes).ok();
            if json.is_none() {
                rec.error(format!(
                    "a {size}-byte frame {} that is not JSON: the browser refuses it",
                    if dir == Direction::ToBrowser { "from the host" } else { "to the host" }
                ));
            }
            if dir == Direction::ToBrowser && size > BROWSER_MAX_INCOMING as u64 {
                rec.error(format!(
                    "the host sent a {size}-byte message: browsers take at most {BROWSER_MAX_INCOMING} bytes from a host, \
                     and drop the port"
                ));
            }
            if dir == Direction::ToHost && size > TO_HOST_WARN {
                rec.error(format!("a {size}-byte message to the host: browsers are known to fail at such sizes"));
            }
            rec.send(Record::Frame { t, frame: Frame { dir, size, json } });
        }
        Scanned::Lost(why) => rec.error(match dir {
            Direction::ToBrowser => format!(
                "the host's stdout is no longer frames: {why}. The browser disconnects the port; whatever the host \
                 prints must go to stderr"
            ),
            Direction::ToHost => format!("the browser's bytes are no longer frames: {why}"),
        }),
    }
}

/// Reports a host that has not answered a message for [`SILENCE`], once.
fn silence_watch(rec: std::sync::Weak<Recorder>, to_host: Arc<AtomicU64>, to_browser: Arc<AtomicU64>) {
    let mut reported = 0;
    loop {
        thread::sleep(Duration::from_millis(250));
        let Some(rec) = rec.upgrade() else { return };
        let asked = to_host.load(Ordering::Relaxed);
        let answered = to_browser.load(Ordering::Relaxed);
        if asked > answered && asked != reported && rec.t().saturating_sub(asked) > SILENCE.as_micros() as u64
        {
            reported = asked;
            rec.error(format!(
                "the host has not answered for {} s since the browser's last message",
                SILENCE.as_secs()
            ));
        }
    }
}

fn write_trace(file: File, rx: crossbeam_channel::Receiver<Record>, wall: f64, dropped: Arc<AtomicU64>) {
    let mut w = TraceWriter::new(file);
    let _ = w.write(&Record::Header(Box::new(TraceHeader::new(Source::Tap, wall, 0))));
    // At once: a reader that finds the running tap finds a trace, not an empty file.
    let _ = w.flush();
    let mut lost = 0;
    for r in rx {
        let now = dropped.load(Ordering::Relaxed);
        if now > lost {
            let _ = w.write(&Record::Gap { t: r.t(), dropped: now - lost });
            lost = now;
        }
        let _ = w.write(&r);
        if worth_flushing(&r) {
            let _ = w.flush();
        }
    }
    let _ = w.flush();
}

/// Flushing after frames and errors keeps the trace useful while the host
/// runs (it can be opened live) without a flush per stderr line.
fn worth_flushing(r: &Record) -> bool {
    matches!(r, Record::Frame { .. } | Record::Error { .. })
}
