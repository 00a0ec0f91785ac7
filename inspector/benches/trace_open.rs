//! Opening a 1,000,000-event trace as the inspector does (index, model
//! checkpoints and the event log in one pass), its memory, and the time to
//! rebuild any moment for time travel.
//! `cargo bench -p tabscope --bench trace_open` (add `-- EVENTS` to change the size,
//! `-- --keep FILE` to keep the trace; `-- --open-alone FILE` opens FILE only and prints its peak
//! memory in KiB, which the benchmark runs in a fresh process)

use std::cell::RefCell;
use std::io::Write;
use std::time::Instant;

use serde_json::json;
use tabscope::gui::log::EventLog;
use tabscope::gui::travel::log_record;
use tabscope_shared::protocol::{EventRecord, Snapshot};
use tabscope_shared::trace::{Record, Source, TraceHeader, TraceIndex, TraceReader, TraceWriter};

const TABS: i64 = 100;

fn tab(id: i64, index: i64) -> serde_json::Value {
    json!({"id": id, "index": index, "windowId": 1, "highlighted": index == 0, "active": index == 0,
        "status": "complete", "width": 1280, "height": 720, "type": "content", "mailTab": false,
        "url": format!("https://example.org/page/{id}"), "title": format!("Example page {id}"),
        "favIconUrl": "chrome://messenger/skin/icons/new/compact/folder.svg", "cookieStoreId": "firefox-default",
        "groupId": -1, "splitViewId": -1, "spaceId": 1})
}

/// A realistic mix: 60% onUpdated with the full tab, 20% onActivated,
/// 10% onMoved, 10% session value changes.
fn write_trace(path: &std::path::Path, events: u64) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = TraceWriter::new(f);
    w.write(&Record::Header(Box::new(TraceHeader::new(Source::Synthetic, 1.7e12, 0)))).unwrap();
    let snapshot: Snapshot =
        serde_json::from_value(json!({"windows": [{"id": 1, "focused": true, "type": "normal",
        "tabs": (0..TABS).map(|i| tab(i + 1, i)).collect::<Vec<_>>()}]}))
        .unwrap();
    w.write(&Record::Snapshot { t: 0, snapshot }).unwrap();
    let mut index: Vec<i64> = (1..=TABS).collect();
    for seq in 1..=events {
        let id = (seq * 7919 % TABS as u64) as i64 + 1;
        let (name, args) = match seq % 10 {
            0..=5 => {
                let at = index.iter().position(|t| *t == id).unwrap() as i64;
                (
                    "tabs.onUpdated",
                    vec![json!(id), json!({"title": format!("Page {id} ({seq})")}), tab(id, at)],
                )
            }
            6 | 7 => ("tabs.onActivated", vec![json!({"tabId": id, "windowId": 1, "previousTabId": 1})]),
            8 => {
                let from = index.iter().position(|t| *t == id).unwrap();
                let to = (seq as usize * 31) % TABS as usize;
                index.remove(from);
                index.insert(to, id);
                ("tabs.onMoved", vec![json!(id), json!({"windowId": 1, "fromIndex": from, "toIndex": to})])
            }
            _ => (
                "tabscope.onSessionValueChanged",
                vec![
                    json!({"scope": "tab", "id": id, "key": "state", "value": {"type": "string", "value": format!("v{seq}")}}),
                ],
            ),
        };
        let event = EventRecord { seq, time: 1.7e12 + seq as f64, name: name.into(), args };
        w.write(&Record::Event { t: seq * 1000, event }).unwrap();
    }
    w.flush().unwrap();
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Opens `path` as the inspector does (index, checkpoints and log in one
/// pass) and returns this process's peak resident memory, in KiB: run in a
/// fresh process, it is the open's own peak, without what the allocator
/// keeps from the phases measured before it.
fn open_alone(path: &std::path::Path) -> u64 {
    let log = RefCell::new(EventLog::default());
    // The trace read so far, every 300 ms, held as the screen holds it.
    let (mut shown, mut last) = (None, None::<Instant>);
    let index = TraceIndex::build(
        path,
        |h, k, r| log_record(&mut log.borrow_mut(), h, k, r),
        |p| {
            if last.is_none_or(|t| t.elapsed().as_millis() >= 300) && p.share < 1.0 {
                last = Some(Instant::now());
                shown = Some(p.index());
            }
        },
    )
    .unwrap();
    std::hint::black_box((index.len(), log.borrow().len(), shown.map(|s| s.len())));
    rss_kib("VmHWM:")
}

fn main() {
    if let Some(path) = std::env::args().skip_while(|a| a != "--open-alone").nth(1) {
        println!("{}", open_alone(path.as_ref()));
        return;
    }
    let events: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    // `--keep FILE` keeps the trace, to open it in the inspector by hand.
    let keep = std::env::args().skip_while(|a| a != "--keep").nth(1);
    let path = keep.map_or_else(|| dir.path().join("big.jsonl"), Into::into);
    let t = Instant::now();
    write_trace(&path, events);
    let write_s = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path).unwrap().len();

    // The floor: reading and parsing every record, nothing else.
    let t = Instant::now();
    let reader =
        TraceReader::new(std::io::BufReader::with_capacity(1 << 18, std::fs::File::open(&path).unwrap()))
            .unwrap();
    let parsed = reader.inspect(|r| assert!(r.is_ok())).count();
    let parse_s = t.elapsed().as_secs_f64();
    // The same, each record read as the index reads it (trace::Item: the
    // tabs of onUpdated and onCreated typed straight from the text).
    let t = Instant::now();
    let mut reader =
        TraceReader::new(std::io::BufReader::with_capacity(1 << 18, std::fs::File::open(&path).unwrap()))
            .unwrap();
    while reader.next_item().unwrap().is_some() {}
    let items_s = t.elapsed().as_secs_f64();
    // Index and checkpoints without the inspector's log.
    let t = Instant::now();
    let bare = TraceIndex::open(&path).unwrap();
    let index_s = t.elapsed().as_secs_f64();
    drop(bare);

    // As the inspector opens it: the log built in the same pass, and the
    // trace read so far handed over every 300 ms, the first as soon as there
    // is one, shown at its end.
    let before = rss_kib("VmRSS:");
    let t = Instant::now();
    let log = RefCell::new(EventLog::default());
    let mut first_screen = None;
    let mut last_part = None::<Instant>;
    let mut parts = 0;
    let index = TraceIndex::build(
        &path,
        |h, k, r| log_record(&mut log.borrow_mut(), h, k, r),
        |p| {
            if last_part.is_none_or(|t: Instant| t.elapsed().as_millis() >= 300) && p.share < 1.0 {
                last_part = Some(Instant::now());
                parts += 1;
                let part = p.index();
                std::hint::black_box(part.state_at(part.len()).unwrap().tab_count());
                first_screen.get_or_insert((t.elapsed().as_secs_f64(), part.len()));
            }
        },
    )
    .unwrap();
    let open_s = t.elapsed().as_secs_f64();
    let after = rss_kib("VmRSS:");
    let log = log.into_inner();
    let (first_s, first_len) = first_screen.unwrap_or((open_s, index.len()));

    // Time travel: rebuild 200 moments spread over the trace.
    let mut times: Vec<f64> = (0..200u64)
        .map(|i| {
            let k = ((i * 104_729) % index.len() as u64) as usize;
            let t = Instant::now();
            let m = index.state_at(k).unwrap();
            std::hint::black_box(m.tab_count());
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let q = |p: f64| times[((times.len() - 1) as f64 * p) as usize];

    let mut out = std::io::stdout().lock();
    writeln!(out, "| what | result |\n|---|---|").unwrap();
    writeln!(
        out,
        "| trace | {events} events, {TABS} tabs, {:.0} MiB on disk |",
        size as f64 / (1 << 20) as f64
    )
    .unwrap();
    writeln!(out, "| write (TraceWriter) | {:.2} s, {:.0} events/s |", write_s, events as f64 / write_s)
        .unwrap();
    writeln!(
        out,
        "| read and parse only (the floor) | {:.2} s, {:.0} records/s |",
        parse_s,
        parsed as f64 / parse_s
    )
    .unwrap();
    writeln!(out, "| read and parse as the index does (`Item`) | {:.2} s |", items_s).unwrap();
    writeln!(out, "| index + checkpoints (no log) | {:.2} s |", index_s).unwrap();
    writeln!(
        out,
        "| open: index + checkpoints + log | **{:.2} s**, {:.0} events/s, {:.0} MiB/s |",
        open_s,
        events as f64 / open_s,
        size as f64 / (1 << 20) as f64 / open_s
    )
    .unwrap();
    writeln!(out, "| open ÷ floor | {:.2} |", open_s / parse_s).unwrap();
    writeln!(
        out,
        "| first screen (the first {first_len} records, shown at their end) | **{:.3} s**, then anew {parts} times while reading |",
        first_s
    )
    .unwrap();
    writeln!(
        out,
        "| memory held after opening | {:.0} MiB ({} checkpoints, {} log rows) |",
        (after.saturating_sub(before)) as f64 / 1024.0,
        index.checkpoint_count(),
        log.len()
    )
    .unwrap();
    writeln!(
        out,
        "| peak resident memory, this process (every phase above) | {:.0} MiB |",
        rss_kib("VmHWM:") as f64 / 1024.0
    )
    .unwrap();
    let alone = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--open-alone")
        .arg(&path)
        .output()
        .unwrap();
    let alone: u64 = String::from_utf8_lossy(&alone.stdout).trim().parse().expect("the open's peak");
    writeln!(
        out,
        "| **peak resident memory of the open alone** (a fresh process, as the inspector opens a trace) | **{:.0} MiB** |",
        alone as f64 / 1024.0
    )
    .unwrap();
    writeln!(
        out,
        "| time travel to any moment | p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms |",
        q(0.5),
        q(0.99),
        q(1.0)
    )
    .unwrap();
}
