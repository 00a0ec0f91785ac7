//! Subcommands that talk to a running bridge.

use std::io::{self, Write};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tabscope_shared::client::{Client, ClientError};
use tabscope_shared::discovery::{self, Discovery};
use tabscope_shared::methods::{self, METHODS};
use tabscope_shared::protocol::ServerMsg;
use tabscope_shared::terminal::{escape, escape_json};

/// Prints JSON for a person or a program: valid JSON, with nothing a
/// terminal would act on (see `terminal`).
pub fn print_json(v: &impl serde::Serialize, pretty: bool) -> anyhow::Result<()> {
    let text = if pretty { serde_json::to_string_pretty(v)? } else { serde_json::to_string(v)? };
    println!("{}", escape_json(&text));
    Ok(())
}

/// The bridge the user means (see `discovery::select`).
pub fn pick(selector: Option<&str>) -> anyhow::Result<Discovery> {
    let dir = discovery::runtime_dir_path();
    let all = discovery::list_bridges(&dir).with_context(|| format!("reading {}", dir.display()))?;
    discovery::select(&all, selector).cloned().map_err(anyhow::Error::msg)
}

pub fn connect(selector: Option<&str>) -> anyhow::Result<Client> {
    let d = pick(selector)?;
    Ok(Client::connect(&d.socket)?)
}

fn age(started_ms: f64) -> String {
    let secs = ((tabscope_shared::now_ms() - started_ms) / 1000.0).max(0.0) as u64;
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

pub fn list(json: bool) -> anyhow::Result<()> {
    let dir = discovery::runtime_dir_path();
    let all = discovery::list_bridges(&dir)?;
    if json {
        return print_json(&all, true);
    }
    let taps = tabscope_shared::tap::live::running(&tabscope_shared::trace::default_dir());
    for t in &taps {
        println!(
            "tapped host {} running (tap pid {}): `tabscope watch --tap {}`",
            escape(&t.name),
            t.pid,
            escape(&t.name)
        );
    }
    if all.is_empty() {
        println!("no bridge running (in {}).", dir.display());
        println!(
            "Start a browser with the agent: `tabscope launch thunderbird`, or check the setup: `tabscope doctor`."
        );
        return Ok(());
    }
    println!("{:<8} {:<28} {:<10} {:<32} PROFILE", "PID", "BROWSER", "UP", "AGENT");
    for d in &all {
        println!(
            "{:<8} {:<28} {:<10} {:<32} {}",
            d.bridge.pid,
            escape(&d.browser_label()),
            age(d.bridge.started),
            escape(d.bridge.extension_id.as_deref().unwrap_or("-")),
            escape(d.bridge.profile.as_deref().unwrap_or("-"))
        );
    }
    Ok(())
}

pub fn snapshot(selector: Option<&str>) -> anyhow::Result<()> {
    let mut c = connect(selector)?;
    let snap = c.snapshot()?;
    print_json(&json!({ "bridge": c.bridge, "agent": c.agent, "snapshot": snap }), true)
}

/// Prints events as they come. When the bridge goes away (the browser quit,
/// the bridge crashed) it says so and waits for the same browser's next
/// bridge — the agent reconnects with backoff — and goes on with it.
pub fn watch(selector: Option<&str>, json: bool) -> anyhow::Result<()> {
    let mut d = pick(selector)?;
    let mut c = Client::connect(&d.socket)?;
    let stdout = io::stdout();
    loop {
        let msg = match c.recv() {
            Ok(m) => m,
            Err(e) => {
                (d, c) = resume(e, &d);
                continue;
            }
        };
        let mut out = stdout.lock();
        let written = match &msg {
            ServerMsg::Event { received, event } if json => {
                let mut v = serde_json::to_value(event)?;
                v["received"] = json!(received);
                writeln!(out, "{}", escape_json(&v.to_string()))
            }
            ServerMsg::Event { event, .. } => {
                let t = event.target();
                let id = |x: Option<i64>| x.map_or("-".into(), |v| v.to_string());
                writeln!(
                    out,
                    "{:>6} {:<32} w{:<4} t{:<6} {}",
                    event.seq,
                    escape(&event.name),
                    id(t.window),
                    id(t.tab),
                    escape(&event.summary())
                )
            }
            ServerMsg::Error { message, .. } => {
                eprintln!("tabscope: bridge error: {}", escape(message));
                Ok(())
            }
            ServerMsg::Lagged { dropped } => {
                eprintln!("tabscope: fell behind, {dropped} messages skipped; resynced");
                Ok(())
            }
            _ => Ok(()),
        };
        // A closed pipe (`| head`) ends the watch quietly.
        if written.and_then(|_| out.flush()).is_err() {
            return Ok(());
        }
    }
}

/// The connection to `old` broke with `e`: says so, waits for the same
/// browser's next bridge (the agent reconnects with backoff), says so.
pub(crate) fn resume(e: ClientError, old: &Discovery) -> (Discovery, Client) {
    let why = match e {
        ClientError::Closed => "the bridge closed the connection".to_owned(),
        e => format!("lost the bridge: {e}"),
    };
    eprintln!(
        "tabscope: {} ({}, bridge pid {}); waiting for its add-on to reconnect (Ctrl-C to stop)",
        escape(&why),
        escape(&old.browser_label()),
        old.bridge.pid
    );
    let (d, c) = reconnect(old);
    eprintln!("tabscope: reconnected to {} (bridge pid {})", escape(&d.browser_label()), d.bridge.pid);
    (d, c)
}

/// Waits for another bridge of the same browser, profile and agent (a new pid, its
/// agent connected) and connects to it. Stale discovery files are skipped
/// by `list_bridges`, so a dead bridge is never connected to.
fn reconnect(old: &Discovery) -> (Discovery, Client) {
    let dir = discovery::runtime_dir_path();
    let same = |d: &Discovery| d.bridge.pid != old.bridge.pid && d.same_agent(old);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(250));
        let found = discovery::list_bridges(&dir).unwrap_or_default().into_iter().find(same);
        if let Some(d) = found
            && let Ok(c) = Client::connect(&d.socket)
        {
            return (d, c);
        }
    }
}

pub fn call(selector: Option<&str>, method: &str, params: &str) -> anyhow::Result<()> {
    let text = super::input::read_arg(params)?;
    let params: Value = serde_json::from_str(&text).with_context(|| {
        let head: String = text.chars().take(200).collect();
        format!("PARAMS is not valid JSON: {}", escape(&head))
    })?;
    // Check here too, so a typo fails before looking for a bridge.
    methods::validate(method, &params).map_err(anyhow::Error::msg)?;
    let mut c = connect(selector)?;
    match c.call(method, params) {
        Ok(v) => print_json(&v, true),
        Err(ClientError::Browser(e)) => match methods::caveat(method) {
            Some(why) => bail!("{method}: {e}\n(note: {method} {why})"),
            None => bail!("{method}: {e}"),
        },
        Err(e) => Err(e.into()),
    }
}

pub fn methods(json: bool) -> anyhow::Result<()> {
    if json {
        let v: serde_json::Map<String, Value> = METHODS
            .iter()
            .map(|m| {
                let caveat = methods::caveat(m.name);
                (m.name.to_owned(), json!({"params": m.params, "caveat": caveat}))
            })
            .collect();
        print_json(&v, true)?;
    } else {
        for m in METHODS {
            println!("{:<30} {{{}}}", m.name, m.params.join(", "));
            if let Some(c) = methods::caveat(m.name) {
                println!("{:<30}   note: {c}", "");
            }
        }
    }
    Ok(())
}
