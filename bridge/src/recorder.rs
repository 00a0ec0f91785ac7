//! Where records go: the flight recorder, always on, and trace files being
//! written (`TABSCOPE_TRACE`, and one per inspector that asked). A record is
//! encoded once for all of them.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;

use tabscope_shared::model::Model;
use tabscope_shared::protocol::{AgentHello, BridgeInfo, TraceFileStatus};
use tabscope_shared::trace::{Micros, Record, Source, TraceFile, TraceHeader};

use crate::server::ClientId;

/// What the recorders look at in a record besides its encoded line (an
/// event arrives encoded, never as a [`Record`]).
#[derive(Clone, Copy)]
pub enum Kind<'a> {
    Hello(&'a AgentHello),
    Snapshot,
    Event,
    Other,
}

impl<'a> From<&'a Record> for Kind<'a> {
    fn from(r: &'a Record) -> Self {
        match r {
            Record::Hello { agent, .. } => Kind::Hello(agent),
            Record::Snapshot { .. } => Kind::Snapshot,
            Record::Event { .. } => Kind::Event,
            _ => Kind::Other,
        }
    }
}

/// The last records in memory, bounded by count and by encoded bytes.
///
/// A saved flight recording must start from a snapshot, so the recorder
/// keeps an anchor: a snapshot of the model taken whenever a quarter of
/// the limits has passed since the last one. Saving writes from the oldest
/// snapshot still held, so it holds at least three quarters of the limits
/// of history, and costs nothing per event but the copy of its line.
pub struct FlightRecorder {
    lines: VecDeque<Line>,
    bytes: usize,
    pub max_records: usize,
    pub max_bytes: usize,
    since_anchor: (usize, usize),
}

struct Line {
    bytes: Box<[u8]>,
    snapshot: bool,
    event: bool,
}

impl FlightRecorder {
    pub fn new(max_records: usize, max_bytes: usize) -> Self {
        Self {
            lines: VecDeque::new(),
            bytes: 0,
            max_records: max_records.max(4),
            max_bytes: max_bytes.max(4096),
            since_anchor: (0, 0),
        }
    }

    /// Keeps one encoded record; `anchor` is called for a snapshot when one
    /// is due (before this record).
    pub fn push(&mut self, line: &[u8], kind: Kind, anchor: impl FnOnce() -> Record) {
        let snapshot = matches!(kind, Kind::Snapshot);
        let due = self.since_anchor.0 >= self.max_records / 4 || self.since_anchor.1 >= self.max_bytes / 4;
        if !snapshot && (due || self.lines.is_empty()) {
            let a = anchor();
            self.keep(&a.to_line(), true, false);
        }
        self.keep(line, snapshot, matches!(kind, Kind::Event));
    }

    fn keep(&mut self, line: &[u8], snapshot: bool, event: bool) {
        if snapshot {
            self.since_anchor = (0, 0);
        }
        self.since_anchor.0 += 1;
        self.since_anchor.1 += line.len();
        self.bytes += line.len();
        self.lines.push_back(Line { bytes: line.into(), snapshot, event });
        while self.lines.len() > self.max_records || self.bytes > self.max_bytes {
            let old = self.lines.pop_front().expect("over a limit means not empty");
            self.bytes -= old.bytes.len();
        }
    }

    /// Records held (anchors included) and their encoded bytes.
    pub fn usage(&self) -> (usize, usize) {
        (self.lines.len(), self.bytes)
    }

    /// Writes a trace: `header`, then everything from the oldest snapshot held.
    pub fn save(&self, path: PathBuf, mut header: TraceHeader) -> io::Result<TraceFileStatus> {
        let start = self.lines.iter().position(|l| l.snapshot).unwrap_or(self.lines.len());
        if let Some(first) = self.lines.get(start) {
            header.started_mono =
                Record::from_line(&first.bytes).map(|r| r.t()).unwrap_or(header.started_mono);
        }
        let mut file = TraceFile::create(path)?;
        file.writer.write(&Record::Header(Box::new(header)))?;
        for l in self.lines.range(start..) {
            file.writer.write_line(&l.bytes, l.event)?;
        }
        file.writer.flush()?;
        Ok(TraceFileStatus {
            path: file.path,
            records: file.writer.records(),
            events: file.writer.events(),
            error: None,
        })
    }
}

/// Who a trace file is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// `TABSCOPE_TRACE`: for the bridge's whole life.
    Env,
    Client(ClientId),
}

struct Sink {
    owner: Owner,
    file: TraceFile,
    /// Written with the first record, so that an agent hello arriving first
    /// goes into it.
    header: Option<TraceHeader>,
}

pub struct Recorders {
    pub flight: FlightRecorder,
    sinks: Vec<Sink>,
}

/// A file that stopped, for its owner to hear about.
pub struct Stopped {
    pub owner: Owner,
    pub status: TraceFileStatus,
}

impl Recorders {
    pub fn new(flight: FlightRecorder) -> Self {
        Self { flight, sinks: Vec::new() }
    }

    pub fn header(
        source: Source,
        started_wall: f64,
        t: Micros,
        agent: Option<&AgentHello>,
        bridge: &BridgeInfo,
    ) -> TraceHeader {
        let mut h = TraceHeader::new(source, started_wall, t);
        h.agent = agent.cloned();
        h.bridge = Some(bridge.clone());
        h
    }

    /// Starts a file; its header is written with the first record. A
    /// `snapshot` (the world now) follows the header at once.
    pub fn start(
        &mut self,
        owner: Owner,
        path: PathBuf,
        header: TraceHeader,
        snapshot: Option<Record>,
    ) -> io::Result<()> {
        let mut sink = Sink { owner, file: TraceFile::create(path)?, header: Some(header) };
        if let Some(s) = snapshot {
            write_to(&mut sink, &s.to_line(), (&s).into())?;
            sink.file.writer.flush()?;
        }
        self.sinks.push(sink);
        Ok(())
    }

    #[cfg(test)]
    fn is_recording(&self, owner: Owner) -> bool {
        self.sinks.iter().any(|s| s.owner == owner)
    }

    /// Takes one record, encoded as `line`, into every recorder. Files that fail are closed and
    /// returned, so their owners can be told; nothing else stops.
    pub fn record(&mut self, kind: Kind, line: &[u8], anchor: impl FnOnce() -> Record) -> Vec<Stopped> {
        self.flight.push(line, kind, anchor);
        let mut failed = Vec::new();
        for (i, sink) in self.sinks.iter_mut().enumerate() {
            if let Err(e) = write_to(sink, line, kind) {
                failed.push((i, e));
            }
        }
        failed.into_iter().rev().map(|(i, e)| failed_sink(self.sinks.remove(i), &e)).collect()
    }

    /// Ends the owner's file: flushed and closed.
    pub fn stop(&mut self, owner: Owner) -> Option<TraceFileStatus> {
        let i = self.sinks.iter().position(|s| s.owner == owner)?;
        let mut sink = self.sinks.remove(i);
        let flushed = write_header_if_due(&mut sink).and_then(|_| sink.file.writer.flush());
        let mut st = status(&sink);
        if let Err(e) = flushed {
            st.error = Some(format!("writing {} failed: {e}", sink.file.path.display()));
        }
        Some(st)
    }

    /// Pushes buffered lines to the files, so that a killed bridge or
    /// recorder leaves a readable file. Returns the files that failed.
    pub fn flush(&mut self) -> Vec<Stopped> {
        let mut stopped = Vec::new();
        let mut i = 0;
        while i < self.sinks.len() {
            match self.sinks[i].file.writer.flush() {
                Ok(()) => i += 1,
                Err(e) => stopped.push(failed_sink(self.sinks.remove(i), &e)),
            }
        }
        stopped
    }

    /// Closes everything (the bridge is stopping).
    pub fn stop_all(&mut self) -> Vec<Stopped> {
        let owners: Vec<Owner> = self.sinks.iter().map(|s| s.owner).collect();
        owners.into_iter().filter_map(|o| self.stop(o).map(|status| Stopped { owner: o, status })).collect()
    }
}

fn status(sink: &Sink) -> TraceFileStatus {
    TraceFileStatus {
        path: sink.file.path.clone(),
        records: sink.file.writer.records(),
        events: sink.file.writer.events(),
        error: None,
    }
}

/// A file that could not be written: closed, its owner to be told why.
fn failed_sink(sink: Sink, e: &io::Error) -> Stopped {
    let mut st = status(&sink);
    st.error = Some(format!("writing {} failed, recording stopped: {e}", sink.file.path.display()));
    Stopped { owner: sink.owner, status: st }
}

fn write_header_if_due(sink: &mut Sink) -> io::Result<()> {
    if let Some(h) = sink.header.take() {
        sink.file.writer.write(&Record::Header(Box::new(h)))?;
    }
    Ok(())
}

fn write_to(sink: &mut Sink, line: &[u8], kind: Kind) -> io::Result<()> {
    if let (Some(h), Kind::Hello(agent)) = (&mut sink.header, kind)
        && h.agent.is_none()
    {
        // The hello that opens a session belongs in the header.
        h.agent = Some(agent.clone());
        return Ok(());
    }
    write_header_if_due(sink)?;
    sink.file.writer.write_line(line, matches!(kind, Kind::Event))
}

/// Reads the flight recorder's limits from the environment.
pub fn flight_from_env() -> FlightRecorder {
    let num = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    FlightRecorder::new(num("TABSCOPE_FLIGHT_RECORDS", 100_000), num("TABSCOPE_FLIGHT_BYTES", 64 << 20))
}

/// The model as a record, for anchors and for the start of a recording.
pub fn snapshot_record(t: Micros, model: &Model) -> Record {
    Record::Snapshot { t, snapshot: model.to_snapshot() }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tabscope_shared::protocol::EventRecord;
    use tabscope_shared::trace::read_file;

    use super::*;

    fn ev(t: Micros) -> Record {
        Record::Event {
            t,
            event: EventRecord {
                seq: t,
                time: 0.0,
                name: "tabs.onActivated".into(),
                args: vec![json!({"tabId":1,"windowId":1})],
            },
        }
    }

    fn snap(t: Micros) -> Record {
        Record::Snapshot { t, snapshot: Default::default() }
    }

    #[test]
    fn the_flight_recorder_keeps_the_last_records_from_a_snapshot() {
        let mut f = FlightRecorder::new(100, 1 << 20);
        for t in 1..=1000 {
            let r = ev(t);
            f.push(&r.to_line(), (&r).into(), || snap(t));
        }
        assert!(f.usage().0 <= 100);
        let dir = tempfile::tempdir().unwrap();
        let st =
            f.save(dir.path().join("f.jsonl"), TraceHeader::new(Source::FlightRecorder, 0.0, 0)).unwrap();
        let trace = read_file(&st.path).unwrap();
        assert!(matches!(trace.records[0], Record::Snapshot { .. }));
        assert_eq!(trace.header.started_mono, trace.records[0].t());
        let events: Vec<Micros> =
            trace.records.iter().filter(|r| r.kind() == "event").map(Record::t).collect();
        assert!(events.len() >= 70, "kept {}", events.len());
        assert_eq!(*events.last().unwrap(), 1000);
        assert!(events.windows(2).all(|w| w[1] == w[0] + 1), "no gaps");
        assert_eq!(st.events as usize, events.len());
    }

    #[test]
    fn the_byte_limit_holds() {
        let mut f = FlightRecorder::new(1_000_000, 10_000);
        for t in 1..=1000 {
            let r = ev(t);
            f.push(&r.to_line(), (&r).into(), || snap(t));
        }
        assert!(f.usage().1 <= 10_000);
    }

    #[test]
    fn a_file_that_cannot_be_written_is_reported_and_dropped() {
        let mut r = Recorders::new(FlightRecorder::new(10, 1 << 20));
        let full = PathBuf::from("/dev/full");
        r.start(Owner::Client(3), full, TraceHeader::new(Source::Recording, 0.0, 0), Some(snap(0)))
            .unwrap_err();
        // /dev/full accepts the open and fails the write: here at the first flush.
        r.sinks.push(Sink {
            owner: Owner::Client(4),
            file: TraceFile::create(PathBuf::from("/dev/full")).unwrap(),
            header: Some(TraceHeader::new(Source::Recording, 0.0, 0)),
        });
        let mut stopped = Vec::new();
        for t in 0..10_000 {
            let e = ev(t);
            stopped.extend(r.record((&e).into(), &e.to_line(), || snap(t)));
        }
        stopped.extend(r.flush());
        assert_eq!(stopped.len(), 1);
        assert_eq!(stopped[0].owner, Owner::Client(4));
        assert!(
            stopped[0].status.error.as_deref().unwrap().contains("No space left on device"),
            "{:?}",
            stopped[0].status
        );
        assert!(!r.is_recording(Owner::Client(4)));
        assert!(r.flight.usage().0 > 0, "the flight recorder goes on");
    }
}
