//! Frame cost of the inspector with 10,000 tabs and 1,000,000 log entries:
//! one egui pass (layout and tessellation; no GPU) of the real app.
//! `cargo bench -p tabscope --bench frame`

use criterion::{Criterion, criterion_group, criterion_main};
use egui_kittest::Harness;
use serde_json::json;
use tabscope::gui::app::Selection;
use tabscope::gui::live::Live;
use tabscope::gui::log::Kind;
use tabscope::gui::{App, Options};
use tabscope_shared::model::Model;
use tabscope_shared::protocol::{Snapshot, Tab, Window};

const TABS: i64 = 10_000;
const LOG: usize = 1_000_000;

fn big_live() -> Live {
    let windows = (0..10)
        .map(|w| {
            let mut win = Window::new(w + 1);
            win.title = Some(format!("Window {w}"));
            win.tabs = Some(
                (0..TABS / 10)
                    .map(|i| {
                        let mut t = Tab::new(w * 10_000 + i + 1, w + 1, i as usize);
                        t.active = i == 0;
                        t.kind = Some(if i == 0 { "mail".into() } else { "content".into() });
                        t.url = Some(format!("https://example.org/{w}/{i}").into());
                        t.title = Some(format!("Example page {i}").into());
                        t
                    })
                    .collect(),
            );
            win
        })
        .collect();
    let mut live = Live::default();
    live.model = Model::from_snapshot(Snapshot { windows, ..Default::default() });
    for i in 0..LOG {
        let tab = (i as i64 % TABS) + 1;
        live.log.push(
            1.7637e12 + i as f64,
            if i % 7 == 0 { Kind::Value } else { Kind::Event },
            if i % 7 == 0 { "tabscope.onSessionValueChanged" } else { "tabs.onUpdated" },
            Some(1),
            Some(tab),
            format!("status=complete title=Example page {i}"),
        );
    }
    live.agent = serde_json::from_value(
        json!({"protocol":1,"browser":{"name":"Thunderbird","version":"153.7.0"},"extensionId":"x"}),
    )
    .ok();
    live
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<f64>().unwrap_or(0.0))
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn frames(c: &mut Criterion) {
    let before = rss_mb();
    let live = big_live();
    eprintln!("model + log built: RSS {:.0} MB (was {before:.0} MB)", rss_mb());
    let dir = tempfile::tempdir().unwrap();
    let mut app = App::new(Options::default(), None, dir.path().to_path_buf(), std::sync::Arc::new(|| {}));
    app.conns.show_state("bench", live);
    app.selection = Some(Selection::Tab(5_000));
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut App| app.show(ui), app);
    h.run_steps(5);
    let mut g = c.benchmark_group("frame");
    g.sample_size(30);
    g.bench_function("idle/10k-tabs-1M-log", |b| b.iter(|| h.step()));
    // A live stream: 100 events land between frames (follow mode on).
    let mut n = 0u64;
    g.bench_function("streaming-100-events/10k-tabs-1M-log", |b| {
        b.iter(|| {
            let live = &mut h.state_mut().conns.current_mut().unwrap().live;
            for _ in 0..100 {
                n += 1;
                live.log.push(
                    1.8e12 + n as f64,
                    Kind::Event,
                    "tabs.onUpdated",
                    Some(1),
                    Some(3),
                    "status=loading".into(),
                );
            }
            live.generation += 1;
            h.step();
        })
    });
    // Typing in the log filter: the first frame after a keystroke (one
    // slice of the million is filtered), and the frames until it is all done.
    let mut flip = false;
    g.bench_function("log-filter-keystroke-frame/1M", |b| {
        b.iter(|| {
            flip = !flip;
            h.state_mut().prefs.log_filter.text = if flip { "page 12".into() } else { "page 1".into() };
            h.step();
        })
    });
    g.bench_function("log-filter-complete/1M", |b| {
        b.iter(|| {
            flip = !flip;
            h.state_mut().prefs.log_filter.text = if flip { "page 12".into() } else { "page 1".into() };
            let mut frames = 0;
            loop {
                h.step();
                frames += 1;
                let log = &h.state().conns.current().unwrap().live.log;
                if log.progress() >= 1.0 || frames > 1000 {
                    break frames;
                }
            }
        })
    });
    g.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
