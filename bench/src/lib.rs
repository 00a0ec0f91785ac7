//! What the benchmarks share: realistic Thunderbird traffic, a timer that
//! keeps the best of several runs, and markdown rows.

pub mod bridge;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A tab as Thunderbird 153 reports it, every field set.
pub fn tab(id: i64, window: i64, index: usize) -> Value {
    json!({"id": id, "index": index, "windowId": window, "highlighted": index == 0, "active": index == 0,
        "status": "complete", "width": 1321, "height": 626, "groupId": -1, "splitViewId": -1,
        "cookieStoreId": "firefox-default", "url": format!("https://example.org/page/{id}"),
        "title": format!("Example page {id}"), "favIconUrl": "chrome://global/skin/icons/info.svg",
        "type": "content", "mailTab": false})
}

pub fn updated(seq: u64, id: i64) -> Value {
    json!({"type": "event", "seq": seq, "time": 1.7637e12 + seq as f64, "name": "tabs.onUpdated",
        "args": [id, {"title": format!("Example page {id} ({seq})")}, tab(id, 1, (id % 50) as usize)]})
}

/// An x-ray activity record as Thunderbird's fixture add-on makes them
/// (`sessions.getTabValue` from its background page, ~330 bytes).
pub fn activity(seq: u64, id: i64) -> Value {
    json!({"type": "event", "seq": seq, "time": 1.7637e12 + seq as f64, "name": "tabscope.onAddonActivity",
        "args": [{"extensionId": "other-addon@tabscope.test", "extensionName": "Other add-on",
                  "type": "api_call", "name": "sessions.getTabValue", "viewType": "background",
                  "time": 1.7637e12 + seq as f64, "data": {"args": [id, format!("reading-position-{seq}")]}}]})
}

pub fn created(seq: u64, id: i64) -> Value {
    json!({"type": "event", "seq": seq, "time": 1.7637e12 + seq as f64, "name": "tabs.onCreated",
        "args": [tab(id, 1, (id % 50) as usize)]})
}

/// A snapshot of one window with `tabs` tabs, each with `values` session values.
pub fn snapshot(tabs: i64, values: usize) -> Value {
    let list: Vec<Value> = (0..tabs).map(|i| tab(i + 1, 1, i as usize)).collect();
    let mut tab_values = serde_json::Map::new();
    if values > 0 {
        for i in 0..tabs {
            let vals: serde_json::Map<String, Value> = (0..values)
                .map(|k| (format!("key{k}"), json!({"type": "string", "value": format!("value {i}/{k}")})))
                .collect();
            tab_values.insert((i + 1).to_string(), Value::Object(vals));
        }
    }
    json!({"type": "snapshot", "windows": [{"id": 1, "focused": true, "type": "normal", "tabs": list}],
        "tabValues": tab_values})
}

/// The mix the codec is measured on: 2,000 onUpdated, 500 onCreated, 50
/// snapshots of 10 tabs, 2 of 1,000 tabs, interleaved; encoded payloads.
pub fn traffic() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut seq = 0;
    for i in 0..2000i64 {
        seq += 1;
        out.push(updated(seq, i % 100 + 1));
        if i % 4 == 0 {
            seq += 1;
            out.push(created(seq, 1000 + i));
        }
        if i % 40 == 0 {
            out.push(snapshot(10, 0));
        }
        if i % 1000 == 999 {
            out.push(snapshot(1000, 0));
        }
    }
    out.iter().map(|v| serde_json::to_vec(v).unwrap()).collect()
}

/// The best (least) time of `runs` runs of `f`, each repeated until it has
/// taken at least `min` in all: the noise of a shared machine only adds.
pub fn best_of(runs: usize, min: Duration, mut f: impl FnMut()) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        let mut reps = 0u32;
        while start.elapsed() < min || reps == 0 {
            f();
            reps += 1;
        }
        best = best.min(start.elapsed() / reps);
    }
    best
}

/// Resident memory of a process, KiB: `field` is "VmRSS:" or "VmHWM:".
pub fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// CPU time process `pid` has used (all its threads, user and system).
pub fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name come fields 3, 4, ... of proc(5): utime and
    // stime are fields 14 and 15. Counted by position: some fields before
    // them are not numbers (the state) or negative (tpgid without a tty).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let field =
        |n: usize| rest.split_whitespace().nth(n - 3).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let ticks = field(14) + field(15);
    Duration::from_secs_f64(ticks as f64 / hz)
}

/// The workspace's `target/<profile>/` binary `name`, built by cargo for this bench.
pub fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    dir.join(name)
}

/// The agent's hello as Thunderbird's agent sends it.
pub fn hello() -> Value {
    json!({"type": "hello", "protocol": 1, "agentVersion": "0.1.0",
        "browser": {"name": "Thunderbird", "vendor": "Mozilla", "version": "153.7.0"},
        "extensionId": "tabscope-agent@tabscope.dev", "manifestVersion": 2,
        "capabilities": {"tabs": ["create", "get", "query", "update"], "tabsEvents": ["onCreated", "onUpdated"],
            "windows": ["getAll"], "windowsEvents": ["onCreated"], "sessions": ["getTabValue", "setTabValue"]}})
}

/// Quantile `q` (0..=1) of sorted samples.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// CPU time of the calling thread.
    fn thread_cpu() -> Duration {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: ts is a valid timespec to write to.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    #[test]
    fn cpu_of_counts_the_user_time_of_every_thread() {
        // A thread that has used 300 ms of CPU, mostly user time, then ended.
        std::thread::spawn(|| {
            let mut x = 0u64;
            while thread_cpu() < Duration::from_millis(300) {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        })
        .join()
        .unwrap();
        // Ticks are 10 ms; the spin's system time is near nothing.
        let cpu = super::cpu_of(std::process::id());
        assert!(cpu >= Duration::from_millis(250), "{cpu:?}");
    }
}
