//! `tabscope values --profile DIR`: every add-on's session values in a
//! profile on disk (the browser closed or crashed), from its session files;
//! `tabscope values`: the same of the running browser.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::json;
use tabscope_shared::profile::{self, SessionFile};
use tabscope_shared::protocol::Scope;
use tabscope_shared::terminal::escape;

pub fn values(profile_dir: &Path, file: Option<PathBuf>, json_out: bool) -> anyhow::Result<()> {
    let files = profile::session_files(profile_dir);
    let chosen = match file {
        Some(f) => files
            .iter()
            .find(|s| {
                s.path == f
                    || s.path.file_name() == f.file_name()
                        && f.parent().is_none_or(|p| p.as_os_str().is_empty())
            })
            .cloned()
            .unwrap_or(SessionFile {
                modified: std::fs::metadata(&f).ok().and_then(|m| m.modified().ok()),
                path: f,
                kind: "given",
            }),
        None => match files.first() {
            Some(f) => f.clone(),
            None => bail!(
                "{} holds no session file (session.json for Thunderbird, sessionstore.jsonlz4 or \
                 sessionstore-backups/*.jsonlz4 for Firefox): is it a profile folder?",
                profile_dir.display()
            ),
        },
    };
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
        println!("{place}{closed} {}  {}  {} = {}", escape(page), escape(&owner), escape(&v.key), shown(v));
    }
    Ok(())
}

/// A value on one line: long ones are cut, and say so (`--json` has it all).
fn shown(v: &profile::OfflineValue) -> String {
    const MAX: usize = 200;
    let text = v.value.to_api_value().to_string();
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
    let snap = c.snapshot()?;
    let model = tabscope_shared::model::Model::from_snapshot(snap);
    let agent_id = c.agent.as_ref().map(|a| a.extension_id.clone()).unwrap_or_default();
    let mut rows = Vec::new();
    let objects = model.window_ids().flat_map(|w| {
        std::iter::once((Scope::Window, w))
            .chain(model.tabs_of(w).map(|t| (Scope::Tab, t.id)).collect::<Vec<_>>())
    });
    for (scope, id) in objects.collect::<Vec<_>>() {
        let url = match scope {
            Scope::Tab => model.tab(id).and_then(|t| t.url.clone()),
            Scope::Window => None,
        };
        let mut owners: Vec<(String, &tabscope_shared::protocol::SessionValues)> = Vec::new();
        if let Some(v) = model.values(scope, id) {
            owners.push((agent_id.clone(), v));
        }
        if let Some(by) = model.addons().and_then(|a| a.values_of(scope, id)) {
            owners.extend(by.iter().map(|(e, v)| (e.clone(), v)));
        }
        for (owner, kv) in owners {
            for (key, value) in kv {
                rows.push(json!({"scope": scope, "id": id, "url": url, "extensionId": owner, "key": key, "value": value}));
            }
        }
    }
    if json_out {
        println!("{}", serde_json::to_string_pretty(&json!({ "values": rows }))?);
        return Ok(());
    }
    if model.addons().is_none() {
        println!("(x-ray is not on in this browser's agent: only its own values are known)");
    }
    for r in &rows {
        let v = tabscope_shared::protocol::SessionValue::from_api_value(r["value"]["value"].clone());
        let text = v.to_api_value().to_string();
        println!(
            "{} {} {}  {}  {} = {}",
            r["scope"].as_str().unwrap_or(""),
            r["id"],
            escape(r["url"].as_str().unwrap_or("")),
            escape(r["extensionId"].as_str().unwrap_or("")),
            escape(r["key"].as_str().unwrap_or("")),
            escape(&text.chars().take(200).collect::<String>())
        );
    }
    Ok(())
}
