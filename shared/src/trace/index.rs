//! An opened trace for looking at: a compact mark per record (time, kind,
//! lane), lanes per window and tab, and model checkpoints so that the state
//! at any moment is one checkpoint plus a few thousand events read back
//! from the file. Records themselves stay on disk.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::tail::Following;
use super::{
    Chunked, Item, ItemOrLine, Micros, RawLine, Record, TraceError, TraceHeader, TraceReader, TypedEvent,
};
use crate::event::{ADDON_ACTIVITY, ADDON_CONSOLE, SESSION_VALUE_CHANGED};
use crate::model::{self, Model};
use crate::protocol::{TabId, WindowId};

/// Records between checkpoints at first; doubled whenever the checkpoints'
/// estimated size passes [`CHECKPOINT_BUDGET`].
const CHECKPOINT_EVERY: usize = 2048;
/// Rough bytes of checkpoints kept for one trace.
const CHECKPOINT_BUDGET: usize = 256 << 20;
/// Rough bytes of one tab in a model.
const TAB_COST: usize = 1500;
/// Records between two calls of `build`'s progress.
const PROGRESS_EVERY: usize = 8192;
/// Records the reading thread sends at once, and the index gives back.
const BATCH: usize = 256;
/// Batches read ahead of the index at most.
const READ_AHEAD: usize = 8;

/// What reading a trace brings the index.
enum Step {
    /// A record, and the offset of the line after it.
    Read(Item, u64),
    /// A line for the index's thread to read, and the offset after it.
    Unread(RawLine, u64),
    /// At the end of a trace still being written; more may come.
    Waiting,
    /// The end of the trace, with the reader's warning if its last line was cut off.
    End(Option<String>),
}

/// The reading thread of [`TraceIndex::build`]: reads records in batches
/// until the trace or the index ends, parses those [`Item::is_tab_event`]
/// takes, and frees what the index gives back.
fn read_ahead<R: std::io::BufRead>(
    mut reader: TraceReader<R>,
    steps: &crossbeam_channel::Sender<Vec<Result<Step, TraceError>>>,
    spent: &crossbeam_channel::Receiver<Spent>,
) {
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        let mut last = false;
        while batch.len() < BATCH && !last {
            // The tabs are two thirds of the parsing: parsed here, the rest
            // there, the two threads are about as busy (BENCHMARKS.md).
            let step = match reader.next_item_or_line(Item::is_tab_event) {
                Ok(Some(ItemOrLine::Item(item))) => Ok(Step::Read(item, reader.offset())),
                Ok(Some(ItemOrLine::Line(line))) => Ok(Step::Unread(line, reader.offset())),
                Ok(None) => Ok(Step::End(reader.warning().map(str::to_owned))),
                Err(e) => Err(e),
            };
            last = !matches!(step, Ok(Step::Read(..) | Step::Unread(..)));
            batch.push(step);
        }
        spent.try_iter().for_each(drop);
        // The index stopped (an error, or it is gone): nothing more to read.
        if steps.send(batch).is_err() || last {
            return;
        }
    }
}

/// How far [`TraceIndex::build`] got; [`Partial::index`] is the trace read so
/// far, usable at once, so a viewer can show a big trace while it is read.
pub struct Partial<'a> {
    builder: &'a Builder,
    /// The share of the file read, 0..=1.
    pub share: f32,
    /// Read to the end of a trace that is still being written
    /// ([`TraceIndex::build_following`]): more may come.
    pub waiting: bool,
}

impl Partial<'_> {
    /// Records read so far.
    pub fn len(&self) -> usize {
        self.builder.index.marks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the index of the records read so far: marks, lanes and
    /// checkpoints (shared, not copied), time travel up to its end.
    pub fn index(&self) -> TraceIndex {
        let b = self.builder;
        let mut index = TraceIndex {
            path: b.index.path.clone(),
            header: b.index.header.clone(),
            warning: None,
            marks: b.index.marks.clone(),
            names: b.index.names.clone(),
            lanes: b.index.lanes.clone(),
            lane_rows: Vec::new(),
            offsets: b.offsets.clone(),
            checkpoints: b.index.checkpoints.clone(),
            checkpoint_every: b.index.checkpoint_every,
        };
        index.order_lanes();
        index
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MarkKind {
    Snapshot,
    Event,
    /// A session value change.
    Value,
    Command,
    Reply,
    /// A failed reply, a bad message, a gap.
    Error,
    Log,
    /// x-ray: another add-on's API call, event or content script.
    Activity,
}

/// One record, as the timeline and the log need it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mark {
    pub t: Micros,
    pub kind: MarkKind,
    /// Index into [`TraceIndex::names`].
    pub name: u32,
    /// The lane's number in the order lanes were first seen (lanes are
    /// shown in another order: [`TraceIndex::lane_of`] finds it), so that
    /// ordering lanes never rewrites the marks, which copies share.
    lane: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LaneKey {
    /// Records about no window or tab: snapshots, errors, logs.
    Global,
    Window(WindowId),
    Tab(TabId),
    /// x-ray: one add-on's activity; the index into [`TraceIndex::names`] of its id.
    Addon(u32),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Lane {
    pub key: LaneKey,
    /// The window a tab lane belongs to (where it was first seen).
    pub window: Option<WindowId>,
    pub label: String,
    /// Indexes of this lane's marks, in time order.
    pub marks: Chunked<u32>,
}

#[derive(Clone)]
struct Checkpoint {
    /// The model after this many records.
    at: usize,
    model: Arc<Model>,
}

pub struct TraceIndex {
    pub path: PathBuf,
    pub header: TraceHeader,
    /// Set when the last line was cut off.
    pub warning: Option<String>,
    pub marks: Chunked<Mark>,
    pub names: Vec<Arc<str>>,
    /// In the order they are shown: windows by id, each followed by its tabs.
    pub lanes: Vec<Lane>,
    /// For each lane by the number its marks carry, where it is in `lanes`.
    lane_rows: Vec<u32>,
    /// Byte offset of each record's line, and the end of the last one.
    offsets: Chunked<u64>,
    checkpoints: Vec<Checkpoint>,
    checkpoint_every: usize,
}

impl TraceIndex {
    /// Reads the whole file once. `each` sees every record with the header and
    /// its number (the inspector builds its log from it); `progress` is told,
    /// now and then, how far the reading got, and can take the index so far.
    pub fn build(
        path: &Path,
        each: impl FnMut(&TraceHeader, usize, &Item),
        progress: impl FnMut(&Partial<'_>),
    ) -> Result<TraceIndex, TraceError> {
        let file = File::open(path)?;
        let total = file.metadata()?.len().max(1);
        let reader = TraceReader::new(BufReader::with_capacity(1 << 18, file))?;
        let header = reader.header().clone();
        let start = reader.offset();
        // Two threads: the other reads ahead and parses the tab events,
        // the costliest records; this one parses the rest and indexes. What
        // the reader allocated goes back to it to be freed: glibc frees
        // another thread's memory under that thread's arena lock, which made
        // an earlier attempt without this twice as costly (BENCHMARKS.md).
        std::thread::scope(|scope| {
            let (steps_tx, steps_rx) = crossbeam_channel::bounded(READ_AHEAD);
            let (spent_tx, spent_rx) = crossbeam_channel::unbounded();
            scope.spawn(move || read_ahead(reader, &steps_tx, &spent_rx));
            let steps = steps_rx.into_iter().flatten();
            let give_back = |spent| drop(spent_tx.send(spent));
            Self::index_steps(
                Builder::new(path, header, start),
                Some(total),
                steps,
                give_back,
                each,
                progress,
            )
        })
    }

    /// The index alone, without a log or progress.
    pub fn open(path: &Path) -> Result<TraceIndex, TraceError> {
        Self::build(path, |_, _, _| {}, |_| {})
    }

    /// Reads a trace that is still being written (a running tap's): to its
    /// end, where `progress` is told it is `waiting`, then on as the writer
    /// adds records, until `alive` says the writer has ended and the rest is
    /// read. Half-written lines are waited for, not taken as broken.
    pub fn build_following(
        path: &Path,
        alive: &dyn Fn() -> bool,
        each: impl FnMut(&TraceHeader, usize, &Item),
        progress: impl FnMut(&Partial<'_>),
    ) -> Result<TraceIndex, TraceError> {
        let (mut reader, following) = Following::open(path, alive)?;
        let header = reader.header().clone();
        let start = reader.offset();
        // One thread: a growing trace comes as fast as its writer makes it.
        let mut waited = false;
        let steps = std::iter::from_fn(|| {
            if std::mem::take(&mut waited) && !following.wait() {
                return Some(Ok(Step::End(reader.warning().map(str::to_owned))));
            }
            Some(match reader.next_item() {
                Ok(Some(item)) => Ok(Step::Read(item, reader.offset())),
                Ok(None) => {
                    waited = true;
                    Ok(Step::Waiting)
                }
                Err(e) => Err(e),
            })
        });
        Self::index_steps(Builder::new(path, header, start), None, steps, drop, each, progress)
    }

    /// Indexes `steps` (the records after the header) into `b` until one
    /// ends them; `give_back` takes, now and then, what the index has done with.
    fn index_steps(
        mut b: Builder,
        total: Option<u64>,
        steps: impl Iterator<Item = Result<Step, TraceError>>,
        mut give_back: impl FnMut(Spent),
        mut each: impl FnMut(&TraceHeader, usize, &Item),
        mut progress: impl FnMut(&Partial<'_>),
    ) -> Result<TraceIndex, TraceError> {
        let share = |offset: u64| total.map_or(0.0, |t| offset as f32 / t as f32);
        let mut shown = 0;
        for step in steps {
            let (item, offset) = match step? {
                Step::Read(item, offset) => (item, offset),
                Step::Unread(line, offset) => {
                    let item = line.item()?;
                    b.spent.lines.push(line.text);
                    (item, offset)
                }
                Step::Waiting => {
                    if b.index.marks.len() != shown {
                        shown = b.index.marks.len();
                        progress(&Partial { builder: &b, share: 0.0, waiting: true });
                    }
                    continue;
                }
                Step::End(warning) => {
                    b.index.warning = warning;
                    break;
                }
            };
            let k = b.index.marks.len();
            each(&b.index.header, k, &item);
            b.add(item);
            b.offsets.push(offset);
            if (k + 1).is_multiple_of(BATCH) {
                give_back(std::mem::take(&mut b.spent));
            }
            if (k + 1).is_multiple_of(PROGRESS_EVERY) {
                progress(&Partial { builder: &b, share: share(offset), waiting: false });
            }
        }
        progress(&Partial { builder: &b, share: 1.0, waiting: false });
        Ok(b.finish())
    }

    /// Records after the header.
    pub fn len(&self) -> usize {
        self.marks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }

    pub fn name(&self, m: &Mark) -> &str {
        &self.names[m.name as usize]
    }

    /// The trace's last time.
    pub fn end(&self) -> Micros {
        self.marks.last().map_or(0, |m| m.t)
    }

    /// How many records happened at or before `t`: the moment `t` is.
    pub fn moment_at(&self, t: Micros) -> usize {
        self.marks.partition_point(|m| m.t <= t)
    }

    /// The time of moment `k` (after `k` records).
    pub fn time_of(&self, k: usize) -> Micros {
        match k {
            0 => self.header.started_mono,
            k => self.marks[k.min(self.marks.len()) - 1].t,
        }
    }

    /// The world after the first `k` records: the nearest checkpoint plus
    /// the records since, read back from the file.
    pub fn state_at(&self, k: usize) -> Result<Model, TraceError> {
        let k = k.min(self.marks.len());
        let cp = &self.checkpoints[self.checkpoints.partition_point(|c| c.at <= k) - 1];
        let mut model = (*cp.model).clone();
        for item in self.read_lines(cp.at, k, Item::from_line)? {
            apply(&mut model, item);
        }
        Ok(model)
    }

    /// Reads records `from..to` back from the file.
    pub fn read_records(&self, from: usize, to: usize) -> Result<Vec<Record>, TraceError> {
        self.read_lines(from, to, Record::from_line)
    }

    /// Reads lines `from..to` back from the file, each with `parse`.
    fn read_lines<T>(
        &self,
        from: usize,
        to: usize,
        parse: fn(&[u8]) -> Result<T, String>,
    ) -> Result<Vec<T>, TraceError> {
        let to = to.min(self.marks.len());
        if from >= to {
            return Ok(Vec::new());
        }
        let (start, end) = (self.offsets[from], self.offsets[to]);
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(start))?;
        let mut bytes = vec![0; (end - start) as usize];
        f.read_exact(&mut bytes).map_err(|e| {
            TraceError::NotATrace(format!("{} changed since it was opened: {e}", self.path.display()))
        })?;
        let mut out = Vec::with_capacity(to - from);
        for (i, line) in bytes.split(|b| *b == b'\n').filter(|l| !super::trim_line(l).is_empty()).enumerate()
        {
            let r = parse(super::trim_line(line)).map_err(|message| TraceError::Corrupt {
                line: (from + i + 2) as u64,
                message: format!("{message} (did the file change since it was opened?)"),
            })?;
            out.push(r);
        }
        Ok(out)
    }

    /// One record, read back from the file.
    pub fn record(&self, k: usize) -> Result<Record, TraceError> {
        self.read_records(k, k + 1)?
            .pop()
            .ok_or_else(|| TraceError::NotATrace(format!("record {k} is past the end")))
    }

    /// Checkpoints kept, for the benchmark and tests.
    pub fn checkpoint_count(&self) -> usize {
        self.checkpoints.len()
    }
}

/// What a record does to the world.
pub(crate) fn apply(model: &mut Model, item: Item) {
    match item {
        Item::Other(Record::Snapshot { snapshot, .. }) => *model = Model::from_snapshot(snapshot),
        // Drift and unknown events leave the model consistent, as live.
        Item::Event { event, .. } => {
            let _ = model.apply_parsed(event.into_browser_event());
        }
        // Not made by `Item::from`, but applied as `Builder::add` indexes it.
        Item::Other(Record::Event { event, .. }) => {
            let _ = model.apply_record(&event);
        }
        Item::Other(_) => {}
    }
}

struct Builder {
    index: TraceIndex,
    offsets: Chunked<u64>,
    model: Model,
    // foldhash: looked up for every record; seeded per process, as std's
    // SipHash is, and several times faster on these short keys.
    lane_of: foldhash::HashMap<LaneKey, u32>,
    name_of: foldhash::HashMap<String, u32>,
    /// Command id -> lane, so a reply lands beside its command.
    command_lane: foldhash::HashMap<u64, u32>,
    /// Estimated bytes per checkpoint at the current model size.
    checkpoint_bytes: usize,
    /// What records brought that the index no longer needs, for the
    /// reading thread to free (see [`read_ahead`]).
    spent: Spent,
}

/// Allocations of the reading thread that the index has done with.
#[derive(Default)]
struct Spent {
    model: model::Spent,
    /// Lines it handed over unparsed.
    lines: Vec<Box<[u8]>>,
}

impl Builder {
    /// A builder for the records of `path` after its header, which ends at `start`.
    fn new(path: &Path, header: TraceHeader, start: u64) -> Self {
        let mut b = Builder {
            index: TraceIndex {
                path: path.to_path_buf(),
                header,
                warning: None,
                marks: Chunked::default(),
                names: Vec::new(),
                lanes: Vec::new(),
                lane_rows: Vec::new(),
                offsets: Chunked::default(),
                checkpoints: vec![Checkpoint { at: 0, model: Arc::new(Model::new()) }],
                checkpoint_every: CHECKPOINT_EVERY,
            },
            offsets: Chunked::default(),
            model: Model::new(),
            lane_of: Default::default(),
            name_of: Default::default(),
            command_lane: Default::default(),
            checkpoint_bytes: 0,
            spent: Spent::default(),
        };
        b.offsets.push(start);
        b.lane(LaneKey::Global, None);
        b
    }

    fn name(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.name_of.get(name) {
            return i;
        }
        let i = self.index.names.len() as u32;
        self.index.names.push(name.into());
        self.name_of.insert(name.to_owned(), i);
        i
    }

    fn lane(&mut self, key: LaneKey, window: Option<WindowId>) -> u32 {
        if let Some(&i) = self.lane_of.get(&key) {
            return i;
        }
        let i = self.index.lanes.len() as u32;
        let label = match key {
            LaneKey::Global => "browser".to_owned(),
            LaneKey::Window(w) => match self.model.window(w).and_then(|w| w.kind.clone()) {
                Some(kind) => format!("window {w} ({kind})"),
                None => format!("window {w}"),
            },
            LaneKey::Tab(t) => match self.model.tab(t) {
                Some(tab) => format!("tab {t} {}", tab.label()),
                None => format!("tab {t}"),
            },
            LaneKey::Addon(id) => format!("add-on {}", self.index.names[id as usize]),
        };
        self.index.lanes.push(Lane { key, window, label, marks: Chunked::default() });
        self.lane_of.insert(key, i);
        if let LaneKey::Tab(_) = key
            && let Some(w) = window
        {
            self.lane(LaneKey::Window(w), None);
        }
        i
    }

    /// Lanes for every window and tab in the model, in window order.
    fn lanes_for_model(&mut self) {
        let windows: Vec<WindowId> = self.model.window_ids().collect();
        for w in windows {
            self.lane(LaneKey::Window(w), None);
            let tabs: Vec<TabId> = self.model.tabs_of(w).map(|t| t.id).collect();
            for t in tabs {
                self.lane(LaneKey::Tab(t), Some(w));
            }
        }
    }

    fn add(&mut self, item: Item) {
        let k = self.index.marks.len();
        let t = item.t();
        let (kind, name, lane) = match item {
            Item::Event { event, .. } => self.add_event(event),
            Item::Other(Record::Event { event, .. }) => self.add_event(event.into()),
            Item::Other(record) => self.add_other(record),
        };
        self.index.lanes[lane as usize].marks.push(k as u32);
        self.index.marks.push(Mark { t, kind, name, lane });
        self.maybe_checkpoint();
    }

    /// An event's mark kind, name and lane, once the model has it.
    fn add_event(&mut self, event: TypedEvent) -> (MarkKind, u32, u32) {
        let name = self.name(&event.name);
        if event.name == ADDON_ACTIVITY || event.name == ADDON_CONSOLE {
            // A lane per add-on, whatever tab the call was about; its
            // errors (and failed reloads) stand out as errors there.
            let first = event.value(0);
            let owner = first.and_then(|a| a.get("extensionId")).and_then(Value::as_str);
            let id = self.name(owner.unwrap_or("unknown"));
            let error = event.name == ADDON_CONSOLE
                && first.and_then(|a| a.get("level")).and_then(Value::as_str) == Some("error");
            let kind = if error { MarkKind::Error } else { MarkKind::Activity };
            return (kind, name, self.lane(LaneKey::Addon(id), None));
        }
        let target = event.target();
        let kind = if event.name == SESSION_VALUE_CHANGED { MarkKind::Value } else { MarkKind::Event };
        let retitled = event.changes_title();
        // Applied first, so a new tab's lane is labelled with its title.
        if let Ok(event) = event.into_browser_event() {
            let _ = self.model.apply_keeping_spent(event, &mut self.spent.model);
        }
        let lane = match (target.tab, target.window) {
            (Some(t), w) => {
                let w = w.or_else(|| self.model.tab(t).map(|t| t.window_id));
                self.lane(LaneKey::Tab(t), w)
            }
            (None, Some(w)) if w >= 0 => self.lane(LaneKey::Window(w), None),
            _ => 0,
        };
        // A tab's lane is named after its latest title.
        if let Some(t) = target.tab
            && retitled
            && let Some(tab) = self.model.tab(t)
        {
            // Written over the old label: no allocation once it is long enough.
            let label = &mut self.index.lanes[lane as usize].label;
            label.clear();
            let _ = write!(label, "tab {t} ");
            tab.push_label(label);
        }
        (kind, name, lane)
    }

    /// Any other record's mark kind, name and lane.
    fn add_other(&mut self, record: Record) -> (MarkKind, u32, u32) {
        let (kind, name, lane) = match &record {
            Record::Header(_) => (MarkKind::Log, "header", 0),
            Record::Snapshot { .. } => (MarkKind::Snapshot, "snapshot", 0),
            // Taken by `add`.
            Record::Event { .. } => (MarkKind::Event, "event", 0),
            Record::Command { command, .. } => {
                let lane = match command.params.get("tabId").and_then(Value::as_i64) {
                    Some(t) => {
                        let w = self.model.tab(t).map(|t| t.window_id);
                        self.lane(LaneKey::Tab(t), w)
                    }
                    None => 0,
                };
                self.command_lane.insert(command.id, lane);
                (MarkKind::Command, command.method.as_str(), lane)
            }
            Record::Reply { reply, .. } => {
                let lane = self.command_lane.remove(&reply.id).unwrap_or(0);
                let kind = match reply.outcome {
                    crate::protocol::Outcome::Result(_) => MarkKind::Reply,
                    crate::protocol::Outcome::Error(_) => MarkKind::Error,
                };
                (kind, "reply", lane)
            }
            Record::Error { .. } => (MarkKind::Error, "error", 0),
            Record::Gap { .. } => (MarkKind::Error, "gap", 0),
            Record::Log { .. } => (MarkKind::Log, "log", 0),
            Record::Hello { .. } => (MarkKind::Log, "hello", 0),
            // A tapped host: what the browser sent as commands, what came back as replies.
            Record::Frame { frame, .. } => match frame.dir {
                crate::trace::Direction::ToHost => (MarkKind::Command, "frame to host", 0),
                crate::trace::Direction::ToBrowser => (MarkKind::Reply, "frame to browser", 0),
            },
        };
        let name = self.name(name);
        if let Record::Snapshot { snapshot, .. } = record {
            self.model = Model::from_snapshot(snapshot);
            self.lanes_for_model();
        }
        (kind, name, lane)
    }

    fn maybe_checkpoint(&mut self) {
        let at = self.index.marks.len();
        let last = self.index.checkpoints.last().map_or(0, |c| c.at);
        if at - last < self.index.checkpoint_every {
            return;
        }
        self.checkpoint_bytes = self.checkpoint_bytes.max(self.model.tab_count() * TAB_COST);
        if self.checkpoint_bytes * self.index.checkpoints.len() > CHECKPOINT_BUDGET {
            // Thin out: keep every other checkpoint and space them twice as far.
            let mut i = 0;
            self.index.checkpoints.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.index.checkpoint_every *= 2;
            return;
        }
        self.index.checkpoints.push(Checkpoint { at, model: Arc::new(self.model.clone()) });
    }

    fn finish(mut self) -> TraceIndex {
        self.index.offsets = self.offsets;
        self.index.order_lanes();
        self.index
    }
}

impl TraceIndex {
    /// The lane mark `m` is on.
    pub fn lane_of(&self, m: &Mark) -> &Lane {
        &self.lanes[self.lane_rows[m.lane as usize] as usize]
    }

    /// Windows in id order, each followed by its tabs; the global lane first.
    fn order_lanes(&mut self) {
        let mut order: Vec<usize> = (0..self.lanes.len()).collect();
        let sort_key = |l: &Lane| match l.key {
            LaneKey::Global => (i64::MIN, 0, 0),
            LaneKey::Window(w) => (w, 0, 0),
            LaneKey::Tab(t) => (l.window.unwrap_or(i64::MAX), 1, t),
            // After every window: the add-ons, in order of first activity.
            LaneKey::Addon(_) => (i64::MAX, 2, 0),
        };
        order.sort_by_key(|&i| sort_key(&self.lanes[i]));
        let mut new_of_old = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_of_old[old] = new as u32;
        }
        let mut lanes: Vec<Option<Lane>> = self.lanes.drain(..).map(Some).collect();
        self.lanes = order.iter().map(|&i| lanes[i].take().expect("each once")).collect();
        self.lane_rows = new_of_old;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use serde_json::json;

    use super::super::tests::{header, written};
    use super::*;
    use crate::protocol::{EventRecord, Snapshot};

    fn snapshot() -> Record {
        let snapshot: Snapshot =
            serde_json::from_value(json!({"windows":[{"id":1,"focused":true,"type":"normal",
            "tabs":[{"id":1,"index":0,"windowId":1,"active":true,"title":"Inbox"}]}]}))
            .unwrap();
        Record::Snapshot { t: 0, snapshot }
    }

    fn created(t: Micros, seq: u64, id: i64, index: usize) -> Record {
        Record::Event {
            t,
            event: EventRecord {
                seq,
                time: 0.0,
                name: "tabs.onCreated".into(),
                args: vec![
                    json!({"id":id,"index":index,"windowId":1,"active":false,"title":format!("t{id}")}),
                ],
            },
        }
    }

    fn file_with(records: &[Record]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&written(records)).unwrap();
        f
    }

    /// x-ray activity gets a lane per add-on, after the windows and tabs,
    /// even when a record names a tab.
    #[test]
    fn each_add_on_has_its_own_lane() {
        let activity = |t: Micros, ext: &str, tab: Option<i64>| Record::Event {
            t,
            event: EventRecord {
                seq: t,
                time: 0.0,
                name: ADDON_ACTIVITY.into(),
                args: vec![json!({"extensionId": ext, "type": "api_call", "name": "tabs.query",
                                  "data": tab.map_or(json!(null), |t| json!({"tabId": t}))})],
            },
        };
        let f = file_with(&[
            header(),
            snapshot(),
            activity(1, "b@x", None),
            activity(2, "a@x", Some(1)),
            activity(3, "b@x", None),
        ]);
        let index = TraceIndex::open(f.path()).unwrap();
        let labels: Vec<&str> = index.lanes.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["browser", "window 1 (normal)", "tab 1 Inbox", "add-on b@x", "add-on a@x"]);
        let b = &index.lanes[3];
        assert_eq!(b.marks.len(), 2);
        assert!(b.marks.iter().all(|&m| index.marks[m as usize].kind == MarkKind::Activity));
        assert_eq!(index.lanes[2].marks.len(), 0, "the tab's lane holds no add-on call");
    }

    /// An add-on's console records go on its lane; its errors (and failed
    /// reloads) are error marks there.
    #[test]
    fn console_errors_are_marked_on_their_add_on_lane() {
        let console = |t: Micros, level: &str| Record::Event {
            t,
            event: EventRecord {
                seq: t,
                time: 0.0,
                name: ADDON_CONSOLE.into(),
                args: vec![json!({"extensionId": "a@x", "source": "console", "level": level, "text": "x"})],
            },
        };
        let f =
            file_with(&[header(), snapshot(), console(1, "log"), console(2, "error"), console(3, "warn")]);
        let index = TraceIndex::open(f.path()).unwrap();
        let lane = index.lanes.iter().find(|l| l.label == "add-on a@x").expect("the add-on's lane");
        let kinds: Vec<MarkKind> = lane.marks.iter().map(|&m| index.marks[m as usize].kind).collect();
        assert_eq!(kinds, [MarkKind::Activity, MarkKind::Error, MarkKind::Activity]);
    }

    /// Following a writer that has made its file but not yet written the
    /// header: the reader waits for it instead of calling the file no trace
    /// (the inspector lost a running tap that way, on a busy machine).
    #[test]
    fn following_waits_for_the_header_and_then_for_each_record() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let path = f.path().to_path_buf();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (path, done) = (path.clone(), done.clone());
            std::thread::spawn(move || {
                let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
                for r in [header(), snapshot(), created(1, 1, 2, 1)] {
                    std::thread::sleep(std::time::Duration::from_millis(150));
                    file.write_all(&written(&[r])).unwrap();
                }
                done.store(true, std::sync::atomic::Ordering::Release);
            })
        };
        let alive = || !done.load(std::sync::atomic::Ordering::Acquire);
        let mut waited = 0;
        let index =
            TraceIndex::build_following(&path, &alive, |_, _, _| {}, |p| waited += usize::from(p.waiting))
                .unwrap();
        writer.join().unwrap();
        assert_eq!(index.len(), 2, "the snapshot and the event");
        assert!(waited >= 1, "it showed what it had while waiting");
    }

    /// Time travel to moment k equals the model after the first k records,
    /// across many checkpoints.
    #[test]
    fn state_at_k_is_the_model_after_k_records() {
        let mut records = vec![header(), snapshot()];
        for i in 0..5000u64 {
            records.push(created(i + 1, i + 1, i as i64 + 2, i as usize + 1));
        }
        let f = file_with(&records);
        let mut seen = 0;
        let index = TraceIndex::build(f.path(), |_, k, _| seen = k + 1, |_| {}).unwrap();
        assert_eq!(seen, 5001);
        assert_eq!(index.len(), 5001);
        assert!(index.checkpoint_count() >= 3, "{}", index.checkpoint_count());
        let mut model = Model::new();
        for (k, r) in records[1..].iter().enumerate() {
            if k % 97 == 0 || k == 2048 || k == 2049 {
                assert_eq!(index.state_at(k).unwrap(), model, "moment {k}");
            }
            apply(&mut model, r.clone().into());
        }
        assert_eq!(index.state_at(index.len()).unwrap(), model);
        assert_eq!(index.state_at(usize::MAX).unwrap().tab_count(), 5001);
    }

    /// The index handed out while reading is the finished index cut short:
    /// same marks on the same lanes, same states.
    #[test]
    fn the_index_so_far_is_a_prefix_of_the_whole() {
        let mut records = vec![header(), snapshot()];
        // Tabs come and go, so that the model stays small and the test quick.
        for i in 0..20_000u64 {
            let id = (i / 2) as i64 + 2;
            records.push(match i % 2 {
                0 => created(i + 1, i + 1, id, 1),
                _ => Record::Event {
                    t: i + 1,
                    event: EventRecord {
                        seq: i + 1,
                        time: 0.0,
                        name: "tabs.onRemoved".into(),
                        args: vec![json!(id), json!({"windowId": 1, "isWindowClosing": false})],
                    },
                },
            });
        }
        let f = file_with(&records);
        let mut parts = Vec::new();
        let whole = TraceIndex::build(f.path(), |_, _, _| {}, |p| parts.push((p.len(), p.index()))).unwrap();
        assert_eq!(parts.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [8192, 16384, 20001]);
        for (n, part) in &parts {
            assert_eq!(part.len(), *n);
            assert_eq!(part.end(), whole.time_of(*n));
            for (a, b) in part.marks.iter().zip(whole.marks.iter()) {
                assert_eq!((a.t, a.kind, part.name(a)), (b.t, b.kind, whole.name(b)));
                assert_eq!(part.lane_of(a).key, whole.lane_of(b).key);
            }
            assert_eq!(part.state_at(*n).unwrap(), whole.state_at(*n).unwrap());
            assert_eq!(part.state_at(usize::MAX).unwrap().tab_count(), 1 + (n - 1) % 2);
        }
    }

    /// Every kind of record the index treats apart, over several batches.
    fn mixed_records(n: u64) -> Vec<Record> {
        let event = |t: u64, name: &str, args: Vec<Value>| Record::Event {
            t,
            event: EventRecord { seq: t, time: 0.0, name: name.into(), args },
        };
        let mut records = vec![header(), snapshot()];
        for i in 1..=n {
            let id = (i % 7) as i64 + 2;
            records.push(match i % 6 {
                _ if i <= 7 => created(i, i, id, i as usize),
                0 => event(i, "tabs.onUpdated", vec![
                    json!(id),
                    json!({"title": format!("p{i}")}),
                    json!({"id": id, "index": 1, "windowId": 1, "title": format!("p{i}")}),
                ]),
                1 => event(i, "tabs.onActivated", vec![json!({"tabId": id, "windowId": 1})]),
                2 => event(i, SESSION_VALUE_CHANGED, vec![
                    json!({"scope": "tab", "id": id, "key": "k", "value": {"type": "string", "value": "v"}}),
                ]),
                3 => event(i, ADDON_ACTIVITY, vec![json!({"extensionId": "a@x", "type": "api_call"})]),
                4 => event(i, "tabs.onMoved", vec![json!(id), json!({"windowId": 1, "fromIndex": 1, "toIndex": 2})]),
                _ => Record::Log { t: i, level: crate::protocol::LogLevel::Info, message: format!("m{i}") },
            });
        }
        records
    }

    /// What `build` (a reading thread ahead of the index) and
    /// `build_following` (one thread) make of `bytes`: the records each saw,
    /// and the index or the error. `f` is the file they read.
    type Reading = (Vec<(usize, Micros)>, Result<TraceIndex, String>);
    fn both_ways(f: &tempfile::NamedTempFile, bytes: &[u8]) -> [Reading; 2] {
        std::fs::write(f.path(), bytes).unwrap();
        let mut seen = [Vec::new(), Vec::new()];
        let threaded = TraceIndex::build(f.path(), |_, k, r| seen[0].push((k, r.t())), |_| {});
        let one =
            TraceIndex::build_following(f.path(), &|| false, |_, k, r| seen[1].push((k, r.t())), |_| {});
        let [a, b] = seen;
        [(a, threaded.map_err(|e| e.to_string())), (b, one.map_err(|e| e.to_string()))]
    }

    fn assert_same_index(a: &TraceIndex, b: &TraceIndex) {
        assert_eq!(a.marks.iter().collect::<Vec<_>>(), b.marks.iter().collect::<Vec<_>>());
        assert_eq!(a.names, b.names);
        assert_eq!(a.lanes, b.lanes);
        assert_eq!(a.offsets.iter().collect::<Vec<_>>(), b.offsets.iter().collect::<Vec<_>>());
        assert_eq!(a.warning, b.warning);
        for k in (0..=a.len()).step_by(97).chain([a.len()]) {
            assert_eq!(a.state_at(k).unwrap(), b.state_at(k).unwrap(), "moment {k}");
        }
    }

    /// The reading thread changes nothing of what is read: every record,
    /// in order, to the last batch's end; a cut-off last line warned about;
    /// a broken line the same error after the same records.
    #[test]
    fn reading_ahead_reads_as_one_thread_does() {
        let n = 3 * BATCH as u64 + 17;
        let f = tempfile::NamedTempFile::new().unwrap();
        let whole = written(&mixed_records(n));
        let [(seen_a, a), (seen_b, b)] = both_ways(&f, &whole);
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(seen_a.len() as u64, n + 1, "the snapshot and every event");
        assert_eq!(seen_a, seen_b);
        assert_same_index(&a, &b);
        assert!(
            a.lanes
                .iter()
                .any(|l| l.key == LaneKey::Addon(a.names.iter().position(|n| &**n == "a@x").unwrap() as u32))
        );

        // Cut in the middle of the last line, as a killed recorder leaves it.
        let cut = &whole[..whole.len() - 20];
        let [(seen_a, a), (seen_b, b)] = both_ways(&f, cut);
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!((seen_a.len() as u64, &seen_a), (n, &seen_b));
        assert!(a.warning.is_some());
        assert_same_index(&a, &b);

        // A broken line two batches in: one the reading thread parses (it
        // looks like a tab's update) and one it leaves to the index's.
        let lines: Vec<&[u8]> = whole.split_inclusive(|b| *b == b'\n').collect();
        let tab_like =
            br#"{"kind":"event","t":1,"event":{"seq":1,"time":0,"name":"tabs.onUpdated","args":[oops]}}"#;
        assert!(Item::is_tab_event(tab_like));
        for (at, bad) in [(2 * BATCH + 5, &tab_like[..]), (2 * BATCH + 6, b"{not json}")] {
            let mut broken: Vec<u8> = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                broken.extend_from_slice(if i == at { bad } else { l });
                if i == at {
                    broken.push(b'\n');
                }
            }
            let [(seen_a, a), (seen_b, b)] = both_ways(&f, &broken);
            let (a, b) = (a.err().unwrap(), b.err().unwrap());
            assert_eq!(a, b);
            assert!(a.contains(&format!("line {}", at + 1)), "{a}");
            assert_eq!((seen_a.len(), &seen_a), (at - 1, &seen_b), "every record before it");
        }
    }

    #[test]
    fn an_event_held_as_another_record_is_still_applied() {
        let mut by_item = Model::from_snapshot(match snapshot() {
            Record::Snapshot { snapshot, .. } => snapshot,
            _ => unreachable!(),
        });
        let mut as_other = by_item.clone();
        apply(&mut by_item, created(10, 1, 7, 1).into());
        apply(&mut as_other, Item::Other(created(10, 1, 7, 1)));
        assert_eq!(by_item.tab_count(), 2);
        assert_eq!(as_other, by_item);
    }

    #[test]
    fn lanes_follow_windows_and_tabs() {
        let records = vec![header(), snapshot(), created(10, 1, 7, 1), created(20, 2, 8, 2)];
        let f = file_with(&records);
        let index = TraceIndex::open(f.path()).unwrap();
        let labels: Vec<&str> = index.lanes.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["browser", "window 1 (normal)", "tab 1 Inbox", "tab 7 t7", "tab 8 t8"]);
        let lane7 = &index.lanes[3];
        assert_eq!(lane7.marks.iter().collect::<Vec<_>>(), [&1]);
        assert_eq!(index.lane_of(&index.marks[1]).key, LaneKey::Tab(7));
        assert_eq!(index.name(&index.marks[1]), "tabs.onCreated");
        assert_eq!(index.moment_at(15), 2);
        assert_eq!(index.time_of(2), 10);
        assert_eq!(index.end(), 20);
    }

    #[test]
    fn a_changed_file_is_an_error_not_a_panic() {
        let records = vec![header(), snapshot(), created(10, 1, 7, 1), created(20, 2, 8, 2)];
        let f = file_with(&records);
        let index = TraceIndex::open(f.path()).unwrap();
        std::fs::write(f.path(), b"short").unwrap();
        assert!(index.state_at(3).is_err());
    }
}
