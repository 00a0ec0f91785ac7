//! Applying events to a 1,000-tab model: what the bridge and the inspector do
//! for every browser event. `cargo bench -p tabscope-shared --bench model`

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use tabscope_shared::event::BrowserEvent;
use tabscope_shared::model::Model;
use tabscope_shared::protocol::{Snapshot, Tab, Window};

const TABS: i64 = 1000;

fn model() -> Model {
    let mut windows = Vec::new();
    for w in 0..4 {
        let mut win = Window::new(w + 1);
        win.tabs = Some(
            (0..TABS / 4)
                .map(|i| {
                    let mut t = Tab::new(w * 1000 + i + 1, w + 1, i as usize);
                    t.active = i == 0;
                    t.url = Some(format!("https://example.org/{i}").into());
                    t.kind = Some("content".into());
                    t
                })
                .collect(),
        );
        windows.push(win);
    }
    Model::from_snapshot(Snapshot { windows, ..Default::default() })
}

/// A realistic mix: mostly updates, some activations and moves, creates and removes.
fn events(n: usize) -> Vec<BrowserEvent> {
    let parse =
        |name: &str, args: serde_json::Value| BrowserEvent::parse(name, args.as_array().unwrap()).unwrap();
    (0..n)
        .map(|i| {
            let tab = (i as i64 % 250) + 1;
            match i % 10 {
                0..=5 => {
                    let mut t = Tab::new(tab, 1, 0);
                    t.title = Some(format!("t{i}").into());
                    BrowserEvent::TabUpdated {
                        tab_id: tab,
                        change: [("title".to_owned(), json!(format!("t{i}")))].into_iter().collect(),
                        tab: Box::new(t),
                    }
                }
                6 | 7 => parse("tabs.onActivated", json!([{"tabId": tab, "windowId": 1}])),
                8 => parse(
                    "tabs.onMoved",
                    json!([tab, {"windowId": 1, "fromIndex": 0, "toIndex": (i * 7) % 250}]),
                ),
                _ => parse(
                    "tabscope.onSessionValueChanged",
                    json!([{"scope":"tab","id":tab,"key":"k","value":{"type":"string","value":"v"}}]),
                ),
            }
        })
        .collect()
}

fn apply(c: &mut Criterion) {
    let base = model();
    let evs = events(10_000);
    let mut g = c.benchmark_group("model");
    g.throughput(Throughput::Elements(evs.len() as u64));
    g.bench_function("apply/1000-tabs", |b| {
        b.iter_batched(
            || (base.clone(), evs.clone()),
            |(mut m, evs)| {
                for e in evs {
                    let _ = m.apply(e);
                }
                m
            },
            BatchSize::LargeInput,
        )
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("snapshot/1000-tabs", |b| b.iter(|| Model::from_snapshot(base.to_snapshot())));
    g.finish();
}

criterion_group!(benches, apply);
criterion_main!(benches);
