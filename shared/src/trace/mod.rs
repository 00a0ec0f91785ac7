//! Event traces: JSON lines, a header first, then the initial snapshot, then
//! one record per event, command, reply, error and log line, each stamped
//! with the recording clock in microseconds. See `docs/trace-format.md`.
//!
//! Every line has the same shape, `{"kind":K,"t":µs,K:payload}`, so a line
//! is read in one pass without buffering (serde's internally tagged enums
//! would parse every event twice).

mod chrome;
mod chunked;
mod diff;
pub(crate) mod index;
pub(crate) mod item;
mod stats;
pub mod tail;

use std::io::{self, BufRead, BufWriter, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use chrome::{Exported, export_chrome};
pub use chunked::Chunked;
pub use diff::{Change, diff};
pub use index::{Lane, LaneKey, Mark, MarkKind, Partial, TraceIndex};
pub use item::{EventArgs, Item, TypedEvent};
pub use stats::Stats;

use crate::protocol::{AgentHello, AgentMsg, BridgeInfo, Command, EventRecord, LogLevel, Reply, Snapshot};

pub const FORMAT: &str = "tabscope-trace";
/// The newest version this build reads and writes: 2 added `frame` records,
/// which only tap traces carry; every other trace is written as version 1,
/// so that older readers still read it.
pub const VERSION: u32 = 2;

/// Who wrote a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The bridge, for `TABSCOPE_TRACE` or `launch --record`.
    Bridge,
    /// The bridge, for an inspector's or `tabscope record`'s request.
    Recording,
    /// The bridge's flight recorder: what happened just before it was saved.
    FlightRecorder,
    /// Written by a program (tests, generators).
    Synthetic,
    /// `tabscope tap`: the frames between a browser and a native host.
    Tap,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Bridge => "whole-session trace",
            Source::Recording => "recording",
            Source::FlightRecorder => "flight recorder",
            Source::Synthetic => "synthetic",
            Source::Tap => "native-messaging tap",
        })
    }
}

/// The first line of every trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceHeader {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] when written; a reader refuses newer major versions.
    pub version: u32,
    pub source: Source,
    /// Wall clock at `t = 0` (when the bridge started), ms since the epoch.
    pub started_wall: f64,
    /// `t` when this trace began. Every `t` is the bridge's monotonic clock,
    /// so traces of one bridge (a recording, a flight-recorder save) line up.
    pub started_mono: Micros,
    /// The agent's hello (browser, version, extension id, capabilities),
    /// when the agent had said it by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentHello>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<BridgeInfo>,
}

impl TraceHeader {
    pub fn new(source: Source, started_wall: f64, started_mono: u64) -> Self {
        Self {
            format: FORMAT.into(),
            version: if source == Source::Tap { VERSION } else { 1 },
            source,
            started_wall,
            started_mono,
            agent: None,
            bridge: None,
        }
    }

    /// "Thunderbird 153.7.0esr", or what is known.
    pub fn browser_label(&self) -> String {
        self.agent
            .as_ref()
            .map(|a| format!("{} {}", a.browser.name, a.browser.version))
            .unwrap_or_else(|| "unknown browser".into())
    }
}

/// Microseconds on the bridge's monotonic clock, since the bridge started.
pub type Micros = u64;

/// One line of a trace.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Header(Box<TraceHeader>),
    /// The whole world: the first record after the header, and again
    /// whenever the agent re-snapshots (a window opened, a resync).
    Snapshot {
        t: Micros,
        snapshot: Snapshot,
    },
    /// A browser event; `event.time` is the browser's own clock.
    Event {
        t: Micros,
        event: EventRecord,
    },
    /// A command sent to the browser (with the bridge's id).
    Command {
        t: Micros,
        command: Command,
    },
    /// The browser's reply to the command with the same id.
    Reply {
        t: Micros,
        reply: Reply,
    },
    /// A message from the browser the bridge could not use.
    Error {
        t: Micros,
        message: String,
    },
    /// The agent's own log line.
    Log {
        t: Micros,
        level: LogLevel,
        message: String,
    },
    /// The agent said hello again (it reconnected or its capabilities changed).
    Hello {
        t: Micros,
        agent: Box<AgentHello>,
    },
    /// Records were lost here (a recorder fell behind); a snapshot follows.
    Gap {
        t: Micros,
        dropped: u64,
    },
    /// `tabscope tap`: one native-messaging frame between a browser and a host.
    Frame {
        t: Micros,
        frame: Frame,
    },
}

/// Which way a tapped frame went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// Browser to host (the host's stdin).
    ToHost,
    /// Host to browser (the host's stdout).
    ToBrowser,
}

impl Direction {
    pub fn label(self) -> &'static str {
        match self {
            Direction::ToHost => "to host",
            Direction::ToBrowser => "to browser",
        }
    }
}

/// A tapped frame: its size, and its message where it is JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub dir: Direction,
    /// The payload's bytes (without the 4-byte length).
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
}

impl Record {
    pub fn t(&self) -> Micros {
        match self {
            Record::Header(_) => 0,
            Record::Snapshot { t, .. }
            | Record::Event { t, .. }
            | Record::Command { t, .. }
            | Record::Reply { t, .. }
            | Record::Error { t, .. }
            | Record::Log { t, .. }
            | Record::Hello { t, .. }
            | Record::Gap { t, .. }
            | Record::Frame { t, .. } => *t,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Record::Header(_) => "header",
            Record::Snapshot { .. } => "snapshot",
            Record::Event { .. } => "event",
            Record::Command { .. } => "command",
            Record::Reply { .. } => "reply",
            Record::Error { .. } => "error",
            Record::Log { .. } => "log",
            Record::Hello { .. } => "hello",
            Record::Gap { .. } => "gap",
            Record::Frame { .. } => "frame",
        }
    }

    /// What the agent sent, as a record at `t`.
    pub fn from_agent(t: Micros, msg: AgentMsg) -> Record {
        match msg {
            AgentMsg::Hello(agent) => Record::Hello { t, agent: Box::new(agent) },
            AgentMsg::Snapshot(snapshot) => Record::Snapshot { t, snapshot },
            AgentMsg::Event(event) => Record::Event { t, event },
            AgentMsg::Reply(reply) => Record::Reply { t, reply },
            AgentMsg::Log { level, message } => Record::Log { t, level, message },
        }
    }

    /// The agent's message this record holds, if it holds one.
    pub fn into_agent(self) -> Option<AgentMsg> {
        match self {
            Record::Hello { agent, .. } => Some(AgentMsg::Hello(*agent)),
            Record::Snapshot { snapshot, .. } => Some(AgentMsg::Snapshot(snapshot)),
            Record::Event { event, .. } => Some(AgentMsg::Event(event)),
            Record::Reply { reply, .. } => Some(AgentMsg::Reply(reply)),
            Record::Log { level, message, .. } => Some(AgentMsg::Log { level, message }),
            Record::Header(_)
            | Record::Command { .. }
            | Record::Error { .. }
            | Record::Gap { .. }
            | Record::Frame { .. } => None,
        }
    }

    /// One JSON line, without the newline.
    pub fn to_line(&self) -> Vec<u8> {
        serde_json::to_vec(&WireRef::from(self)).expect("records always serialise")
    }

    /// Appends the line of an event record whose event is already
    /// serialised: the bytes [`Record::to_line`] makes, without serialising
    /// the event again (the bridge sends the same bytes to inspectors).
    pub fn write_event_line(out: &mut Vec<u8>, t: Micros, event_json: &[u8]) {
        crate::protocol::write_event_object(out, br#"{"kind":"event","t":"#, &t, event_json)
    }

    /// Parses one line (without its newline).
    pub fn from_line(line: &[u8]) -> Result<Record, String> {
        let wire: Wire = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        wire.into_record()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireKind {
    Header,
    Snapshot,
    Event,
    Command,
    Reply,
    Error,
    Log,
    Hello,
    Gap,
    Frame,
}

/// The line as it is on disk: the kind, the time, and the one payload field
/// named after the kind.
#[derive(Deserialize)]
struct Wire {
    kind: WireKind,
    #[serde(default)]
    t: Option<Micros>,
    #[serde(default)]
    header: Option<Box<TraceHeader>>,
    #[serde(default)]
    snapshot: Option<Snapshot>,
    #[serde(default)]
    event: Option<EventRecord>,
    #[serde(default)]
    command: Option<Command>,
    #[serde(default)]
    reply: Option<Reply>,
    #[serde(default)]
    level: Option<LogLevel>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    agent: Option<Box<AgentHello>>,
    #[serde(default)]
    dropped: Option<u64>,
    #[serde(default)]
    frame: Option<Frame>,
}

impl Wire {
    fn into_record(self) -> Result<Record, String> {
        let kind = self.kind;
        let missing = |field: &str| format!("a {kind:?} record without its \"{field}\" field").to_lowercase();
        let t = match (kind, self.t) {
            (WireKind::Header, _) => 0,
            (_, Some(t)) => t,
            (_, None) => return Err(missing("t")),
        };
        Ok(match kind {
            WireKind::Header => Record::Header(self.header.ok_or_else(|| missing("header"))?),
            WireKind::Snapshot => {
                Record::Snapshot { t, snapshot: self.snapshot.ok_or_else(|| missing("snapshot"))? }
            }
            WireKind::Event => Record::Event { t, event: self.event.ok_or_else(|| missing("event"))? },
            WireKind::Command => {
                Record::Command { t, command: self.command.ok_or_else(|| missing("command"))? }
            }
            WireKind::Reply => Record::Reply { t, reply: self.reply.ok_or_else(|| missing("reply"))? },
            WireKind::Error => Record::Error { t, message: self.message.ok_or_else(|| missing("message"))? },
            WireKind::Log => Record::Log {
                t,
                level: self.level.ok_or_else(|| missing("level"))?,
                message: self.message.ok_or_else(|| missing("message"))?,
            },
            WireKind::Hello => Record::Hello { t, agent: self.agent.ok_or_else(|| missing("agent"))? },
            WireKind::Gap => Record::Gap { t, dropped: self.dropped.ok_or_else(|| missing("dropped"))? },
            WireKind::Frame => Record::Frame { t, frame: self.frame.ok_or_else(|| missing("frame"))? },
        })
    }
}

/// The same shape for writing, borrowing the record: encoding never clones
/// an event or a snapshot.
#[derive(Serialize)]
struct WireRef<'a> {
    kind: WireKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    t: Option<Micros>,
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<&'a TraceHeader>,
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot: Option<&'a Snapshot>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'a EventRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<&'a Command>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply: Option<&'a Reply>,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<LogLevel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<&'a AgentHello>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dropped: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frame: Option<&'a Frame>,
}

impl<'a> From<&'a Record> for WireRef<'a> {
    fn from(r: &'a Record) -> Self {
        let mut w = WireRef {
            kind: WireKind::Header,
            t: Some(r.t()),
            header: None,
            snapshot: None,
            event: None,
            command: None,
            reply: None,
            level: None,
            message: None,
            agent: None,
            dropped: None,
            frame: None,
        };
        match r {
            Record::Header(h) => {
                w.t = None;
                w.header = Some(h);
            }
            Record::Snapshot { snapshot, .. } => (w.kind, w.snapshot) = (WireKind::Snapshot, Some(snapshot)),
            Record::Event { event, .. } => (w.kind, w.event) = (WireKind::Event, Some(event)),
            Record::Command { command, .. } => (w.kind, w.command) = (WireKind::Command, Some(command)),
            Record::Reply { reply, .. } => (w.kind, w.reply) = (WireKind::Reply, Some(reply)),
            Record::Error { message, .. } => (w.kind, w.message) = (WireKind::Error, Some(message.as_str())),
            Record::Log { level, message, .. } => {
                (w.kind, w.level, w.message) = (WireKind::Log, Some(*level), Some(message.as_str()))
            }
            Record::Hello { agent, .. } => (w.kind, w.agent) = (WireKind::Hello, Some(&**agent)),
            Record::Gap { dropped, .. } => (w.kind, w.dropped) = (WireKind::Gap, Some(*dropped)),
            Record::Frame { frame, .. } => (w.kind, w.frame) = (WireKind::Frame, Some(frame)),
        }
        w
    }
}

/// Writes records, one a line, to anything. The header must come first;
/// [`TraceWriter::write_line`] takes lines already encoded (the bridge
/// encodes a record once for all its sinks).
pub struct TraceWriter<W: Write> {
    out: BufWriter<W>,
    records: u64,
    events: u64,
    /// Records and events handed to the file by the last successful flush:
    /// what a status may claim after a failure (a full disk), not more.
    flushed: (u64, u64),
}

impl<W: Write> TraceWriter<W> {
    pub fn new(out: W) -> Self {
        Self { out: BufWriter::with_capacity(1 << 16, out), records: 0, events: 0, flushed: (0, 0) }
    }

    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        self.write_line(&record.to_line(), matches!(record, Record::Event { .. }))
    }

    pub fn write_line(&mut self, line: &[u8], is_event: bool) -> io::Result<()> {
        self.out.write_all(line)?;
        self.out.write_all(b"\n")?;
        self.records += 1;
        self.events += u64::from(is_event);
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.flushed = (self.records, self.events);
        Ok(())
    }

    /// Records and events that reached the file (the header included) as of
    /// the last successful flush.
    pub fn flushed(&self) -> (u64, u64) {
        self.flushed
    }

    pub fn get_ref(&self) -> &W {
        self.out.get_ref()
    }

    /// Records taken so far (the header included), some perhaps still buffered.
    pub fn records(&self) -> u64 {
        self.records
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn into_inner(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

#[derive(Debug, Error)]
pub enum TraceError {
    #[error("i/o error reading the trace: {0}")]
    Io(#[from] io::Error),
    #[error("line {line}: not a trace record: {message}")]
    Corrupt { line: u64, message: String },
    #[error("not a tabscope trace: {0}")]
    NotATrace(String),
    #[error(
        "line {line} is longer than {max} bytes, more than any record tabscope writes: the file is damaged or not a trace"
    )]
    LineTooLong { line: u64, max: usize },
}

/// The longest line a reader takes. The largest record is a snapshot, and
/// the bridge takes no message over 64 MiB; without a cap a 1.5 GiB line
/// cost 1.5 GiB of memory in every reader (stats, open, replay, export).
pub const MAX_LINE: usize = 128 << 20;

/// Reads records lazily: a million-event trace streams in constant memory.
/// A cut last line (a killed recorder) ends the trace with a warning; a bad
/// line anywhere else is an error naming it.
pub struct TraceReader<R> {
    input: R,
    max_line: usize,
    line: u64,
    /// Bytes consumed so far, for progress and for indexes.
    offset: u64,
    buf: Vec<u8>,
    warning: Option<String>,
    header: Option<TraceHeader>,
}

impl<R: BufRead> TraceReader<R> {
    /// Reads the header; fails unless the input is a tabscope trace this
    /// version can read.
    pub fn new(input: R) -> Result<Self, TraceError> {
        Self::with_max_line(input, MAX_LINE)
    }

    /// A reader that refuses lines over `max_line` bytes.
    pub fn with_max_line(input: R, max_line: usize) -> Result<Self, TraceError> {
        let mut r =
            Self { input, max_line, line: 0, offset: 0, buf: Vec::new(), warning: None, header: None };
        match r.next_record()? {
            Some(Record::Header(h)) => {
                if h.format != FORMAT {
                    return Err(TraceError::NotATrace(format!("the header says format {:?}", h.format)));
                }
                if h.version > VERSION {
                    return Err(TraceError::NotATrace(format!(
                        "format version {} is newer than this tabscope reads ({VERSION}); update tabscope",
                        h.version
                    )));
                }
                r.header = Some(*h);
                Ok(r)
            }
            Some(other) => Err(TraceError::NotATrace(format!(
                "line 1 is a {} record, not the header a trace starts with",
                other.kind()
            ))),
            None => Err(TraceError::NotATrace(
                r.warning.take().unwrap_or_else(|| "the file is empty".into()).to_string(),
            )),
        }
    }

    pub fn header(&self) -> &TraceHeader {
        self.header.as_ref().expect("read in new")
    }

    /// Set when the last line was cut off (a killed recorder): every record
    /// before it is good.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// Bytes of the file read so far: the offset of the next record.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn next_record(&mut self) -> Result<Option<Record>, TraceError> {
        if !self.read_line()? {
            return Ok(None);
        }
        self.parse_buf(Record::from_line)
    }

    /// The next record as the index reads it ([`Item`]).
    pub fn next_item(&mut self) -> Result<Option<Item>, TraceError> {
        if !self.read_line()? {
            return Ok(None);
        }
        self.parse_buf(Item::from_line)
    }

    /// As [`next_item`](Self::next_item), but a whole line that `parse_here`
    /// declines is handed over unparsed, for another thread to read as
    /// `next_item` would have.
    pub fn next_item_or_line(
        &mut self,
        parse_here: impl Fn(&[u8]) -> bool,
    ) -> Result<Option<ItemOrLine>, TraceError> {
        if !self.read_line()? {
            return Ok(None);
        }
        let text = trim_line(&self.buf);
        // A cut-off line is parsed here, where the warning for it is made.
        if self.buf.ends_with(b"\n") && !parse_here(text) {
            return Ok(Some(ItemOrLine::Line(RawLine { text: text.into(), line: self.line })));
        }
        Ok(self.parse_buf(Item::from_line)?.map(ItemOrLine::Item))
    }

    /// Reads the next non-empty line into `buf`; false at the end.
    fn read_line(&mut self) -> Result<bool, TraceError> {
        loop {
            self.buf.clear();
            let n = self.read_capped()?;
            if n == 0 {
                return Ok(false);
            }
            self.offset += n as u64;
            self.line += 1;
            if !trim_line(&self.buf).is_empty() {
                return Ok(true);
            }
        }
    }

    /// `read_until(b'\n')` that stops with an error, holding no more than
    /// the cap, when a line is longer than `max_line`.
    fn read_capped(&mut self) -> Result<usize, TraceError> {
        let mut n = 0;
        loop {
            let avail = match self.input.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if avail.is_empty() {
                return Ok(n);
            }
            let (take, done) = match memchr::memchr(b'\n', avail) {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            if self.buf.len() + take > self.max_line {
                self.buf = Vec::new();
                return Err(TraceError::LineTooLong { line: self.line + 1, max: self.max_line });
            }
            self.buf.extend_from_slice(&avail[..take]);
            self.input.consume(take);
            n += take;
            if done {
                return Ok(n);
            }
        }
    }

    fn parse_buf<T>(&mut self, parse: fn(&[u8]) -> Result<T, String>) -> Result<Option<T>, TraceError> {
        let complete = self.buf.ends_with(b"\n");
        let text = trim_line(&self.buf);
        match parse(text) {
            Ok(r) => Ok(Some(r)),
            Err(_) if !complete => {
                self.warning = Some(format!(
                    "line {}: the last line is cut off ({} bytes) and was skipped; the recorder was probably killed",
                    self.line,
                    text.len()
                ));
                Ok(None)
            }
            Err(message) => Err(TraceError::Corrupt { line: self.line, message }),
        }
    }
}

/// What [`TraceReader::next_item_or_line`] read.
pub enum ItemOrLine {
    Item(Item),
    Line(RawLine),
}

/// A whole line of a trace, not yet parsed.
pub struct RawLine {
    /// Without its line end.
    pub text: Box<[u8]>,
    /// Its number in the file, from 1.
    line: u64,
}

impl RawLine {
    /// The record, or the error [`TraceReader::next_item`] gives for it.
    pub fn item(&self) -> Result<Item, TraceError> {
        Item::from_line(&self.text).map_err(|message| TraceError::Corrupt { line: self.line, message })
    }
}

pub(crate) fn trim_line(buf: &[u8]) -> &[u8] {
    let mut s = buf;
    while let [rest @ .., b'\n' | b'\r' | b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<Record, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// A whole trace read into memory: for tests and small files. The inspector
/// uses [`TraceIndex`], which keeps only an index.
#[derive(Debug)]
pub struct Trace {
    pub header: TraceHeader,
    pub records: Vec<Record>,
    pub warning: Option<String>,
}

pub fn read_all(input: impl BufRead) -> Result<Trace, TraceError> {
    let mut reader = TraceReader::new(input)?;
    let records = reader.by_ref().collect::<Result<Vec<_>, _>>()?;
    Ok(Trace { header: reader.header().clone(), records, warning: reader.warning })
}

pub fn read_file(path: &std::path::Path) -> Result<Trace, TraceError> {
    let f = std::fs::File::open(path)?;
    read_all(io::BufReader::new(f))
}

/// A trace file being written: where, and how far.
pub struct TraceFile {
    pub path: PathBuf,
    pub writer: TraceWriter<std::fs::File>,
}

impl TraceFile {
    /// A new file: 0600 (a trace holds every URL, title and session value),
    /// never an existing path, a symlink, a FIFO or a device.
    pub fn create(path: PathBuf) -> io::Result<Self> {
        let f = crate::files::create_private(&path)?;
        Ok(Self { path, writer: TraceWriter::new(f) })
    }

    /// Flushes and makes the file durable (data and directory entry).
    pub fn finish(&mut self) -> io::Result<()> {
        self.writer.flush()?;
        crate::files::sync_file_and_dir(self.writer.get_ref(), &self.path)
    }
}

/// `TABSCOPE_TRACE_DIR`, else `traces` in the user's data folder.
pub fn default_dir() -> std::path::PathBuf {
    if let Some(d) = std::env::var_os("TABSCOPE_TRACE_DIR").filter(|d| !d.is_empty()) {
        return d.into();
    }
    directories::ProjectDirs::from("dev", "tabscope", "tabscope")
        .map(|d| d.data_dir().join("traces"))
        .unwrap_or_else(|| std::env::temp_dir().join("tabscope-traces"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_line_over_the_cap_is_refused_without_holding_it() {
        let mut bytes = written(&[header(), event(1, 1)]);
        bytes.extend(vec![b'x'; 10_000]);
        bytes.extend(b"\n");
        let mut r = TraceReader::with_max_line(&bytes[..], 1000).unwrap();
        assert_eq!(r.next().unwrap().unwrap(), event(1, 1));
        let e = r.next().unwrap().unwrap_err();
        assert!(matches!(e, TraceError::LineTooLong { line: 3, max: 1000 }), "{e}");
        assert!(r.buf.capacity() <= 1000 + (1 << 13), "held {} bytes", r.buf.capacity());
    }

    pub fn header() -> Record {
        Record::Header(Box::new(TraceHeader::new(Source::Synthetic, 1_700_000_000_000.0, 5)))
    }

    pub fn event(t: Micros, seq: u64) -> Record {
        Record::Event {
            t,
            event: EventRecord {
                seq,
                time: 1_700_000_000_000.0 + t as f64 / 1000.0,
                name: "tabs.onActivated".into(),
                args: vec![json!({"tabId": 1, "windowId": 1})],
            },
        }
    }

    pub fn written(records: &[Record]) -> Vec<u8> {
        let mut w = TraceWriter::new(Vec::new());
        for r in records {
            w.write(r).unwrap();
        }
        assert_eq!(w.records(), records.len() as u64);
        w.into_inner().unwrap()
    }

    #[test]
    fn an_event_line_from_its_serialised_event_is_the_same_line() {
        let Record::Event { event, .. } = event(1234, 7) else { unreachable!() };
        let record = Record::Event { t: 1234, event: event.clone() };
        // Appended: what the buffer held stays (the bridge reuses its buffers).
        let mut line = b"kept".to_vec();
        Record::write_event_line(&mut line, 1234, &serde_json::to_vec(&event).unwrap());
        assert_eq!(line, [&b"kept"[..], &record.to_line()].concat());
        let msg = crate::protocol::ServerMsg::Event { received: 1.7637e12 + 0.25, event: event.clone() };
        assert_eq!(
            crate::protocol::ServerMsg::event_payload(1.7637e12 + 0.25, &serde_json::to_vec(&event).unwrap()),
            crate::codec::encode(&msg).unwrap()
        );
    }

    #[test]
    fn every_kind_round_trips() {
        let records = vec![
            header(),
            Record::Snapshot { t: 1, snapshot: Snapshot::default() },
            event(2, 1),
            Record::Command {
                t: 3,
                command: Command { id: 1, method: "tabs.get".into(), params: json!({"tabId": 1}) },
            },
            Record::Reply {
                t: 4,
                reply: Reply { id: 1, outcome: crate::protocol::Outcome::Error("no".into()) },
            },
            Record::Error { t: 5, message: "bad".into() },
            Record::Log { t: 6, level: LogLevel::Warn, message: "hm".into() },
            Record::Hello { t: 7, agent: Box::default() },
            Record::Gap { t: 8, dropped: 3 },
        ];
        let trace = read_all(&written(&records)[..]).unwrap();
        assert_eq!(Record::Header(Box::new(trace.header)), records[0]);
        assert_eq!(trace.records, records[1..]);
        assert_eq!(trace.warning, None);
    }

    #[test]
    fn lines_have_the_documented_shape() {
        let line = String::from_utf8(event(2, 1).to_line()).unwrap();
        assert!(line.starts_with(r#"{"kind":"event","t":2,"event":{"seq":1,"#), "{line}");
        let h = String::from_utf8(header().to_line()).unwrap();
        assert!(h.starts_with(r#"{"kind":"header","header":{"format":"tabscope-trace","version":1,"#), "{h}");
    }

    #[test]
    fn a_cut_last_line_is_a_warning() {
        let mut bytes = written(&[header(), event(1, 1), event(2, 2)]);
        bytes.truncate(bytes.len() - 10);
        let trace = read_all(&bytes[..]).unwrap();
        assert_eq!(trace.records, vec![event(1, 1)]);
        assert!(trace.warning.unwrap().starts_with("line 3: the last line is cut off"));
    }

    #[test]
    fn corruption_elsewhere_names_the_line() {
        let mut bytes = written(&[header(), event(1, 1)]);
        bytes.extend_from_slice(b"{\"kind\":\"event\",\"t\":oops}\n");
        bytes.extend(&written(&[event(3, 2)]));
        let err = read_all(&bytes[..]).unwrap_err();
        assert!(matches!(err, TraceError::Corrupt { line: 3, .. }), "{err}");
    }

    #[test]
    fn a_record_without_its_payload_is_corrupt() {
        let mut bytes = written(&[header()]);
        bytes.extend_from_slice(b"{\"kind\":\"event\",\"t\":1}\n");
        let err = read_all(&bytes[..]).unwrap_err().to_string();
        assert_eq!(err, "line 2: not a trace record: a event record without its \"event\" field");
    }

    #[test]
    fn what_is_not_a_trace_says_so() {
        let e = read_all(&b"{\"ts\":1,\"dir\":\"in\",\"msg\":{}}\n"[..]).unwrap_err().to_string();
        assert!(e.starts_with("line 1: not a trace record"), "{e}");
        let e = read_all(&written(&[event(1, 1)])[..]).unwrap_err().to_string();
        assert_eq!(e, "not a tabscope trace: line 1 is a event record, not the header a trace starts with");
        let e = read_all(&b""[..]).unwrap_err().to_string();
        assert_eq!(e, "not a tabscope trace: the file is empty");
        let mut newer = TraceHeader::new(Source::Synthetic, 0.0, 0);
        newer.version = 99;
        let e = read_all(&written(&[Record::Header(Box::new(newer))])[..]).unwrap_err().to_string();
        assert!(e.contains("format version 99 is newer"), "{e}");
    }

    #[test]
    fn only_tap_traces_say_version_2_and_their_frames_round_trip() {
        assert_eq!(TraceHeader::new(Source::Recording, 0.0, 0).version, 1, "old readers still read these");
        let header = TraceHeader::new(Source::Tap, 0.0, 0);
        assert_eq!(header.version, 2);
        let frame = Record::Frame {
            t: 7,
            frame: Frame { dir: Direction::ToBrowser, size: 12, json: Some(serde_json::json!({"id": 1})) },
        };
        let line = frame.to_line();
        assert_eq!(
            String::from_utf8_lossy(&line),
            r#"{"kind":"frame","t":7,"frame":{"dir":"toBrowser","size":12,"json":{"id":1}}}"#
        );
        let back = read_all(&written(&[Record::Header(Box::new(header)), frame.clone()])[..]).unwrap();
        assert_eq!(back.records, [frame]);
    }

    /// A trace cut at any byte reads up to its last whole record.
    #[test]
    fn a_trace_cut_at_any_byte_keeps_every_whole_record() {
        let records = vec![header(), event(1, 1), event(2, 2), event(3, 3)];
        let bytes = written(&records);
        for cut in 0..=bytes.len() {
            let part = &bytes[..cut];
            let whole = part.iter().filter(|b| **b == b'\n').count();
            let rest = &part[part.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1)..];
            let rest_parses = !rest.is_empty() && Record::from_line(rest).is_ok();
            let expect = whole + usize::from(rest_parses);
            match read_all(part) {
                Ok(trace) => {
                    assert_eq!(trace.records[..], records[1..expect], "cut {cut}");
                    assert_eq!(trace.warning.is_some(), !rest.is_empty() && !rest_parses, "cut {cut}");
                }
                Err(TraceError::NotATrace(_)) => assert_eq!(expect, 0, "cut {cut} lost the header"),
                Err(e) => panic!("cut {cut}: {e}"),
            }
        }
    }
}
