//! `tabscope trace export --format chrome`: the Trace Event Format that
//! Perfetto and chrome://tracing load. A process per window (pid = window
//! id; pid 0 is the browser as a whole), a thread per tab (tid = tab id + 1;
//! tid 0 is the window itself), instant events for browser events,
//! complete events from each command to its reply, and metadata naming
//! every process and thread. Timestamps are the trace's µs.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};

use serde_json::{Value, json};

use super::{Micros, Record, TraceError, TraceReader};
use crate::model::Model;
use crate::protocol::{Outcome, TabId, WindowId};

/// Thread of the browser process that carries commands about no tab.
const COMMANDS_TID: i64 = 1;

/// What was written: events of each phase, for the caller to report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exported {
    pub instant: u64,
    pub complete: u64,
    pub metadata: u64,
    pub warning: Option<String>,
}

struct Open {
    t: Micros,
    method: String,
    params: Value,
    at: (i64, i64),
}

struct Exporter<W: Write> {
    out: W,
    first: bool,
    model: Model,
    /// Names of processes and threads, by (pid, tid); tid None = process.
    names: BTreeMap<(i64, Option<i64>), String>,
    open: HashMap<u64, Open>,
    done: Exported,
}

impl<W: Write> Exporter<W> {
    fn emit(&mut self, e: &Value) -> std::io::Result<()> {
        self.out.write_all(if self.first { b"\n" } else { b",\n" })?;
        self.first = false;
        serde_json::to_writer(&mut self.out, e)?;
        Ok(())
    }

    /// Where a tab lives now: (pid, tid), named as it is seen.
    fn tab_thread(&mut self, tab: TabId, window: Option<WindowId>) -> (i64, i64) {
        let window = window.or_else(|| self.model.tab(tab).map(|t| t.window_id)).filter(|w| *w > 0);
        let pid = window.unwrap_or(0);
        self.name_window(pid);
        let label = self.model.tab(tab).map(|t| t.label()).unwrap_or_default();
        let name = if label.is_empty() { format!("tab {tab}") } else { format!("tab {tab}: {label}") };
        self.names.insert((pid, Some(tab + 1)), name);
        (pid, tab + 1)
    }

    fn name_window(&mut self, pid: i64) {
        let name = match pid {
            0 => "browser".to_owned(),
            w => match self.model.window(w).and_then(|w| w.kind.clone()) {
                Some(kind) => format!("window {w} ({kind})"),
                None => format!("window {w}"),
            },
        };
        self.names.insert((pid, None), name);
        let thread = if pid == 0 { "browser" } else { "window" };
        self.names.entry((pid, Some(0))).or_insert_with(|| thread.to_owned());
    }

    fn instant(
        &mut self,
        name: &str,
        cat: &str,
        t: Micros,
        at: (i64, i64),
        args: Value,
    ) -> std::io::Result<()> {
        let scope = if at == (0, 0) { "g" } else { "t" };
        self.done.instant += 1;
        self.emit(&json!({"name": name, "cat": cat, "ph": "i", "s": scope, "ts": t, "pid": at.0, "tid": at.1, "args": args}))
    }

    fn record(&mut self, r: Record) -> std::io::Result<()> {
        match r {
            Record::Event { t, event } => {
                let target = event.target();
                // The thread is where the tab was when the event happened;
                // for a closing tab, before the model forgets it.
                let at = match (target.tab, target.window) {
                    (Some(tab), w) => Some(self.tab_thread(tab, w)),
                    _ => None,
                };
                let _ = self.model.apply_record(&event);
                let at = at.unwrap_or_else(|| match target.window.filter(|w| *w > 0) {
                    Some(w) => {
                        self.name_window(w);
                        (w, 0)
                    }
                    None => (0, 0),
                });
                let cat = event.name.split('.').next().unwrap_or("event").to_owned();
                let args = json!({"seq": event.seq, "browserTime": event.time, "args": event.args});
                self.instant(&event.name, &cat, t, at, args)?;
            }
            Record::Snapshot { t, snapshot } => {
                self.model = Model::from_snapshot(snapshot);
                let windows: Vec<WindowId> = self.model.window_ids().collect();
                for w in windows {
                    self.name_window(w);
                    let tabs: Vec<TabId> = self.model.tabs_of(w).map(|t| t.id).collect();
                    for tab in tabs {
                        self.tab_thread(tab, Some(w));
                    }
                }
                self.name_window(0);
                let args = json!({"windows": self.model.window_count(), "tabs": self.model.tab_count()});
                self.instant("snapshot", "tabscope", t, (0, 0), args)?;
            }
            Record::Command { t, command } => {
                let at = match command.params.get("tabId").and_then(Value::as_i64) {
                    Some(tab) => self.tab_thread(tab, None),
                    None => {
                        self.name_window(0);
                        self.names.insert((0, Some(COMMANDS_TID)), "commands".into());
                        (0, COMMANDS_TID)
                    }
                };
                self.open.insert(command.id, Open { t, method: command.method, params: command.params, at });
            }
            Record::Reply { t, reply } => {
                if let Some(open) = self.open.remove(&reply.id) {
                    let outcome = match reply.outcome {
                        Outcome::Result(v) => json!({"result": v}),
                        Outcome::Error(e) => json!({"error": e}),
                    };
                    self.complete(open, t, outcome)?;
                }
            }
            Record::Error { t, message } => {
                self.name_window(0);
                self.instant("error", "tabscope", t, (0, 0), json!({"message": message}))?
            }
            Record::Log { t, level, message } => {
                self.name_window(0);
                self.instant("agent log", "tabscope", t, (0, 0), json!({"level": level, "message": message}))?
            }
            Record::Gap { t, dropped } => {
                self.name_window(0);
                self.instant("records lost", "tabscope", t, (0, 0), json!({"dropped": dropped}))?
            }
            Record::Frame { t, frame } => {
                self.name_window(0);
                let name = format!("frame {}", frame.dir.label());
                self.instant(&name, "tap", t, (0, 0), json!({"size": frame.size, "message": frame.json}))?
            }
            Record::Hello { .. } | Record::Header(_) => {}
        }
        Ok(())
    }

    fn complete(&mut self, open: Open, end: Micros, outcome: Value) -> std::io::Result<()> {
        self.done.complete += 1;
        let e = json!({"name": open.method, "cat": "command", "ph": "X", "ts": open.t,
            "dur": end.saturating_sub(open.t), "pid": open.at.0, "tid": open.at.1,
            "args": {"params": open.params, "outcome": outcome}});
        self.emit(&e)
    }
}

/// Converts a trace, streaming: memory grows with the windows and tabs
/// seen, not with the number of events.
pub fn export_chrome(input: impl BufRead, out: impl Write) -> Result<Exported, TraceError> {
    let mut reader = TraceReader::new(input)?;
    let header = reader.header().clone();
    let mut x = Exporter {
        out,
        first: true,
        model: Model::new(),
        names: BTreeMap::new(),
        open: HashMap::new(),
        done: Exported::default(),
    };
    x.out.write_all(b"{\"displayTimeUnit\":\"ms\",\"traceEvents\":[")?;
    let mut end = 0;
    for r in reader.by_ref() {
        let r = r?;
        end = end.max(r.t());
        x.record(r)?;
    }
    // Commands the browser never answered span to the end of the trace.
    let mut open: Vec<(u64, Open)> = x.open.drain().collect();
    open.sort_by_key(|(id, _)| *id);
    for (_, o) in open {
        x.complete(o, end, json!({"error": "no reply in the trace"}))?;
    }
    for ((pid, tid), name) in std::mem::take(&mut x.names) {
        x.done.metadata += 1;
        let e = match tid {
            None => json!({"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": name}}),
            Some(tid) => {
                json!({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}})
            }
        };
        x.emit(&e)?;
    }
    let meta = json!({"browser": header.browser_label(), "startedWall": header.started_wall,
        "source": header.source, "exporter": concat!("tabscope ", env!("CARGO_PKG_VERSION"))});
    write!(x.out, "\n],\"metadata\":{meta}}}\n")?;
    x.out.flush()?;
    x.done.warning = reader.warning().map(str::to_owned);
    Ok(x.done)
}
