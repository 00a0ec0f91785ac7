//! The real bridge under load, as a browser loads it: a generator writes
//! Thunderbird-shaped `tabs.onUpdated` frames (full tab, ~470 bytes) to its
//! stdin; 1 or 4 inspectors read over the real socket, each checking that
//! every event arrives, in order. Then latency from stdin to each client at a
//! steady 1,000 events/s.
//! `cargo build --release -p tabscope-bridge && cargo bench -p tabscope-bench --bench bridge_load`

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, bounded};
use serde::Deserialize;
use tabscope_bench::bridge::Bridge;
use tabscope_bench::{activity, cpu_of, hello, quantile, snapshot, updated};
use tabscope_shared::client::{SharedStream, connect_stream, socket_reader};

/// What a load client reads of a message other than an event: its type,
/// and of `lagged` how many were dropped.
#[derive(Deserialize)]
struct Peek {
    #[serde(rename = "type")]
    kind: String,
    event: Option<PeekEvent>,
    dropped: Option<u64>,
}

#[derive(Deserialize)]
struct PeekEvent {
    seq: u64,
    time: f64,
}

/// An event's number and browser time, read from the start of its message
/// as the bridge writes it (`{"type":"event","received":R,"event":{"seq":S,"time":T,...`);
/// the other ~700 bytes are not scanned. The four clients share the two
/// cores with the bridge: scanning every byte of every message made them
/// measure their own JSON parsing. `None` for any other message.
fn peek_event(frame: &[u8]) -> Option<PeekEvent> {
    fn number<T: std::str::FromStr>(text: &[u8]) -> Option<(T, &[u8])> {
        let end = text.iter().position(|&b| b == b',' || b == b'}')?;
        Some((std::str::from_utf8(&text[..end]).ok()?.parse().ok()?, &text[end..]))
    }
    let rest = frame.strip_prefix(br#"{"type":"event","received":"#)?;
    let (_received, rest) = number::<f64>(rest)?;
    let (seq, rest) = number(rest.strip_prefix(br#","event":{"seq":"#)?)?;
    let (time, _) = number(rest.strip_prefix(br#","time":"#)?)?;
    Some(PeekEvent { seq, time })
}

/// What one client saw.
struct Seen {
    events: u64,
    in_order: bool,
    lagged: u64,
    done: Instant,
    latencies_ms: Vec<f64>,
}

/// Connects a client that reads until event `last`; says when it has the snapshot.
fn client(b: &Bridge, last: u64, ready: crossbeam_channel::Sender<()>) -> Receiver<Seen> {
    let socket = b.discovery().unwrap().socket;
    let (tx, rx) = bounded(1);
    thread::spawn(move || {
        let mut c = socket_reader(SharedStream::new(connect_stream(&socket).unwrap()));
        let mut seen =
            Seen { events: 0, in_order: true, lagged: 0, done: Instant::now(), latencies_ms: Vec::new() };
        let mut next = 1;
        let mut said_ready = false;
        loop {
            let frame = match c.next_frame() {
                Ok(Some(f)) => f,
                other => panic!("client lost the bridge: {:?}", other.err()),
            };
            let event = match peek_event(frame) {
                Some(event) => event,
                None => {
                    let msg: Peek = serde_json::from_slice(frame).expect("the bridge sends JSON");
                    match (msg.kind.as_str(), msg.event) {
                        ("event", Some(event)) => event,
                        ("snapshot", _) if !said_ready => {
                            said_ready = true;
                            ready.send(()).unwrap();
                            continue;
                        }
                        ("lagged", _) => {
                            seen.lagged += msg.dropped.unwrap_or(0);
                            continue;
                        }
                        _ => continue,
                    }
                }
            };
            seen.latencies_ms.push(tabscope_shared::now_ms() - event.time);
            seen.in_order &= event.seq == next;
            next = event.seq + 1;
            seen.events += 1;
            if event.seq == last {
                seen.done = Instant::now();
                break;
            }
        }
        tx.send(seen).unwrap();
    });
    rx
}

fn started(clients: usize, last: u64) -> (Bridge, Vec<Receiver<Seen>>) {
    let mut b = Bridge::start(&[]);
    b.send(&hello());
    b.send(&snapshot(100, 0));
    b.flush();
    let (ready_tx, ready_rx) = bounded(clients);
    let seen = (0..clients).map(|_| client(&b, last, ready_tx.clone())).collect();
    for _ in 0..clients {
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("client ready");
    }
    (b, seen)
}

/// `mixed`: every other event is an x-ray activity record instead of a tab update.
fn throughput(clients: usize, n: u64, mixed: bool) -> String {
    let event = |seq: u64| {
        let id = (seq % 100) as i64 + 1;
        if mixed && seq.is_multiple_of(2) { activity(seq, id) } else { updated(seq, id) }
    };
    let payloads: Vec<Vec<u8>> = (1..=n).map(|seq| serde_json::to_vec(&event(seq)).unwrap()).collect();
    let bytes: usize = payloads.iter().map(|p| p.len() + 4).sum();
    let (mut b, seen) = started(clients, n);
    let cpu_before = b.cpu();
    let load_before = cpu_of(std::process::id());
    let start = Instant::now();
    for p in &payloads {
        b.send_payload(p);
    }
    b.flush();
    let seen: Vec<Seen> =
        seen.iter().map(|r| r.recv_timeout(Duration::from_secs(120)).expect("all events")).collect();
    let end = seen.iter().map(|s| s.done).max().unwrap();
    let secs = (end - start).as_secs_f64();
    let per_event = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    let cpu_us = per_event(b.cpu() - cpu_before);
    let load_us = per_event(cpu_of(std::process::id()) - load_before);
    let all = seen.iter().all(|s| s.events == n && s.in_order && s.lagged == 0);
    let lost: u64 = seen.iter().map(|s| s.lagged).sum();
    format!(
        "| sustained, {clients} client{}{} | **{:.0} events/s** ({:.0} MiB/s in); CPU per event: the bridge {cpu_us:.1} µs, the generator and clients {load_us:.1} µs | {} |",
        if clients == 1 { "" } else { "s" },
        if mixed { ", half of them x-ray activity records" } else { "" },
        n as f64 / secs,
        bytes as f64 / (1 << 20) as f64 / secs,
        if all {
            format!("every one of {n} events to each client, in order")
        } else {
            format!("**NOT all delivered**: {lost} dropped (lagged)")
        }
    )
}

fn latency(clients: usize, rate: u64, secs: u64) -> String {
    let n = rate * secs;
    let (mut b, seen) = started(clients, n);
    let start = Instant::now();
    let period = Duration::from_secs(1) / rate as u32;
    for seq in 1..=n {
        let due = start + period * (seq - 1) as u32;
        while Instant::now() < due {
            thread::sleep(due.saturating_duration_since(Instant::now()).min(Duration::from_micros(200)));
        }
        let mut e = updated(seq, (seq % 100) as i64 + 1);
        e["time"] = serde_json::json!(tabscope_shared::now_ms());
        b.send(&e);
        b.flush();
    }
    let mut all: Vec<f64> = Vec::new();
    let mut ok = true;
    for r in seen {
        let s = r.recv_timeout(Duration::from_secs(60)).expect("all events");
        ok &= s.events == n && s.in_order && s.lagged == 0;
        all.extend(s.latencies_ms);
    }
    all.sort_by(f64::total_cmp);
    format!(
        "| latency at {rate} events/s, {clients} client{} | p50 **{:.3} ms**, p99 **{:.3} ms**, p99.9 {:.3} ms, max {:.3} ms | {} samples{} |",
        if clients == 1 { "" } else { "s" },
        quantile(&all, 0.5),
        quantile(&all, 0.99),
        quantile(&all, 0.999),
        all.last().unwrap(),
        all.len(),
        if ok { ", none lost" } else { ", **some lost**" }
    )
}

/// `-- [EVENTS] [throughput|latency]`: events per throughput run (200,000),
/// and one half of the table only.
fn main() {
    // The quick reading must match what the bridge writes, or every client
    // would fall back to parsing each message whole.
    let sample = serde_json::to_vec(&updated(7, 1)).unwrap();
    let raw = tabscope_shared::raw_event::RawEvent::from_agent_payload(&sample).unwrap().unwrap();
    let peeked = peek_event(&tabscope_shared::protocol::ServerMsg::event_payload(1.5, &raw.to_json()));
    assert!(
        peeked.is_some_and(|e| e.seq == 7 && e.time == 1.7637e12 + 7.0),
        "peek_event no longer reads the bridge's events"
    );
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(200_000);
    let only = |part: &str| {
        !args.iter().any(|a| a == "throughput" || a == "latency") || args.iter().any(|a| a == part)
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "| bridge end to end | result | delivery |\n|---|---|---|").unwrap();
    for clients in [1, 4].into_iter().filter(|_| only("throughput")) {
        writeln!(out, "{}", throughput(clients, n, false)).unwrap();
    }
    if only("throughput") {
        writeln!(out, "{}", throughput(4, n, true)).unwrap();
    }
    for clients in [1, 4].into_iter().filter(|_| only("latency")) {
        writeln!(out, "{}", latency(clients, 1000, 5)).unwrap();
    }
}
