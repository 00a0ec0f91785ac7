//! The model at scale, as the bridge uses it: events applied to a 1,000-tab
//! and a 10,000-tab model (parsed from the agent's records, as they arrive),
//! and a 10,000-tab snapshot with 10 session values a tab encoded for an inspector.
//! `cargo bench -p tabscope-bench --bench model_scale`

use std::io::Write;
use std::time::Duration;

use serde_json::json;
use tabscope_bench::{best_of, snapshot, updated};
use tabscope_shared::model::Model;
use tabscope_shared::protocol::{AgentMsg, EventRecord, ServerMsg, Snapshot};

fn parsed_snapshot(tabs: i64, values: usize) -> Snapshot {
    match AgentMsg::from_slice(&serde_json::to_vec(&snapshot(tabs, values)).unwrap()).unwrap() {
        AgentMsg::Snapshot(s) => s,
        _ => unreachable!("a snapshot"),
    }
}

/// 60% onUpdated with the full tab, 20% onActivated, 10% onMoved, 10% session values.
fn events(tabs: i64, n: u64) -> Vec<EventRecord> {
    (1..=n)
        .map(|seq| {
            let id = (seq * 7919 % tabs as u64) as i64 + 1;
            let v = match seq % 10 {
                0..=5 => updated(seq, id),
                6 | 7 => json!({"type": "event", "seq": seq, "time": 0.0, "name": "tabs.onActivated",
                    "args": [{"tabId": id, "windowId": 1}]}),
                // Anywhere in the window: a far move, the costly kind.
                8 => json!({"type": "event", "seq": seq, "time": 0.0, "name": "tabs.onMoved",
                    "args": [id, {"windowId": 1, "fromIndex": 0, "toIndex": seq * 31 % tabs as u64}]}),
                _ => json!({"type": "event", "seq": seq, "time": 0.0, "name": "tabscope.onSessionValueChanged",
                    "args": [{"scope": "tab", "id": id, "key": "k", "value": {"type": "string", "value": "v"}}]}),
            };
            serde_json::from_value(v.as_object().unwrap().clone().into_iter().filter(|(k, _)| k != "type").collect())
                .unwrap()
        })
        .collect()
}

fn main() {
    let mut out = std::io::stdout().lock();
    writeln!(out, "| model | result |\n|---|---|").unwrap();
    for tabs in [1_000, 10_000] {
        let base = Model::from_snapshot(parsed_snapshot(tabs, 0));
        let evs = events(tabs, 10_000);
        let mut model = base.clone();
        let t = best_of(5, Duration::from_millis(300), || {
            for e in &evs {
                let _ = model.apply_record(e);
            }
        });
        writeln!(
            out,
            "| events applied, {tabs}-tab model (realistic mix) | **{:.0} events/s** ({:.2} µs each) |",
            evs.len() as f64 / t.as_secs_f64(),
            t.as_secs_f64() * 1e6 / evs.len() as f64
        )
        .unwrap();
    }
    let model = Model::from_snapshot(parsed_snapshot(10_000, 10));
    let mut bytes = 0;
    let t = best_of(5, Duration::from_millis(500), || {
        let msg = ServerMsg::Snapshot { received: 0.0, snapshot: model.to_snapshot() };
        bytes = tabscope_shared::codec::encode(&msg).unwrap().len();
    });
    writeln!(
        out,
        "| snapshot for an inspector, 10,000 tabs × 10 values ({:.1} MiB) | **{:.1} ms** (model to snapshot to JSON) |",
        bytes as f64 / (1 << 20) as f64,
        t.as_secs_f64() * 1000.0
    )
    .unwrap();
}
