//! What `tabscope tap` adds: round-trip time of small messages and the
//! throughput of 600 KB ones through a host, direct and through the tap
//! (`tabscope tap-run`, recording as it does for real), side by side in one
//! run. The host is `echo_host`, which answers at once, so the difference
//! is the tap's.
//!
//! `cargo build --release -p tabscope && cargo bench -p tabscope-bench --bench tap_latency`

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

fn frame(len: usize) -> Vec<u8> {
    let body = format!("{{\"m\":\"{}\"}}", "x".repeat(len.saturating_sub(8)));
    let mut out = (body.len() as u32).to_ne_bytes().to_vec();
    out.extend(body.as_bytes());
    out
}

fn start(tapped: bool, host: &Path, traces: &Path) -> Child {
    let mut c = if tapped {
        let mut c = Command::new(tabscope_bench::binary("tabscope"));
        c.args(["tap-run", "--name", "bench_host", "--host"]).arg(host).arg("--traces").arg(traces).arg("--");
        c
    } else {
        Command::new(host)
    };
    c.args(["/x/bench_host.json", "bench@x"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    c.spawn().expect("start the host")
}

/// Median and 99th percentile of `n` round trips of a `len`-byte message, µs.
fn round_trips(child: &mut Child, n: usize, len: usize) -> (f64, f64) {
    let msg = frame(len);
    let (input, output) = (child.stdin.as_mut().unwrap(), child.stdout.as_mut().unwrap());
    let mut back = vec![0u8; msg.len()];
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        input.write_all(&msg).unwrap();
        input.flush().unwrap();
        output.read_exact(&mut back).unwrap();
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    (tabscope_bench::quantile(&samples, 0.5), tabscope_bench::quantile(&samples, 0.99))
}

fn main() {
    let host = tabscope_bench::binary("echo_host");
    let traces = tempfile::tempdir().unwrap();
    println!("| path | small message round trip, median | p99 | 600 KB messages, throughput |");
    println!("|---|---|---|---|");
    for tapped in [false, true] {
        let mut child = start(tapped, &host, traces.path());
        round_trips(&mut child, 200, 100); // warm up
        let (median, p99) = round_trips(&mut child, 5000, 100);
        let t = Instant::now();
        let n = 200;
        round_trips(&mut child, n, 600_000);
        let mb_s = (n * 600_000 * 2) as f64 / t.elapsed().as_secs_f64() / 1e6;
        drop(child.stdin.take());
        let _ = child.wait();
        let name = if tapped { "through the tap (recording)" } else { "direct" };
        println!("| {name} | {median:.0} µs | {p99:.0} µs | {mb_s:.0} MB/s both ways |");
    }
}
