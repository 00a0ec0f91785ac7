//! Reading every add-on's values from a big session file: the streaming
//! reader (`tabscope_shared::profile::read_values`, typed structs that skip
//! what they do not keep) against parsing the whole document into a
//! `serde_json::Value` first, as tabscope did before. Each run is a child
//! process, so its peak memory (VmHWM) is its own; both side by side in
//! one run, on the same files.
//!
//! `cargo bench -p tabscope-bench --bench profile_read`

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

/// A Firefox session like a heavy user's: `tabs` tabs with 20 history
/// entries each, form data and scroll state in every entry (what the
/// reader skips), and two add-ons' values on every tab.
fn session(tabs: usize) -> Value {
    let filler = "x".repeat(400);
    let tab = |i: usize| {
        let entries: Vec<Value> = (0..20)
            .map(|e| {
                json!({"url": format!("https://example.org/{i}/{e}"), "title": format!("Page {i}.{e}"),
                       "formdata": {"id": {"q": filler, "r": filler}}, "scroll": "0,1200",
                       "structuredCloneState": filler, "triggeringPrincipal_base64": filler})
            })
            .collect();
        json!({"entries": entries, "index": 20, "image": filler,
               "extData": {"extension:tree@x:state": format!("{{\"parent\":{i}}}"), "extension:groups@y:g": "\"work\""}})
    };
    json!({"version": ["sessionrestore", 1], "windows": [{"tabs": (0..tabs).map(tab).collect::<Vec<_>>(), "selected": 1}],
           "_closedWindows": [], "session": {"lastUpdate": 0}})
}

fn mozlz4(text: &[u8]) -> Vec<u8> {
    let mut out = b"mozLz40\0".to_vec();
    out.extend((text.len() as u32).to_le_bytes());
    out.extend(lz4_flex::block::compress(text));
    out
}

/// In the child: read `file` one way; print milliseconds, peak KiB, values.
fn child(mode: &str, file: &Path) {
    let start = Instant::now();
    let n = match mode {
        "streaming" => tabscope_shared::profile::read_values(file, &[]).unwrap().len(),
        _ => {
            let text = tabscope_shared::profile::read_session_text(file).unwrap();
            let v: Value = serde_json::from_slice(&text).unwrap();
            // The same walk over the tree: count the extension values.
            v["windows"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|w| w["tabs"].as_array().unwrap())
                .filter_map(|t| t.get("extData")?.as_object())
                .map(|o| o.keys().filter(|k| k.starts_with("extension:")).count())
                .sum()
        }
    };
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let peak = tabscope_bench::rss_kib(std::process::id(), "VmHWM:");
    println!("{ms:.0} {peak} {n}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        return child(&args[i + 1], Path::new(&args[i + 2]));
    }
    let dir = tempfile::tempdir().unwrap();
    println!("| file | size | reader | time | peak memory | values |");
    println!("|---|---|---|---|---|---|");
    for tabs in [2_000, 8_000] {
        let text = serde_json::to_vec(&session(tabs)).unwrap();
        let plain = dir.path().join(format!("session-{tabs}.json"));
        let lz4 = dir.path().join(format!("sessionstore-{tabs}.jsonlz4"));
        std::fs::write(&plain, &text).unwrap();
        std::fs::write(&lz4, mozlz4(&text)).unwrap();
        for (file, what) in [(&plain, "plain JSON"), (&lz4, "mozlz4")] {
            for mode in ["whole tree (before)", "streaming"] {
                let out = Command::new(std::env::current_exe().unwrap())
                    .args(["--child", mode.split(' ').next().unwrap(), file.to_str().unwrap()])
                    .output()
                    .unwrap();
                let said = String::from_utf8_lossy(&out.stdout);
                let f: Vec<&str> = said.split_whitespace().collect();
                let size = std::fs::metadata(file).unwrap().len() as f64 / 1e6;
                let peak = f[1].parse::<f64>().unwrap() / 1024.0;
                println!(
                    "| {tabs} tabs, {what} ({:.0} MB of JSON) | {size:.0} MB | {mode} | {} ms | {peak:.0} MB | {} |",
                    text.len() as f64 / 1e6,
                    f[0],
                    f[2]
                );
            }
        }
    }
}
