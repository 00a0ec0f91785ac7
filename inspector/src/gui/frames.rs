//! The frames of a tapped native-messaging host (`tabscope tap`): a
//! table of every frame (direction, time, size, the message's id), a filter,
//! and the selected frame's JSON as a tree with its partner — the answer to
//! a request, or the request an answer belongs to — and the time between.
//! Built from the trace index; messages are read back from the file.

use std::collections::HashMap;
use std::sync::Arc;

use crossbeam_channel::Receiver;
use egui::RichText;
use egui_extras::{Column, TableBuilder};
use serde_json::Value;
use tabscope_shared::trace::{Direction, Micros, Record, TraceIndex};

/// One frame in the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The record's number in the trace.
    pub k: usize,
    pub t: Micros,
    pub dir: Direction,
    pub size: u64,
    /// The message's `id`, where it has one (requests and answers carry it).
    pub id: Option<String>,
    pub summary: String,
    /// The row of the matching request or answer.
    pub partner: Option<usize>,
}

/// Rows read from records `from..` of a trace, to append to the `base`
/// rows before them; `open` is the requests still waiting for an answer.
struct Chunk {
    rows: Vec<Row>,
    /// (request row, answer row): an answer in this chunk to an earlier request.
    pairs: Vec<(usize, usize)>,
    open: HashMap<String, usize>,
    /// Records read up to.
    read: usize,
}

/// Reads records `from..` a chunk at a time: a message is kept only as its
/// summary. An answer goes with the latest request of its id before it.
fn read_rows(index: &TraceIndex, from: usize, base: usize, mut open: HashMap<String, usize>) -> Chunk {
    const CHUNK: usize = 4096;
    let mut rows: Vec<Row> = Vec::new();
    let mut pairs = Vec::new();
    let records = (from..index.len()).step_by(CHUNK).flat_map(|start| {
        let chunk = index.read_records(start, start + CHUNK).unwrap_or_default();
        chunk.into_iter().enumerate().map(move |(i, r)| (start + i, r))
    });
    for (k, r) in records {
        let Record::Frame { t, frame } = r else { continue };
        let id = frame.json.as_ref().and_then(|j| j.get("id")).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let summary = frame.json.as_ref().map_or_else(|| "(not JSON)".to_owned(), super::log::short_json);
        let here = base + rows.len();
        let mut partner = None;
        if let Some(id) = &id {
            match frame.dir {
                Direction::ToHost => {
                    open.insert(id.clone(), here);
                }
                Direction::ToBrowser => {
                    if let Some(req) = open.remove(id) {
                        partner = Some(req);
                        pairs.push((req, here));
                    }
                }
            }
        }
        rows.push(Row { k, t, dir: frame.dir, size: frame.size, id, summary, partner });
    }
    Chunk { rows, pairs, open, read: index.len() }
}

/// The rows of a whole tap trace: every frame, requests and answers paired by id.
pub fn rows(index: &TraceIndex) -> Vec<Row> {
    let mut rows = Vec::new();
    let chunk = read_rows(index, 0, 0, HashMap::new());
    append(&mut rows, chunk.rows, chunk.pairs);
    rows
}

fn append(rows: &mut Vec<Row>, new: Vec<Row>, pairs: Vec<(usize, usize)>) {
    rows.extend(new);
    for (req, answer) in pairs {
        if let Some(r) = rows.get_mut(req) {
            r.partner = Some(answer);
        }
    }
}

#[derive(Default)]
pub struct FramesView {
    /// The trace the rows are of, and how many records it had.
    built: Option<(Arc<TraceIndex>, usize)>,
    /// Rows being read on a thread: the UI never waits for the file.
    reading: Option<Receiver<Chunk>>,
    /// Requests not answered yet, and records read: a trace that grows (a
    /// running tap's) is read on from there, not again from its start.
    open: HashMap<String, usize>,
    read: usize,
    pub rows: Vec<Row>,
    to_host: usize,
    pub selected: Option<usize>,
    pub filter: String,
    /// The rows the filter lets through, and the filter they are for.
    shown: Vec<usize>,
    shown_for: Option<String>,
    /// The selected frame's message, read back from the file.
    message: Option<(usize, Result<Value, String>)>,
}

impl FramesView {
    fn refresh(&mut self, index: &Arc<TraceIndex>, ctx: &egui::Context) {
        let fresh = self.built.as_ref().is_none_or(|(i, n)| !Arc::ptr_eq(i, index) || *n != index.len());
        if fresh && self.reading.is_none() {
            // The same file grown: read on. Another file: from the start.
            let grown =
                self.built.as_ref().is_some_and(|(i, _)| i.path == index.path) && self.read <= index.len();
            if !grown {
                *self = FramesView { filter: std::mem::take(&mut self.filter), ..Default::default() };
            }
            self.built = Some((index.clone(), index.len()));
            let (tx, rx) = crossbeam_channel::bounded(1);
            let (index, ctx) = (index.clone(), ctx.clone());
            let (from, base, open) = (self.read, self.rows.len(), self.open.clone());
            std::thread::spawn(move || {
                let _ = tx.send(read_rows(&index, from, base, open));
                ctx.request_repaint();
            });
            self.reading = Some(rx);
        }
        if let Some(chunk) = self.reading.as_ref().and_then(|rx| rx.try_recv().ok()) {
            self.to_host += chunk.rows.iter().filter(|r| r.dir == Direction::ToHost).count();
            self.read = chunk.read;
            self.open = chunk.open;
            append(&mut self.rows, chunk.rows, chunk.pairs);
            self.reading = None;
            self.shown_for = None;
        }
        if self.shown_for.as_deref() != Some(self.filter.as_str()) {
            let needle = self.filter.to_lowercase();
            self.shown = (0..self.rows.len())
                .filter(|&i| {
                    let r = &self.rows[i];
                    needle.is_empty()
                        || r.summary.to_lowercase().contains(&needle)
                        || r.id.as_deref().is_some_and(|id| id.to_lowercase() == needle)
                })
                .collect();
            self.shown_for = Some(self.filter.clone());
        }
    }
}

pub fn show(ui: &mut egui::Ui, view: &mut FramesView, index: &Arc<TraceIndex>) {
    view.refresh(index, ui.ctx());
    let to_host = view.to_host;
    // A growing trace keeps its counts while its new frames are read.
    let counts = if view.reading.is_some() && view.rows.is_empty() {
        "reading".to_owned()
    } else {
        format!("{to_host} to the host, {} to the browser", view.rows.len() - to_host)
    };
    ui.horizontal(|ui| {
        ui.heading("Frames");
        ui.label(RichText::new(format!("{counts} · {}", index.path.display())).weak());
    });
    ui.horizontal(|ui| {
        let l = ui.label("Filter");
        ui.add(
            egui::TextEdit::singleline(&mut view.filter)
                .hint_text("text in the message, or an id")
                .desired_width(260.0),
        )
        .labelled_by(l.id);
    });
    if view.reading.is_some() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("reading the frames…");
        });
        return;
    }
    if view.rows.is_empty() {
        ui.label(RichText::new("No frames: the host was started but nothing was exchanged.").weak());
        return;
    }
    let shown = std::mem::take(&mut view.shown);
    let start = index.time_of(0);
    let mut clicked = None;
    egui::Panel::right("frame-detail").resizable(true).default_size(420.0).show(ui, |ui| {
        detail(ui, view, index, start);
    });
    TableBuilder::new(ui)
        .striped(true)
        .resizable(true)
        .column(Column::exact(50.0))
        .column(Column::exact(90.0))
        .column(Column::exact(90.0))
        .column(Column::exact(80.0))
        .column(Column::exact(70.0))
        .column(Column::remainder())
        .header(18.0, |mut h| {
            for title in ["#", "time", "way", "size", "id", "message"] {
                h.col(|ui| {
                    ui.label(RichText::new(title).weak());
                });
            }
        })
        .body(|body| {
            body.rows(18.0, shown.len(), |mut row| {
                let i = shown[row.index()];
                let r = &view.rows[i];
                row.set_selected(view.selected == Some(i));
                let cells = [
                    i.to_string(),
                    format!("{:.1} ms", r.t.saturating_sub(start) as f64 / 1000.0),
                    if r.dir == Direction::ToHost { "→ host".into() } else { "← browser".into() },
                    bytes(r.size),
                    r.id.clone().unwrap_or_default(),
                    r.summary.clone(),
                ];
                for text in cells {
                    row.col(|ui| {
                        if ui
                            .add(
                                egui::Label::new(RichText::new(text).monospace())
                                    .truncate()
                                    .sense(egui::Sense::click()),
                            )
                            .clicked()
                        {
                            clicked = Some(i);
                        }
                    });
                }
                if row.response().clicked() {
                    clicked = Some(i);
                }
            });
        });
    view.shown = shown;
    if let Some(i) = clicked {
        view.selected = Some(i);
    }
}

fn bytes(n: u64) -> String {
    match n {
        n if n < 10_000 => format!("{n} B"),
        n if n < 10_000_000 => format!("{:.1} KB", n as f64 / 1000.0),
        n => format!("{:.1} MB", n as f64 / 1e6),
    }
}

fn detail(ui: &mut egui::Ui, view: &mut FramesView, index: &TraceIndex, start: Micros) {
    let Some(i) = view.selected else {
        ui.label(RichText::new("Select a frame to see its message.").weak());
        return;
    };
    let row = view.rows[i].clone();
    if view.message.as_ref().is_none_or(|(k, _)| *k != row.k) {
        let read = match index.record(row.k) {
            Ok(Record::Frame { frame, .. }) => frame.json.ok_or_else(|| "not JSON".to_owned()),
            Ok(_) => Err("not a frame".into()),
            Err(e) => Err(e.to_string()),
        };
        view.message = Some((row.k, read));
    }
    let way = if row.dir == Direction::ToHost { "browser to host" } else { "host to browser" };
    ui.label(
        RichText::new(format!(
            "#{i} · {way} · {} · {:.1} ms",
            bytes(row.size),
            row.t.saturating_sub(start) as f64 / 1000.0
        ))
        .strong(),
    );
    match row.partner.map(|p| (p, &view.rows[p])) {
        Some((p, other)) if row.dir == Direction::ToHost => {
            ui.label(format!(
                "answered by #{p} after {:.1} ms",
                other.t.saturating_sub(row.t) as f64 / 1000.0
            ));
        }
        Some((p, other)) => {
            ui.label(format!(
                "the answer to #{p}, {:.1} ms after it",
                row.t.saturating_sub(other.t) as f64 / 1000.0
            ));
        }
        None if row.id.is_some() && row.dir == Direction::ToHost => {
            ui.label(RichText::new("no answer with this id").color(ui.visuals().warn_fg_color));
        }
        None => {}
    }
    let mut go = None;
    if let Some(p) = row.partner
        && ui.small_button(format!("go to #{p}")).clicked()
    {
        go = Some(p);
    }
    egui::ScrollArea::vertical().id_salt("frame-json").show(ui, |ui| match &view.message {
        Some((_, Ok(v))) => tree(ui, "message", v, 0),
        Some((_, Err(e))) => {
            ui.label(RichText::new(e).color(ui.visuals().error_fg_color));
        }
        None => {}
    });
    if let Some(p) = go {
        view.selected = Some(p);
    }
}

/// A JSON value as a tree: objects and lists fold, long text is cut.
fn tree(ui: &mut egui::Ui, key: &str, v: &Value, depth: usize) {
    match v {
        Value::Object(m) => {
            egui::CollapsingHeader::new(format!("{key} {{{}}}", m.len()))
                .id_salt((key, depth, ui.next_auto_id()))
                .default_open(depth < 2)
                .show(ui, |ui| {
                    for (k, x) in m {
                        tree(ui, k, x, depth + 1);
                    }
                });
        }
        Value::Array(a) => {
            egui::CollapsingHeader::new(format!("{key} [{}]", a.len()))
                .id_salt((key, depth, ui.next_auto_id()))
                .default_open(depth < 2 && a.len() <= 20)
                .show(ui, |ui| {
                    for (i, x) in a.iter().enumerate().take(1000) {
                        tree(ui, &i.to_string(), x, depth + 1);
                    }
                    if a.len() > 1000 {
                        ui.label(RichText::new(format!("… {} more", a.len() - 1000)).weak());
                    }
                });
        }
        scalar => {
            let text = scalar.to_string();
            let shown = if text.chars().count() > 300 {
                format!(
                    "{}… ({} characters)",
                    text.chars().take(300).collect::<String>(),
                    text.chars().count()
                )
            } else {
                text
            };
            ui.label(RichText::new(format!("{key}: {shown}")).monospace());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tabscope_shared::trace::{Frame, Source, TraceHeader, TraceWriter};

    #[test]
    fn answers_pair_with_their_requests_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tap.jsonl");
        let mut w = TraceWriter::new(std::fs::File::create(&path).unwrap());
        w.write(&Record::Header(Box::new(TraceHeader::new(Source::Tap, 0.0, 0)))).unwrap();
        let f = |t, dir, json: Value| Record::Frame { t, frame: Frame { dir, size: 10, json: Some(json) } };
        for r in [
            f(1, Direction::ToHost, json!({"id": 1, "cmd": "a"})),
            f(2, Direction::ToHost, json!({"id": "b", "cmd": "b"})),
            f(5, Direction::ToBrowser, json!({"id": 1, "ok": true})),
            f(9, Direction::ToBrowser, json!({"event": "x"})),
        ] {
            w.write(&r).unwrap();
        }
        w.flush().unwrap();
        drop(w);
        let index = TraceIndex::open(&path).unwrap();
        let rows = rows(&index);
        let pairs: Vec<(Option<&str>, Option<usize>)> =
            rows.iter().map(|r| (r.id.as_deref(), r.partner)).collect();
        assert_eq!(pairs, [(Some("1"), Some(2)), (Some("b"), None), (Some("1"), Some(0)), (None, None)]);
    }

    /// A growing trace read on from where it was gives the rows of reading
    /// it whole, an answer paired with a request read the time before.
    #[test]
    fn reading_on_gives_the_rows_of_reading_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tap.jsonl");
        let mut w = TraceWriter::new(std::fs::File::create(&path).unwrap());
        w.write(&Record::Header(Box::new(TraceHeader::new(Source::Tap, 0.0, 0)))).unwrap();
        let f = |t, dir, json: Value| Record::Frame { t, frame: Frame { dir, size: 10, json: Some(json) } };
        w.write(&f(1, Direction::ToHost, json!({"id": 1, "cmd": "a"}))).unwrap();
        w.write(&f(2, Direction::ToHost, json!({"id": 2, "cmd": "b"}))).unwrap();
        w.flush().unwrap();
        let build = || TraceIndex::open(&path).unwrap();
        let first = read_rows(&build(), 0, 0, HashMap::new());
        let mut on = Vec::new();
        append(&mut on, first.rows, first.pairs);
        w.write(&f(3, Direction::ToBrowser, json!({"id": 1, "ok": true}))).unwrap();
        w.write(&f(4, Direction::ToBrowser, json!({"id": 2, "ok": true}))).unwrap();
        w.flush().unwrap();
        let index = build();
        let next = read_rows(&index, first.read, on.len(), first.open);
        assert_eq!(next.rows.len(), 2, "only the new records are read");
        append(&mut on, next.rows, next.pairs);
        assert_eq!(on, rows(&index));
        assert_eq!(on[0].partner, Some(2));
    }
}
