//! `tabscope tap [NAME]`, `tabscope untap NAME` and the hidden `tap-run`
//! the tapped manifest starts (see `tabscope_shared::tap`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::ValueEnum;
use tabscope_shared::tap::manifests::{Browser, TapRun, Taps};
use tabscope_shared::tap::relay;
use tabscope_shared::terminal::escape;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TapBrowser {
    Firefox,
    Thunderbird,
    Chrome,
    Chromium,
    Edge,
    All,
}

impl TapBrowser {
    fn browsers(self) -> Vec<Browser> {
        match self {
            TapBrowser::Firefox => vec![Browser::Firefox],
            TapBrowser::Thunderbird => vec![Browser::Thunderbird],
            TapBrowser::Chrome => vec![Browser::Chrome],
            TapBrowser::Chromium => vec![Browser::Chromium],
            TapBrowser::Edge => vec![Browser::Edge],
            TapBrowser::All => Browser::ALL.to_vec(),
        }
    }
}

pub fn taps() -> anyhow::Result<Taps> {
    let home =
        directories::BaseDirs::new().context("cannot find the home directory")?.home_dir().to_path_buf();
    let dir = directories::ProjectDirs::from("dev", "tabscope", "tabscope")
        .context("no data folder")?
        .data_dir()
        .join("taps");
    Ok(Taps { home, dir })
}

pub fn tap(name: Option<&str>, browser: TapBrowser, json: bool) -> anyhow::Result<()> {
    let taps = taps()?;
    let Some(name) = name else {
        let hosts = taps.hosts(&browser.browsers());
        if json {
            println!("{}", serde_json::to_string_pretty(&hosts)?);
            return Ok(());
        }
        if hosts.is_empty() {
            println!("no native-messaging host manifest found");
        }
        for h in hosts {
            let browsers: Vec<&str> = h.browsers.iter().map(|b| b.name()).collect();
            println!(
                "{:<32} {:<8} {:<26} {}",
                escape(&h.name),
                if h.tapped { "TAPPED" } else { "" },
                browsers.join(","),
                escape(&h.manifest.display().to_string())
            );
        }
        return Ok(());
    };
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let traces = tabscope_shared::trace::default_dir();
    let run = TapRun { exe: dunce::canonicalize(&exe).unwrap_or(exe), traces: traces.clone() };
    let changed = taps.tap(name, &browser.browsers(), &run).map_err(anyhow::Error::msg)?;
    for m in changed {
        println!(
            "tapped {} (the original is kept; `tabscope untap {name}` restores it)",
            escape(&m.display().to_string())
        );
    }
    println!(
        "Each time the browser starts {name}, its frames are recorded in {} (tap-{name}-*.jsonl); \
         open one with `tabscope open`. Restart the add-on (or the browser) for it to take effect.",
        escape(&traces.display().to_string())
    );
    Ok(())
}

pub fn untap(name: &str) -> anyhow::Result<()> {
    for m in taps()?.untap(name).map_err(anyhow::Error::msg)? {
        println!("restored {}", escape(&m.display().to_string()));
    }
    Ok(())
}

/// In the host's place: never prints to stdout (that is the browser's).
pub fn run(name: &str, host: &Path, traces: &Path, args: &[OsString]) -> anyhow::Result<i32> {
    tabscope_shared::tap::manifests::check_name(name).map_err(anyhow::Error::msg)?;
    tabscope_shared::discovery::ensure_private_dir(traces)
        .with_context(|| format!("{}", traces.display()))?;
    let trace: PathBuf = relay::trace_path(traces, name);
    Ok(relay::run(name, host, args, &trace)?)
}

/// `tabscope watch --tap NAME`: every frame of the host's runs as they
/// happen, one line each (JSON with `--json`), until Ctrl-C.
pub fn watch(name: &str, json: bool) -> anyhow::Result<()> {
    use std::io::Write;
    use tabscope_shared::tap::live;
    use tabscope_shared::trace::{Direction, Record};
    tabscope_shared::tap::manifests::check_name(name).map_err(anyhow::Error::msg)?;
    let traces = tabscope_shared::trace::default_dir();
    let mut seen: Vec<std::path::PathBuf> = Vec::new();
    let mut said_waiting = false;
    loop {
        let Some(run) =
            live::running(&traces).into_iter().rev().find(|r| r.name == name && !seen.contains(&r.trace))
        else {
            if !said_waiting {
                eprintln!("tabscope: waiting for a browser to start {name} (is it tapped? `tabscope tap`)");
                said_waiting = true;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            continue;
        };
        said_waiting = false;
        eprintln!(
            "tabscope: {name} started (tap pid {}, {})",
            run.pid,
            escape(&run.trace.display().to_string())
        );
        seen.push(run.trace.clone());
        let stdout = std::io::stdout();
        let mut closed = false;
        live::follow(&run.trace, run.pid, |r| {
            let mut out = stdout.lock();
            let written = match &r {
                Record::Frame { t, frame } if json => {
                    let v = serde_json::json!({"t": t, "dir": frame.dir, "size": frame.size, "message": frame.json});
                    writeln!(out, "{}", tabscope_shared::terminal::escape_json(&v.to_string()))
                }
                Record::Frame { frame, .. } => {
                    let way = if frame.dir == Direction::ToHost { "-> host   " } else { "<- browser" };
                    let msg = frame.json.as_ref().map_or_else(|| "(not JSON)".to_owned(), |j| j.to_string());
                    let msg: String = msg.chars().take(300).collect();
                    writeln!(out, "{way} {:>9} B  {}", frame.size, escape(&msg))
                }
                Record::Error { message, .. } => {
                    eprintln!("tabscope: {name}: {}", escape(message));
                    Ok(())
                }
                _ => Ok(()),
            };
            // A closed pipe (`| head`) ends the watch quietly.
            closed = written.and_then(|_| out.flush()).is_err();
            !closed
        })?;
        if closed {
            return Ok(());
        }
        eprintln!("tabscope: that run of {name} ended");
    }
}
