//! What the bridge costs the machine it watches: start-up until the first
//! frame is handled (the browser waits on it), resident memory idle, and with
//! 10,000 tabs and a full flight recorder.
//! `cargo build --release -p tabscope-bridge && cargo bench -p tabscope-bench --bench footprint`

use std::io::Write;
use std::time::{Duration, Instant};

use tabscope_bench::bridge::Bridge;
use tabscope_bench::{hello, quantile, rss_kib, snapshot, updated};

/// Spawn to the hello handled: the discovery file names the browser.
fn start_up() -> Duration {
    let start = Instant::now();
    let mut b = Bridge::start(&[]);
    b.send(&hello());
    b.flush();
    while b.discovery().and_then(|d| d.browser).is_none() {
        std::thread::sleep(Duration::from_micros(100));
    }
    start.elapsed()
}

fn main() {
    let mut starts: Vec<f64> = (0..20).map(|_| start_up().as_secs_f64() * 1000.0).collect();
    starts.sort_by(f64::total_cmp);

    let mut b = Bridge::start(&[]);
    b.send(&hello());
    b.send(&snapshot(10, 0));
    b.flush();
    std::thread::sleep(Duration::from_secs(1));
    let idle = b.rss_kib();

    // 10,000 tabs with 10 session values each, then 120,000 events: the
    // flight recorder (100,000 records / 64 MiB by default) is full.
    b.send(&snapshot(10_000, 10));
    for seq in 1..=120_000u64 {
        b.send(&updated(seq, (seq % 10_000) as i64 + 1));
    }
    b.flush();
    let pid = b.child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut full = 0;
    // Settled: memory stops growing once the stream is consumed.
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = b.rss_kib();
        if now == full {
            break;
        }
        full = now;
    }
    let peak = rss_kib(pid, "VmHWM:");

    let mib = |k: u64| k as f64 / 1024.0;
    let mut out = std::io::stdout().lock();
    writeln!(out, "| bridge footprint | result |\n|---|---|").unwrap();
    writeln!(
        out,
        "| start-up to the first frame handled (20 starts) | p50 **{:.1} ms**, p90 {:.1} ms, max {:.1} ms |",
        quantile(&starts, 0.5),
        quantile(&starts, 0.9),
        starts.last().unwrap()
    )
    .unwrap();
    writeln!(out, "| resident memory, idle (10 tabs) | **{:.1} MiB** |", mib(idle)).unwrap();
    writeln!(
        out,
        "| resident memory, 10,000 tabs × 10 values + full flight recorder (100,000 records) | **{:.0} MiB** (peak {:.0} MiB) |",
        mib(full),
        mib(peak)
    )
    .unwrap();
}
