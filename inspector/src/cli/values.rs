//! `tabscope values --profile DIR`: every add-on's session values in a
//! profile on disk (the browser closed or crashed), from its session files;
//! `tabscope values`: the same of the running browser.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;
use tabscope_shared::model::Model;
use tabscope_shared::profile::edit::{self, Edit, Target};
use tabscope_shared::profile::{self, SessionFile};
use tabscope_shared::protocol::{Scope, SessionValue};
use tabscope_shared::terminal::escape;

/// The session file to read or edit: `--file` (a name in the profile or a
/// path), else the profile's current one.
fn chosen_file(
    profile_dir: &Path,
    files: &[SessionFile],
    file: Option<PathBuf>,
) -> anyhow::Result<SessionFile> {
    match file {
        Some(f) => {
            let path = if f.exists() { f } else { profile_dir.join(f) };
            let kind = files.iter().find(|s| s.path == path).map_or("given", |s| s.kind);
            let modified = std::fs::metadata(&path).ok().and_then(|m| m.modified().ok());
            Ok(SessionFile { path, kind, modified })
        }
        None => match files.first() {
            Some(f) => Ok(f.clone()),
            None => bail!(
                "{} holds no session file (session.json for Thunderbird, sessionstore.jsonlz4 or \
                 sessionstore-backups/*.jsonlz4 for Firefox): is it a profile folder?",
                profile_dir.display()
            ),
        },
    }
}

pub fn values(profile_dir: &Path, file: Option<PathBuf>, json_out: bool) -> anyhow::Result<()> {
    let files = profile::session_files(profile_dir);
    let chosen = chosen_file(profile_dir, &files, file)?;
    let names = profile::installed_addons(profile_dir);
    let found = profile::read_values(&chosen.path, &names).with_context(|| "reading session values")?;
    let age = chosen.modified.and_then(|m| m.elapsed().ok()).map(|d| d.as_secs());
    if json_out {
        let out = json!({
            "file": chosen.path, "kind": chosen.kind, "ageSeconds": age,
            "files": files.iter().map(|f| json!({"path": f.path, "kind": f.kind})).collect::<Vec<_>>(),
            "values": found,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let age = age.map_or("unknown age".into(), |s| {
        format!("written {} ago", humantime::format_duration(std::time::Duration::from_secs(s)))
    });
    println!("{} ({}, {age})", escape(&chosen.path.display().to_string()), chosen.kind);
    for f in files.iter().filter(|f| f.path != chosen.path) {
        println!("  also: {} ({}; --file to read it)", escape(&f.path.display().to_string()), f.kind);
    }
    if found.is_empty() {
        println!("no add-on stored a session value in this file");
    }
    for v in &found {
        let place = match (v.scope, v.tab) {
            (Scope::Window, _) => format!("window {}", v.window),
            (Scope::Tab, Some(t)) => format!("window {} tab {t}", v.window),
            (Scope::Tab, None) => format!("window {}", v.window),
        };
        let closed = if v.closed { " (closed)" } else { "" };
        let page = v.url.as_deref().or(v.title.as_deref()).unwrap_or("");
        let owner = match &v.extension_name {
            Some(n) => format!("{n} ({})", v.extension_id),
            None => v.extension_id.clone(),
        };
        println!(
            "{place}{closed} {}  {}  {} = {}",
            escape(page),
            escape(&owner),
            escape(&v.key),
            shown(&v.value)
        );
    }
    Ok(())
}

/// An offline edit of a profile's session file.
#[derive(Subcommand, Debug)]
pub enum EditCmd {
    /// Set an add-on's value on a tab (or a Firefox window).
    Set {
        #[command(flatten)]
        at: At,
        key: String,
        /// The value as JSON (`'"text"'`, `'{"a":1}'`), or as text with
        /// --string; `-` reads standard input, `@FILE` a file.
        value: String,
        /// Take VALUE as text, not JSON.
        #[arg(long)]
        string: bool,
    },
    /// Remove an add-on's value.
    Remove {
        #[command(flatten)]
        at: At,
        key: String,
    },
    /// Copy values from another session file (a backup, recovery or
    /// previous one) into this one, each to the same tab, where that tab
    /// still shows the same page.
    Restore {
        /// The file to copy from: a name in the profile or a path.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Only this add-on's values.
        #[arg(long, value_name = "ID")]
        addon: Option<String>,
        /// Only this key.
        #[arg(long)]
        key: Option<String>,
        /// Only this window (as `tabscope values` numbers them).
        #[arg(long)]
        window: Option<usize>,
        /// Only this tab of the window.
        #[arg(long)]
        tab: Option<usize>,
    },
}

/// Which value, as `tabscope values --profile` lists it.
#[derive(Args, Debug)]
pub struct At {
    /// Whose value: the add-on's id.
    #[arg(long, value_name = "ID")]
    addon: String,
    /// The window's number in the listing (0 is the first).
    #[arg(long)]
    window: usize,
    /// The tab's number in the window; without it, a window value (Firefox).
    #[arg(long)]
    tab: Option<usize>,
    /// A closed tab or window (Firefox keeps their values too).
    #[arg(long)]
    closed: bool,
}

impl At {
    fn target(&self, key: &str) -> Target {
        Target {
            scope: if self.tab.is_some() { Scope::Tab } else { Scope::Window },
            window: self.window,
            tab: self.tab,
            closed: self.closed,
            extension_id: self.addon.clone(),
            key: key.to_owned(),
        }
    }
}

pub fn edit(profile_dir: &Path, file: Option<PathBuf>, cmd: EditCmd, json_out: bool) -> anyhow::Result<()> {
    // First: a running browser may not have written its session file yet.
    if let Some(why) = profile::in_use(profile_dir) {
        bail!("{}: {why}", profile_dir.display());
    }
    let files = profile::session_files(profile_dir);
    let chosen = chosen_file(profile_dir, &files, file)?;
    let (written, left) = match cmd {
        EditCmd::Set { at, key, value, string } => {
            let text = super::input::read_arg(&value)?;
            let value = if string {
                SessionValue::String(text)
            } else {
                let v: serde_json::Value = serde_json::from_str(&text).with_context(|| {
                    format!(
                        "VALUE is not JSON (a string is written in quotes, '\"text\"', or give --string): {}",
                        escape(&text.chars().take(80).collect::<String>())
                    )
                })?;
                SessionValue::from_api_value(v)
            };
            (Some(edit::apply(profile_dir, &chosen.path, &[Edit::Set(at.target(&key), value)])?), Vec::new())
        }
        EditCmd::Remove { at, key } => {
            (Some(edit::apply(profile_dir, &chosen.path, &[Edit::Remove(at.target(&key))])?), Vec::new())
        }
        EditCmd::Restore { from, addon, key, window, tab } => {
            let from = if from.exists() { from } else { profile_dir.join(from) };
            if from == chosen.path {
                bail!("--from names the file being edited: give a backup, recovery or previous file");
            }
            let names = profile::installed_addons(profile_dir);
            edit::restore(profile_dir, &chosen.path, &from, &names, |v| {
                addon.as_ref().is_none_or(|a| *a == v.extension_id)
                    && key.as_ref().is_none_or(|k| *k == v.key)
                    && window.is_none_or(|w| w == v.window)
                    && tab.is_none_or(|t| Some(t) == v.tab)
            })?
        }
    };
    if json_out {
        println!("{}", serde_json::to_string_pretty(&json!({ "written": written, "notCopied": left }))?);
        return Ok(());
    }
    match &written {
        Some(w) => {
            for d in &w.done {
                println!("{}", escape(d));
            }
            println!(
                "wrote {}; the file as it was is kept as {}",
                escape(&w.file.display().to_string()),
                escape(&w.backup.display().to_string())
            );
        }
        None => println!("nothing to copy: {} is unchanged", escape(&chosen.path.display().to_string())),
    }
    for l in &left {
        println!("not copied: {}", escape(l));
    }
    Ok(())
}

/// A value on one line: long ones are cut, and say so (`--json` has it all).
fn shown(value: &SessionValue) -> String {
    const MAX: usize = 200;
    let text = value.to_api_value().to_string();
    let n = text.chars().count();
    if n <= MAX {
        return escape(&text).into_owned();
    }
    let head: String = text.chars().take(MAX).collect();
    format!("{}… ({n} characters; --json shows all)", escape(&head))
}

/// The running browser's values: the agent's own, and every other add-on's
/// where x-ray is on.
pub fn live(selector: Option<&str>, json_out: bool) -> anyhow::Result<()> {
    let mut c = super::bridges::connect(selector)?;
    let model = Model::from_snapshot(c.snapshot()?);
    let agent_id = c.agent.as_ref().map(|a| a.extension_id.clone()).unwrap_or_default();
    let rows = live_rows(&model, &agent_id);
    if json_out {
        println!("{}", serde_json::to_string_pretty(&json!({ "values": rows }))?);
        return Ok(());
    }
    if model.addons().is_none() {
        println!("(x-ray is not on in this browser's agent: only its own values are known)");
    }
    for r in &rows {
        let place = format!("{} {}", if r.scope == Scope::Tab { "tab" } else { "window" }, r.id);
        let url = escape(r.url.unwrap_or(""));
        println!("{place} {url}  {}  {} = {}", escape(r.extension_id), escape(r.key), shown(r.value));
    }
    Ok(())
}

/// One value of the running browser, whoever's it is.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LiveValue<'a> {
    scope: Scope,
    id: i64,
    url: Option<&'a str>,
    extension_id: &'a str,
    key: &'a str,
    value: &'a SessionValue,
}

/// Every window's and tab's values in window order: the agent's own first.
fn live_rows<'a>(model: &'a Model, agent_id: &'a str) -> Vec<LiveValue<'a>> {
    let mut rows = Vec::new();
    for w in model.window_ids() {
        let tabs = model.tabs_of(w).map(|t| (Scope::Tab, t.id, t.url.as_deref()));
        for (scope, id, url) in std::iter::once((Scope::Window, w, None)).chain(tabs) {
            let own = model.values(scope, id).map(|kv| (agent_id, kv));
            let theirs = model.addons().and_then(|a| a.values_of(scope, id)).into_iter().flatten();
            for (owner, kv) in own.into_iter().chain(theirs.map(|(e, kv)| (e.as_str(), kv))) {
                for (key, value) in kv {
                    rows.push(LiveValue { scope, id, url, extension_id: owner, key, value });
                }
            }
        }
    }
    rows
}
