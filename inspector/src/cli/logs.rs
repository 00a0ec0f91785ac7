//! `tabscope logs`: every add-on's console (x-ray) as the bridge kept it,
//! then, with `--follow`, each new record as it comes.

use std::io::{self, Write};

use tabscope_shared::addons::XrayState;
use tabscope_shared::console::{ConsoleFilter, ConsoleRecord, Level, Origin};
use tabscope_shared::event::ADDON_CONSOLE;
use tabscope_shared::protocol::ServerMsg;
use tabscope_shared::terminal::{escape, escape_json};

use super::bridges::{pick, resume};

/// One record for a terminal: time, level, add-on, text, place; an error's
/// stack below it, indented. Everything from outside escaped.
pub fn text_line(r: &ConsoleRecord) -> String {
    let time = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(r.time.max(0.0) / 1000.0),
    )
    .to_string();
    let clock = time.get(11..23).unwrap_or(&time);
    let origin = match r.origin {
        Origin::Console => String::new(),
        o => format!(" {}", o.as_str()),
    };
    let mut s =
        format!("{clock} {:<5} [{}]{origin} {}", r.level.as_str(), escape(&r.extension_id), escape(&r.text));
    if let Some(t) = &r.truncated {
        s.push_str(&format!(" [cut: {} characters in all]", t.chars.max(r.text.chars().count() as u64)));
    }
    if let Some(loc) = r.location() {
        s.push_str(&format!("  ({})", escape(&loc)));
    }
    if let Some(w) = &r.context {
        s.push_str(&format!(" in {}", escape(w)));
    }
    if r.earlier {
        s.push_str(" [earlier: logged before tabscope listened]");
    }
    if r.is_error()
        && let Some(stack) = &r.stack
    {
        for frame in stack.lines().filter(|l| !l.trim().is_empty()) {
            s.push_str("\n      at ");
            s.push_str(&escape(frame));
        }
    }
    s
}

fn print(out: &mut impl Write, r: &ConsoleRecord, json: bool) -> io::Result<()> {
    if json {
        let v = serde_json::to_value(r).map_err(io::Error::other)?;
        writeln!(out, "{}", escape_json(&v.to_string()))
    } else {
        writeln!(out, "{}", text_line(r))
    }
}

pub fn logs(
    selector: Option<&str>,
    addon: Option<String>,
    level: Option<Level>,
    follow: bool,
    json: bool,
) -> anyhow::Result<()> {
    let mut d = pick(selector)?;
    let mut c = tabscope_shared::client::Client::connect(&d.socket)?;
    if let Some(agent) = &c.agent
        && agent.capabilities.xray != Some(XrayState::On)
    {
        let why = agent.capabilities.xray_why.as_deref().unwrap_or(
            "the agent was packaged without it; `tabscope launch` adds it, `tabscope package --xray` for an everyday profile",
        );
        eprintln!(
            "tabscope: x-ray is not on in this browser's agent, so no add-on's console can be seen: {}",
            escape(why)
        );
    }
    let filter = ConsoleFilter { extension_id: addon, level, text: None };
    let (kept, counts) = c.kept_console(filter.extension_id.as_deref(), level, |_| {})?;
    let stdout = io::stdout();
    {
        let mut out = stdout.lock();
        for r in &kept {
            if print(&mut out, r, json).is_err() {
                return Ok(()); // a closed pipe (`| head`)
            }
        }
        let _ = out.flush();
    }
    for n in counts.iter().filter(|n| n.dropped > 0) {
        eprintln!(
            "tabscope: {} records of {} were let go: logged faster than x-ray passes on (1,000 a second), \
             or older than the newest {} MiB the bridge keeps of each add-on ({} seen in all)",
            n.dropped,
            escape(&n.extension_id),
            tabscope_shared::console::ConsoleStore::DEFAULT_BUDGET >> 20,
            n.seen
        );
    }
    if kept.is_empty() && !follow {
        let about =
            filter.extension_id.as_deref().map(|id| format!(" of {}", escape(id))).unwrap_or_default();
        eprintln!("tabscope: no console records{about} kept by this bridge");
    }
    if !follow {
        return Ok(());
    }
    loop {
        let msg = match c.recv() {
            Ok(m) => m,
            Err(e) => {
                (d, c) = resume(e, &d);
                continue;
            }
        };
        let ServerMsg::Event { event, .. } = msg else { continue };
        if event.name != ADDON_CONSOLE {
            continue;
        }
        let Some(r) =
            event.args.first().and_then(|a| serde_json::from_value::<ConsoleRecord>(a.clone()).ok())
        else {
            continue;
        };
        if !filter.matches(&r) {
            continue;
        }
        let mut out = stdout.lock();
        if print(&mut out, &r, json).and_then(|_| out.flush()).is_err() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_hostile_record_prints_as_one_escaped_line_with_its_stack() {
        let r: ConsoleRecord = serde_json::from_value(json!({
            "extensionId": "evil@x\u{1b}]0;owned\u{7}", "source": "error", "level": "error",
            "text": "boom\u{1b}[2J\nsecond line", "file": "moz-extension://u/bg.js", "line": 3, "column": 9,
            "time": 0.0, "stack": "f@moz-extension://u/bg.js:3:9\n\u{202e}g@x:1:1", "earlier": true}))
        .unwrap();
        let text = text_line(&r);
        assert!(!text.chars().any(|c| c != '\n' && tabscope_shared::terminal::is_unsafe(c)), "{text:?}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "the record, then one line per frame: {text}");
        assert!(
            lines[0].starts_with("00:00:00.000 error [evil@x\\x1b]0;owned\\x07] error boom\\x1b[2J\\nsecond")
        );
        assert!(
            lines[0].ends_with("(moz-extension://u/bg.js:3:9) [earlier: logged before tabscope listened]")
        );
        assert_eq!(lines[2], "      at \\u{202e}g@x:1:1");
    }
}
