//! Where records go: the flight recorder, always on, and trace files being
//! written (`TABSCOPE_TRACE`, and one per inspector that asked). A record is
//! encoded once for all of them.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

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
        file.finish()?;
        let (records, events) = file.writer.flushed();
        Ok(TraceFileStatus { path: file.path, records, events, error: None })
    }
}

/// Who a trace file is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// `TABSCOPE_TRACE`: for the bridge's whole life.
    Env,
    Client(ClientId),
}

/// Lines waiting for one file's writer, at most, by count and by bytes:
/// a slow disk costs records (each loss written as a gap record), never
/// the router's time or unbounded memory.
const SINK_QUEUE: usize = 16_384;
const SINK_BYTES: usize = 64 << 20;
/// A writer flushes at least this often, busy or not, so that a killed
/// bridge leaves a file at most this much behind.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

enum ToWriter {
    Line { bytes: Arc<[u8]>, event: bool },
    Stop,
}

/// The router's end of a file being written by its own thread.
struct Sink {
    owner: Owner,
    id: u64,
    tx: Sender<ToWriter>,
    queued_bytes: Arc<AtomicUsize>,
    /// Records that could not be queued since the last gap record.
    dropped: u64,
    /// Written with the first record, so that an agent hello arriving first
    /// goes into it.
    header: Option<TraceHeader>,
}

pub struct Recorders {
    pub flight: FlightRecorder,
    sinks: Vec<Sink>,
    /// Where writers report that their file ended (stopped or failed).
    done: Done,
    next_id: u64,
    /// Writers still running, for the bridge's exit to wait on.
    running: Arc<AtomicUsize>,
}

/// A file that ended, for its owner to hear about.
#[derive(Debug)]
pub struct Stopped {
    pub owner: Owner,
    /// Which file of that owner's (an owner can start a new one meanwhile).
    pub sink: u64,
    pub status: TraceFileStatus,
}

/// Called by a writer thread when its file ends.
pub type Done = Arc<dyn Fn(Stopped) + Send + Sync>;

impl Recorders {
    /// `done` receives a [`Stopped`] for every file that ends, whether it
    /// was stopped or failed.
    pub fn new(flight: FlightRecorder, done: Done) -> Self {
        Self { flight, sinks: Vec::new(), done, next_id: 1, running: Arc::new(AtomicUsize::new(0)) }
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

    /// Starts a file: created here (new, 0600, never an existing path or
    /// link, so opening cannot block), written by its own thread. Its header
    /// is written with the first record. A `snapshot` (the world now)
    /// follows the header at once.
    pub fn start(
        &mut self,
        owner: Owner,
        path: PathBuf,
        header: TraceHeader,
        snapshot: Option<Record>,
    ) -> io::Result<()> {
        let file = TraceFile::create(path)?;
        self.attach(owner, file, header, snapshot)
    }

    fn attach(
        &mut self,
        owner: Owner,
        file: TraceFile,
        header: TraceHeader,
        snapshot: Option<Record>,
    ) -> io::Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let (tx, rx) = crossbeam_channel::bounded(SINK_QUEUE);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let writer = Writer {
            owner,
            id,
            file,
            rx,
            queued_bytes: queued_bytes.clone(),
            done: self.done.clone(),
            running: self.running.clone(),
        };
        self.running.fetch_add(1, Ordering::SeqCst);
        let spawned = thread::Builder::new().name("trace-writer".into()).spawn(move || writer.run());
        if let Err(e) = spawned {
            self.running.fetch_sub(1, Ordering::SeqCst);
            return Err(e);
        }
        let mut sink = Sink { owner, id, tx, queued_bytes, dropped: 0, header: Some(header) };
        if let Some(s) = snapshot {
            sink.take(&s.to_line(), (&s).into());
        }
        self.sinks.push(sink);
        Ok(())
    }

    /// Takes one record, encoded as `line`, into every recorder. Never
    /// blocks: a file whose writer is behind loses the record, and a gap
    /// record says how many were lost.
    pub fn record(&mut self, kind: Kind, line: &[u8], t: Micros, anchor: impl FnOnce() -> Record) {
        self.flight.push(line, kind, anchor);
        for sink in &mut self.sinks {
            sink.take_at(line, kind, t);
        }
    }

    /// Ends the owner's file. Its writer writes what is queued, flushes,
    /// syncs it to disk and reports on `done`. False if none was running.
    pub fn stop(&mut self, owner: Owner) -> bool {
        let Some(i) = self.sinks.iter().position(|s| s.owner == owner) else { return false };
        let mut sink = self.sinks.remove(i);
        if let Some(h) = sink.header.take() {
            let _ = sink.send(Record::Header(Box::new(h)).to_line(), false);
        }
        // A full queue still ends: the writer also stops when the channel closes.
        let _ = sink.tx.try_send(ToWriter::Stop);
        true
    }

    /// Ends every file (the bridge is stopping).
    pub fn stop_all(&mut self) {
        let owners: Vec<Owner> = self.sinks.iter().map(|s| s.owner).collect();
        for o in owners {
            self.stop(o);
        }
    }

    /// Writers that have not finished yet.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Drops a file whose writer ended by itself (it failed).
    pub fn forget(&mut self, sink: u64) {
        self.sinks.retain(|s| s.id != sink);
    }
}

impl Sink {
    fn take(&mut self, line: &[u8], kind: Kind) {
        self.take_at(line, kind, 0)
    }

    fn take_at(&mut self, line: &[u8], kind: Kind, t: Micros) {
        if let (Some(h), Kind::Hello(agent)) = (&mut self.header, kind)
            && h.agent.is_none()
        {
            // The hello that opens a session belongs in the header.
            h.agent = Some(agent.clone());
            return;
        }
        if let Some(h) = self.header.take() {
            // The header never counts as lost: the queue is empty when it goes.
            let _ = self.send(Record::Header(Box::new(h)).to_line(), false);
        }
        if self.dropped > 0 {
            let gap = Record::Gap { t, dropped: self.dropped }.to_line();
            if self.send(gap, false) {
                self.dropped = 0;
            }
        }
        if !self.send(line.to_vec(), matches!(kind, Kind::Event)) {
            self.dropped += 1;
        }
    }

    /// Queues a line unless the writer is over its count or byte budget.
    fn send(&self, bytes: Vec<u8>, event: bool) -> bool {
        let len = bytes.len();
        if self.queued_bytes.load(Ordering::Relaxed) + len > SINK_BYTES && !self.tx.is_empty() {
            return false;
        }
        self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        match self.tx.try_send(ToWriter::Line { bytes: bytes.into(), event }) {
            Ok(()) => true,
            Err(_) => {
                self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                false
            }
        }
    }
}

/// One file's thread: writes, flushes every [`FLUSH_EVERY`] and when idle,
/// and at the end flushes and syncs to disk. Counts in its report are what
/// reached the file, not what was handed to it.
struct Writer {
    owner: Owner,
    id: u64,
    file: TraceFile,
    rx: Receiver<ToWriter>,
    queued_bytes: Arc<AtomicUsize>,
    done: Done,
    /// The recorders' count of running writers.
    running: Arc<AtomicUsize>,
}

impl Writer {
    fn run(mut self) {
        let result = self.write_all();
        let (records, events) = self.file.writer.flushed();
        let error = result
            .err()
            .map(|e| format!("writing {} failed, recording stopped: {e}", self.file.path.display()));
        let status = TraceFileStatus { path: self.file.path.clone(), records, events, error };
        // Counted out before the report: whoever waits for the count to
        // reach zero wakes on the report and must then see it.
        self.running.fetch_sub(1, Ordering::SeqCst);
        (self.done)(Stopped { owner: self.owner, sink: self.id, status });
    }

    fn write_all(&mut self) -> io::Result<()> {
        let mut last_flush = Instant::now();
        loop {
            match self.rx.recv_timeout(FLUSH_EVERY) {
                Ok(ToWriter::Line { bytes, event }) => {
                    self.queued_bytes.fetch_sub(bytes.len(), Ordering::Relaxed);
                    self.file.writer.write_line(&bytes, event)?;
                }
                Ok(ToWriter::Stop) | Err(RecvTimeoutError::Disconnected) => return self.file.finish(),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.rx.is_empty() || last_flush.elapsed() >= FLUSH_EVERY {
                self.file.writer.flush()?;
                last_flush = Instant::now();
            }
        }
    }
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

    fn recorders() -> (Recorders, Receiver<Stopped>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (Recorders::new(FlightRecorder::new(10, 1 << 20), Arc::new(move |s| tx.send(s).unwrap())), rx)
    }

    /// The bridge's exit waits for `running()` to reach 0, woken by each
    /// report: a writer still counted when its report arrives made every
    /// exit with a recording wait the full 3 s.
    #[test]
    fn a_writer_is_counted_out_before_it_reports() {
        let (tx, done) = crossbeam_channel::unbounded();
        let mut r = Recorders::new(
            FlightRecorder::new(10, 1 << 20),
            Arc::new(move |s| {
                tx.send(s).unwrap();
                // Whatever the writer does after reporting happens late.
                std::thread::sleep(Duration::from_millis(300));
            }),
        );
        let dir = tempfile::tempdir().unwrap();
        r.start(Owner::Env, dir.path().join("t.jsonl"), TraceHeader::new(Source::Recording, 0.0, 0), None)
            .unwrap();
        assert_eq!(r.running(), 1);
        r.stop_all();
        done.recv_timeout(Duration::from_secs(10)).expect("the report");
        assert_eq!(r.running(), 0, "still counted when its report arrived");
    }

    #[test]
    fn a_file_that_cannot_be_written_is_reported_with_what_reached_it() {
        let (mut r, done) = recorders();
        // An existing path is refused before anything is written to it.
        let e = r
            .start(Owner::Client(3), "/dev/full".into(), TraceHeader::new(Source::Recording, 0.0, 0), None)
            .unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        // /dev/full as a full disk: it takes the open and fails the writes.
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let file =
            TraceFile { path: "/dev/full".into(), writer: tabscope_shared::trace::TraceWriter::new(full) };
        r.attach(Owner::Client(4), file, TraceHeader::new(Source::Recording, 0.0, 0), Some(snap(0))).unwrap();
        for t in 0..10_000 {
            let e = ev(t);
            r.record((&e).into(), &e.to_line(), t, || snap(t));
        }
        let stopped = done.recv_timeout(Duration::from_secs(10)).expect("the writer reports its failure");
        assert_eq!(stopped.owner, Owner::Client(4));
        let st = stopped.status;
        assert!(st.error.as_deref().unwrap().contains("No space left on device"), "{st:?}");
        assert_eq!((st.records, st.events), (0, 0), "nothing reached the disk, and nothing is claimed");
        assert!(r.flight.usage().0 > 0, "the flight recorder goes on");
    }

    #[test]
    fn a_writer_that_falls_behind_loses_records_to_a_gap_record_not_the_router() {
        let (mut r, done) = recorders();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        r.start(Owner::Env, path.clone(), TraceHeader::new(Source::Recording, 0.0, 0), Some(snap(0)))
            .unwrap();
        // Far more than the queue holds, as fast as the router can go.
        let n = (SINK_QUEUE * 8) as u64;
        for t in 1..=n {
            let e = ev(t);
            r.record((&e).into(), &e.to_line(), t, || snap(t));
        }
        assert!(r.stop(Owner::Env));
        let st = done.recv_timeout(Duration::from_secs(30)).unwrap().status;
        assert_eq!(st.error, None);
        let trace = read_file(&path).unwrap();
        let events = trace.records.iter().filter(|r| r.kind() == "event").count() as u64;
        let lost: u64 = trace
            .records
            .iter()
            .map(|r| if let Record::Gap { dropped, .. } = r { *dropped } else { 0 })
            .sum();
        assert_eq!(events + lost, n, "every event is written or counted in a gap");
        assert_eq!(st.events, events);
        assert_eq!(st.records as usize, trace.records.len() + 1, "the header counts");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
