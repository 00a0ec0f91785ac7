//! `tabscope wait EVENT [--match JSON] [--timeout D]`: for scripts and an
//! add-on's CI: the first such event after the wait began, as one JSON line;
//! exit status 1 when the time is up or the browser goes away.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use tabscope_shared::client::{Session, SessionEvent};
use tabscope_shared::pattern;
use tabscope_shared::protocol::{AgentHello, ServerMsg};
use tabscope_shared::terminal::{escape, escape_json};

pub fn wait(
    selector: Option<&str>,
    event: &str,
    matching: Option<&str>,
    timeout: Option<Duration>,
) -> anyhow::Result<()> {
    let pattern: Value = match matching {
        Some(m) => {
            let text = super::input::read_arg(m)?;
            serde_json::from_str(&text).with_context(|| format!("--match is not JSON: {}", escape(&text)))?
        }
        None => Value::Object(Default::default()),
    };
    let d = super::bridges::pick(selector)?;
    let session = Session::spawn(&d.socket, std::sync::Arc::new(|| {}))?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut announced = false;
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let got = match left {
            Some(l) => session.rx.recv_timeout(l).ok(),
            None => session.rx.recv().ok(),
        };
        let msg = match got {
            Some(SessionEvent::Msg(m)) => m,
            Some(SessionEvent::Warning(w)) => {
                eprintln!("tabscope: {}", escape(&w));
                continue;
            }
            Some(SessionEvent::Closed(why)) => bail!("the bridge went away before {event}: {why}"),
            None => bail!(
                "timed out after {} waiting for {event}",
                humantime::format_duration(timeout.unwrap_or_default())
            ),
        };
        match msg {
            ServerMsg::Hello { agent: Some(a), .. } if !announced => {
                check_event(&a, event)?;
                // Scripts may start the action once this line is out.
                eprintln!("tabscope: waiting for {event}");
                announced = true;
            }
            ServerMsg::Event { received, event: e } if announced && e.name == event => {
                let mut v = serde_json::to_value(&e)?;
                if pattern::contains(&v, &pattern) {
                    v["received"] = received.into();
                    println!("{}", escape_json(&v.to_string()));
                    return Ok(());
                }
            }
            _ => {}
        }
    }
}

/// A name this browser has, so that a typo fails at once instead of
/// waiting for ever.
fn check_event(agent: &AgentHello, event: &str) -> anyhow::Result<()> {
    let c = &agent.capabilities;
    let known = c
        .tabs_events
        .iter()
        .map(|e| format!("tabs.{e}"))
        .chain(c.windows_events.iter().map(|e| format!("windows.{e}")))
        .collect::<Vec<_>>();
    if known.is_empty() || known.iter().any(|k| k == event) || event.starts_with("tabscope.") {
        return Ok(());
    }
    bail!(
        "{} has no event {}; it has: {}",
        escape(&format!("{} {}", agent.browser.name, agent.browser.version)),
        escape(event),
        known.join(", ")
    )
}
