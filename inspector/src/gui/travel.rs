//! Time travel over an opened trace: the moment shown, a pinned moment to
//! compare with, the timeline's visible span. No egui here.

use std::sync::Arc;

use tabscope_shared::trace::{Change, Item, Micros, Record, TraceIndex, diff};

use super::live::Live;
use super::log::{EventLog, Kind, short_json};

pub struct TraceView {
    pub index: Arc<TraceIndex>,
    /// Records applied: the state shown is the one after this many.
    pub moment: usize,
    /// The moment to compare with, if one is pinned.
    pub pinned: Option<usize>,
    /// The timeline's visible span, µs.
    pub span: (f64, f64),
    diff: Option<Compared>,
}

/// The changes between two moments, kept while neither moves.
struct Compared {
    moments: (usize, usize),
    changes: Arc<Vec<Change>>,
}

impl TraceView {
    pub fn new(index: Arc<TraceIndex>) -> Self {
        let moment = index.len();
        let mut v = Self { index, moment, pinned: None, span: (0.0, 1.0), diff: None };
        v.fit();
        v
    }

    /// Shows the whole trace.
    pub fn fit(&mut self) {
        self.span = whole(&self.index);
    }

    /// Takes a longer index of the same trace (read further); a view that
    /// showed the whole trace or its end keeps doing so.
    pub fn extend(&mut self, index: Arc<TraceIndex>, live: &mut Live) -> Result<(), String> {
        let fitted = self.span == whole(&self.index);
        let following = self.moment == self.index.len();
        self.index = index;
        if fitted {
            self.fit();
        }
        if following { self.go(self.index.len(), live) } else { Ok(()) }
    }

    /// Moves to moment `k` and rebuilds the state shown in `live`.
    pub fn go(&mut self, k: usize, live: &mut Live) -> Result<(), String> {
        let k = k.min(self.index.len());
        live.model = self.index.state_at(k).map_err(|e| e.to_string())?;
        live.generation += 1;
        self.moment = k;
        Ok(())
    }

    /// The moment at time `t` (everything at or before it applied).
    pub fn moment_at(&self, t: f64) -> usize {
        self.index.moment_at(t.max(0.0) as Micros)
    }

    pub fn time(&self, k: usize) -> Micros {
        self.index.time_of(k)
    }

    /// Seconds since the trace began, for labels.
    pub fn seconds(&self, t: Micros) -> f64 {
        (t as f64 - self.index.header.started_mono as f64) / 1e6
    }

    /// Changes from the pinned moment to the one shown, computed once per pair.
    pub fn changes(&mut self, live: &Live) -> Option<Result<Arc<Vec<Change>>, String>> {
        let a = self.pinned?;
        let key = (a, self.moment);
        if let Some(c) = &self.diff
            && c.moments == key
        {
            return Some(Ok(c.changes.clone()));
        }
        let before = match self.index.state_at(a) {
            Ok(m) => m,
            Err(e) => return Some(Err(e.to_string())),
        };
        let c = Arc::new(diff(&before, &live.model));
        self.diff = Some(Compared { moments: key, changes: c.clone() });
        Some(Ok(c))
    }
}

/// The span that shows all of `index`, µs.
fn whole(index: &TraceIndex) -> (f64, f64) {
    let start = index.time_of(0).min(index.marks.first().map_or(0, |m| m.t)) as f64;
    let end = (index.end() as f64).max(start + 1000.0);
    let pad = (end - start) * 0.02;
    (start - pad, end + pad)
}

/// The log line of one trace record; `at` is its number, so that a click
/// on the line travels to it. Who wrote a line is said as the trace's
/// source has it: the agent and bridge, or a tapped host and its tap.
pub fn log_record(log: &mut EventLog, header: &tabscope_shared::trace::TraceHeader, at: usize, item: &Item) {
    let time = header.started_wall + item.t() as f64 / 1000.0;
    let r = match item {
        Item::Event { event, .. } => {
            let target = event.target();
            let kind = Kind::of_event(&event.name);
            let at = Some(at as u32);
            return log.push_at(at, time, kind, &event.name, target.window, target.tab, event.summary());
        }
        Item::Other(r) => r,
    };
    let tap = header.source == tabscope_shared::trace::Source::Tap;
    let (writer, checker) = if tap { ("host", "tap") } else { ("agent", "bridge") };
    let at = Some(at as u32);
    match r {
        Record::Header(_) => {}
        Record::Snapshot { snapshot, .. } => {
            let tabs = snapshot.windows.iter().map(|w| w.tabs.as_ref().map_or(0, Vec::len)).sum();
            log.push_snapshot(at, time, snapshot.windows.len(), tabs);
        }
        Record::Event { event, .. } => log.push_event(at, time, event),
        Record::Command { command, .. } => {
            let tab = command.params.get("tabId").and_then(serde_json::Value::as_i64);
            log.push_at(at, time, Kind::Command, &command.method, None, tab, short_json(&command.params));
        }
        Record::Reply { reply, .. } => {
            log.push_outcome(at, time, &format!("reply {}", reply.id), &reply.outcome)
        }
        Record::Error { message, .. } => {
            log.push_at(at, time, Kind::Error, checker, None, None, message.clone())
        }
        Record::Log { level, message, .. } => {
            let kind = if matches!(level, tabscope_shared::protocol::LogLevel::Error) {
                Kind::Error
            } else {
                Kind::Note
            };
            log.push_at(at, time, kind, writer, None, None, message.clone());
        }
        Record::Hello { agent, .. } => {
            let summary = format!("{} {}", agent.browser.name, agent.browser.version);
            log.push_at(at, time, Kind::Note, "hello", None, None, summary);
        }
        Record::Gap { dropped, .. } => {
            log.push_at(at, time, Kind::Error, "gap", None, None, format!("{dropped} records lost here"))
        }
        // A tapped host's frame: the browser's as a command, the host's as a reply.
        Record::Frame { frame, .. } => {
            let kind = match frame.dir {
                tabscope_shared::trace::Direction::ToHost => Kind::Command,
                tabscope_shared::trace::Direction::ToBrowser => Kind::Reply,
            };
            let what = frame.json.as_ref().map_or_else(|| "(not JSON)".to_owned(), short_json);
            let name = format!("frame {} · {} B", frame.dir.label(), frame.size);
            log.push_at(at, time, kind, &name, None, None, what);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use serde_json::json;
    use tabscope_shared::protocol::{EventRecord, Snapshot};
    use tabscope_shared::trace::{Source, TraceHeader, TraceWriter};

    use super::*;

    fn trace() -> tempfile::NamedTempFile {
        let snapshot: Snapshot = serde_json::from_value(json!({"windows":[{"id":1,"focused":true,"tabs":[
            {"id":1,"index":0,"windowId":1,"active":true,"title":"Inbox"}]}]}))
        .unwrap();
        let mut w = TraceWriter::new(Vec::new());
        w.write(&Record::Header(Box::new(TraceHeader::new(Source::Synthetic, 0.0, 0)))).unwrap();
        w.write(&Record::Snapshot { t: 0, snapshot }).unwrap();
        for i in 0..3 {
            let event = EventRecord {
                seq: i + 1,
                time: 0.0,
                name: "tabs.onCreated".into(),
                args: vec![json!({"id": i + 2, "index": i + 1, "windowId": 1, "title": format!("t{i}")})],
            };
            w.write(&Record::Event { t: (i + 1) * 1_000_000, event }).unwrap();
        }
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&w.into_inner().unwrap()).unwrap();
        f
    }

    #[test]
    fn going_to_a_moment_shows_its_state_and_compares_with_the_pin() {
        let f = trace();
        let index = Arc::new(TraceIndex::open(f.path()).unwrap());
        let mut view = TraceView::new(index);
        let mut live = Live::default();
        assert_eq!(view.moment, 4);
        view.go(1, &mut live).unwrap();
        assert_eq!(live.model.tab_count(), 1);
        view.pinned = Some(1);
        view.go(view.moment_at(2_500_000.0), &mut live).unwrap();
        assert_eq!((view.moment, live.model.tab_count()), (3, 3));
        let changes = view.changes(&live).unwrap().unwrap();
        let text: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["+ tab 2 \"t0\" in window 1 at 1", "+ tab 3 \"t1\" in window 1 at 2"]);
        assert_eq!(view.seconds(view.time(3)), 2.0);
    }
}
