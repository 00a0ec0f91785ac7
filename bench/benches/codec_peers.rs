//! The codec against the crates a user would pick instead, on the same
//! realistic traffic, in one run: decoding a stream of frames into generic
//! JSON and into typed messages, and encoding messages into frames; each
//! against the floor, bare serde_json on the same payloads.
//! `cargo bench -p tabscope-bench --bench codec_peers`

use std::io::{Cursor, Write};
use std::os::fd::AsRawFd;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tabscope_bench::{best_of, traffic};
use tabscope_shared::codec::{FrameReader, FrameWriter};
use tabscope_shared::protocol::AgentMsg;
use tabscope_shared::raw_event::RawEvent;

const MAX: usize = 64 << 20;

fn framed(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        out.extend_from_slice(&(p.len() as u32).to_ne_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// Points this process's fd `fd` at `file` while `f` runs (the webextension
/// crate reads only stdin and writes only stdout).
fn with_fd<T>(fd: i32, file: &std::fs::File, f: impl FnOnce() -> T) -> T {
    // SAFETY: plain fd juggling on descriptors this process owns.
    unsafe {
        let saved = libc::dup(fd);
        libc::dup2(file.as_raw_fd(), fd);
        let out = f();
        libc::dup2(saved, fd);
        libc::close(saved);
        out
    }
}

struct Row {
    name: &'static str,
    time: Duration,
}

const RUNS: usize = 5;
const MIN: Duration = Duration::from_millis(300);

/// Decoding the stream into `T` by the floor, tabscope and the peers that
/// can decode any type, then `extra` rows.
fn decode_rows<T: DeserializeOwned>(
    payloads: &[Vec<u8>],
    bytes: &[u8],
    stdin_file: &std::fs::File,
    extra: Vec<Row>,
) -> Vec<Row> {
    let n = payloads.len();
    let mut rows = vec![
        Row {
            name: "floor: serde_json::from_slice",
            time: best_of(RUNS, MIN, || {
                for p in payloads {
                    std::hint::black_box(serde_json::from_slice::<T>(p).unwrap());
                }
            }),
        },
        Row {
            name: "**tabscope** FrameReader",
            time: best_of(RUNS, MIN, || {
                let mut r = FrameReader::new(bytes).with_max_len(MAX);
                for _ in 0..n {
                    std::hint::black_box(r.read_message::<T>().unwrap().unwrap());
                }
            }),
        },
        Row {
            name: "native_messaging 0.3 recv_json",
            time: best_of(RUNS, MIN, || {
                let mut c = Cursor::new(bytes);
                for _ in 0..n {
                    std::hint::black_box(native_messaging::host::recv_json::<T, _>(&mut c, MAX).unwrap());
                }
            }),
        },
        Row {
            name: "webextension-native-messaging 1.0 read_message",
            time: with_fd(0, stdin_file, || {
                best_of(RUNS, MIN, || {
                    // SAFETY: rewinding a file this process owns.
                    unsafe { libc::lseek(stdin_file.as_raw_fd(), 0, libc::SEEK_SET) };
                    for _ in 0..n {
                        std::hint::black_box(webextension_native_messaging::read_message::<T>().unwrap());
                    }
                })
            }),
        },
    ];
    rows.extend(extra);
    rows
}

fn main() {
    let payloads = traffic();
    let bytes = framed(&payloads);
    let n = payloads.len();
    let mb = bytes.len() as f64 / (1 << 20) as f64;
    let values: Vec<Value> = payloads.iter().map(|p| serde_json::from_slice(p).unwrap()).collect();
    let mut stdin_file = tempfile::tempfile().unwrap();
    stdin_file.write_all(&bytes).unwrap();
    let devnull = std::fs::OpenOptions::new().write(true).open("/dev/null").unwrap();

    let decode_value = decode_rows::<Value>(
        &payloads,
        &bytes,
        &stdin_file,
        vec![Row {
            name: "chrome_native_messaging 0.3 read_input",
            time: best_of(RUNS, MIN, || {
                let mut c = Cursor::new(&bytes[..]);
                for _ in 0..n {
                    std::hint::black_box(chrome_native_messaging::read_input(&mut c).unwrap());
                }
            }),
        }],
    );
    let decode_typed = decode_rows::<AgentMsg>(
        &payloads,
        &bytes,
        &stdin_file,
        vec![
            Row {
                name: "**tabscope** the bridge's stdin: events as RawEvent (arguments kept as text, typed for the model, checked where typing did not), the rest AgentMsg",
                time: best_of(RUNS, MIN, || {
                    let mut r = FrameReader::new(&bytes[..]).with_max_len(MAX);
                    for _ in 0..n {
                        let frame = r.read_frame().unwrap().unwrap();
                        match RawEvent::typed_from_agent_payload(&frame) {
                            Some(e) => {
                                let (raw, typed) = e.unwrap();
                                std::hint::black_box(typed.unwrap());
                                std::hint::black_box(raw);
                            }
                            None => drop(std::hint::black_box(AgentMsg::from_slice(&frame).unwrap())),
                        }
                    }
                }),
            },
            Row {
                name: "chrome_native_messaging 0.3 read_input + from_value",
                time: best_of(RUNS, MIN, || {
                    let mut c = Cursor::new(&bytes[..]);
                    for _ in 0..n {
                        let v = chrome_native_messaging::read_input(&mut c).unwrap();
                        std::hint::black_box(serde_json::from_value::<AgentMsg>(v).unwrap());
                    }
                }),
            },
        ],
    );

    let mut sink = Vec::with_capacity(bytes.len() * 2);
    let encode = vec![
        Row {
            name: "floor: serde_json::to_writer after a length",
            time: best_of(RUNS, MIN, || {
                sink.clear();
                for v in &values {
                    let at = sink.len();
                    sink.extend_from_slice(&[0; 4]);
                    serde_json::to_writer(&mut sink, v).unwrap();
                    let len = (sink.len() - at - 4) as u32;
                    sink[at..at + 4].copy_from_slice(&len.to_ne_bytes());
                }
                std::hint::black_box(&sink);
            }),
        },
        Row {
            name: "**tabscope** FrameWriter",
            time: best_of(RUNS, MIN, || {
                sink.clear();
                let mut w = FrameWriter::new(&mut sink).with_max_len(MAX);
                for v in &values {
                    w.write_message(v).unwrap();
                }
            }),
        },
        Row {
            name: "native_messaging 0.3 send_json",
            time: best_of(RUNS, MIN, || {
                sink.clear();
                for v in &values {
                    // Its own limit is the browser's 1 MiB, as ours is by default.
                    let _ = native_messaging::host::send_json(&mut sink, v);
                }
            }),
        },
        Row {
            name: "chrome_native_messaging 0.3 send_message",
            time: best_of(RUNS, MIN, || {
                sink.clear();
                for v in &values {
                    let _ = chrome_native_messaging::send_message(&mut sink, v);
                }
            }),
        },
        Row {
            name: "webextension-native-messaging 1.0 write_message (to /dev/null)",
            time: with_fd(1, &devnull, || {
                best_of(RUNS, MIN, || {
                    for v in &values {
                        webextension_native_messaging::write_message(v).unwrap();
                    }
                })
            }),
        },
    ];

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Traffic: {n} frames, {mb:.1} MiB (2,000 tabs.onUpdated, 500 tabs.onCreated, 50 snapshots of 10 tabs, 2 of 1,000 tabs); best of {RUNS} runs.\n"
    )
    .unwrap();
    for (title, rows) in [
        ("decode to serde_json::Value", &decode_value),
        ("decode to typed messages (AgentMsg)", &decode_typed),
        ("encode to frames", &encode),
    ] {
        writeln!(out, "| {title} | frames/s | MiB/s | × floor |\n|---|---|---|---|").unwrap();
        let floor = rows[0].time.as_secs_f64();
        for r in rows.iter() {
            let s = r.time.as_secs_f64();
            writeln!(out, "| {} | {:.0} | {:.0} | {:.2} |", r.name, n as f64 / s, mb / s, s / floor).unwrap();
        }
        writeln!(out).unwrap();
    }
}
