//! Offline edits of a profile's session values, and recovery from a backup
//! file: only while no browser has the profile open, written atomically,
//! with a copy of what was there, and every other byte of the file kept.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::{MOZLZ4_MAGIC, OfflineValue, ProfileError, bad, lock, read_session_text, splice, widget_id};
use crate::files;
use crate::protocol::{Scope, SessionValue};

/// Which value: where it is in the file (as `tabscope values` lists it),
/// whose it is and its key.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub scope: Scope,
    pub window: usize,
    pub tab: Option<usize>,
    pub closed: bool,
    pub extension_id: String,
    pub key: String,
}

impl Target {
    pub fn of(v: &OfflineValue) -> Self {
        Target {
            scope: v.scope,
            window: v.window,
            tab: v.tab,
            closed: v.closed,
            extension_id: v.extension_id.clone(),
            key: v.key.clone(),
        }
    }

    fn place(&self) -> String {
        let tab = self.tab.map(|t| format!(" tab {t}")).unwrap_or_default();
        let closed = if self.closed { " (closed)" } else { "" };
        format!("window {}{tab}{closed}", self.window)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    Set(Target, SessionValue),
    Remove(Target),
}

/// What an edit did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Written {
    pub file: PathBuf,
    /// The file as it was before, kept beside it.
    pub backup: PathBuf,
    /// One line per edit, in order.
    pub done: Vec<String>,
}

/// Applies `edits` to the session file `file` of `profile`, all or none.
pub fn apply(profile: &Path, file: &Path, edits: &[Edit]) -> Result<Written, ProfileError> {
    if let Some(why) = lock::in_use(profile) {
        return Err(bad(profile, why));
    }
    let raw = fs::read(file).map_err(|e| bad(file, e))?;
    let compressed = raw.starts_with(MOZLZ4_MAGIC);
    let text = read_session_text(file)?;
    let mut text = String::from_utf8(text).map_err(|_| bad(file, "not UTF-8 text"))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| bad(file, format!("bad JSON: {e}")))?;
    let thunderbird = is_thunderbird(&doc);
    let mut done = Vec::new();
    for edit in edits {
        let (target, new) = match edit {
            Edit::Set(t, v) => (t, Some(encode(thunderbird, v).map_err(|e| bad(file, e))?)),
            Edit::Remove(t) => (t, None),
        };
        let (path, member) = locate(&doc, thunderbird, target).map_err(|e| bad(file, e))?;
        let changed = splice::edit_member(&text, &path, &member, new.as_deref())
            .map_err(|e| bad(file, format!("{}: {e}", target.place())))?;
        let what = format!("{} {} {}", target.place(), target.extension_id, target.key);
        match changed {
            Some(t) => {
                text = t;
                done.push(format!("{} {what}", if new.is_some() { "set" } else { "removed" }));
            }
            None => return Err(bad(file, format!("{what}: no such value to remove"))),
        }
    }
    let bytes = if compressed { mozlz4(text.as_bytes()) } else { text.into_bytes() };
    let backup = keep_backup(file, &raw).map_err(|e| bad(file, format!("keeping a backup: {e}")))?;
    let mode = file_mode(file);
    files::write_atomic(file, &bytes, mode).map_err(|e| bad(file, format!("writing: {e}")))?;
    Ok(Written { file: file.to_owned(), backup, done })
}

/// Copies values from `from` (a backup, recovery or previous session file)
/// into `file`, each to the same window and tab; `keep` picks which. A
/// value whose tab shows another page in `file` is not copied: positions
/// shift when tabs open and close, and a value on the wrong tab is worse
/// than none. Returns what was written and what was left, with why.
pub fn restore(
    profile: &Path,
    file: &Path,
    from: &Path,
    names: &[(String, Option<String>)],
    keep: impl Fn(&OfflineValue) -> bool,
) -> Result<(Option<Written>, Vec<String>), ProfileError> {
    let wanted: Vec<OfflineValue> =
        super::read_values(from, names)?.into_iter().filter(|v| keep(v)).collect();
    let doc = super::SessionDoc::read(file)?;
    let now = doc.values(names);
    let mut edits = Vec::new();
    let mut left = Vec::new();
    for v in wanted {
        let t = Target::of(&v);
        let here = t.tab.and_then(|tab| doc.session.url_at(t.window, tab, t.closed));
        if v.url.is_some() && here.is_some() && here != v.url {
            left.push(format!(
                "{} {} {}: that tab now shows {} (was {}); not copied",
                t.place(),
                t.extension_id,
                t.key,
                here.unwrap_or_default(),
                v.url.unwrap_or_default()
            ));
        } else if now.iter().any(|n| Target::of(n) == t && n.value == v.value) {
            left.push(format!("{} {} {}: already the same", t.place(), t.extension_id, t.key));
        } else {
            edits.push(Edit::Set(t, v.value));
        }
    }
    if edits.is_empty() {
        return Ok((None, left));
    }
    Ok((Some(apply(profile, file, &edits)?), left))
}

fn is_thunderbird(doc: &Value) -> bool {
    doc.get("windows")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|w| w.get("tabs").is_some_and(Value::is_object))
}

/// How each browser stores a value: Thunderbird the value itself (strings
/// only, as its API allows), Firefox the value's JSON as a string.
fn encode(thunderbird: bool, v: &SessionValue) -> Result<String, String> {
    let api = v.to_api_value();
    if thunderbird {
        if !api.is_string() {
            return Err("Thunderbird stores strings only: objects are refused. Store JSON as text.".into());
        }
        return Ok(api.to_string());
    }
    Ok(Value::String(api.to_string()).to_string())
}

/// The object that holds the value (as a path) and the member's name.
fn locate(doc: &Value, thunderbird: bool, t: &Target) -> Result<(Vec<String>, String), String> {
    let open = doc.get("windows").and_then(Value::as_array).map_or(0, Vec::len);
    let s = |x: &str| x.to_owned();
    if thunderbird {
        let tab = match (t.scope, t.tab, t.closed) {
            (Scope::Tab, Some(tab), false) => tab,
            (Scope::Window, ..) => return Err("Thunderbird keeps no window values".into()),
            _ => return Err("Thunderbird keeps values of open tabs only: give --tab".into()),
        };
        let path =
            ["windows", &t.window.to_string(), "tabs", "tabs", &tab.to_string(), "ext", "extensionSession"];
        let mut path: Vec<String> = path.into_iter().map(s).collect();
        path.push(widget_id(&t.extension_id));
        return Ok((path, t.key.clone()));
    }
    let member = format!("extension:{}:{}", t.extension_id, t.key);
    let w = t.window;
    let window: Vec<String> = if w >= open {
        if !t.closed {
            return Err(format!("the file has {open} open windows, no window {w}"));
        }
        vec![s("_closedWindows"), (w - open).to_string()]
    } else {
        vec![s("windows"), w.to_string()]
    };
    let mut path = window;
    match (t.scope, t.tab) {
        (Scope::Window, _) => {}
        (Scope::Tab, None) => return Err("a tab value needs --tab".into()),
        (Scope::Tab, Some(tab)) if t.closed && w < open => {
            // A closed tab of an open window: its state, under `state` where present.
            path.extend([s("_closedTabs"), tab.to_string()]);
            let entry = doc.pointer(&format!("/windows/{w}/_closedTabs/{tab}"));
            if entry.is_some_and(|e| e.get("state").is_some()) {
                path.push(s("state"));
            }
        }
        (Scope::Tab, Some(tab)) => path.extend([s("tabs"), tab.to_string()]),
    }
    path.push(s("extData"));
    Ok((path, member))
}

fn mozlz4(text: &[u8]) -> Vec<u8> {
    let mut out = MOZLZ4_MAGIC.to_vec();
    out.extend((text.len() as u32).to_le_bytes());
    out.extend(lz4_flex::block::compress(text));
    out
}

/// Keeps `bytes` (the file before the edit) as `<file>.tabscope-<time>`, 0600.
fn keep_backup(file: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string().replace(':', "");
    let mut path = file.with_file_name(format!("{name}.tabscope-{stamp}"));
    for n in 2.. {
        match files::create_private(&path) {
            Ok(mut f) => {
                f.write_all(bytes)?;
                files::sync_file_and_dir(&f, &path)?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => {
                path = file.with_file_name(format!("{name}.tabscope-{stamp}-{n}"));
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns")
}

fn file_mode(#[allow(unused)] file: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(file).map_or(0o600, |m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    0o600
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tab(window: usize, tab: usize, ext: &str, key: &str) -> Target {
        Target {
            scope: Scope::Tab,
            window,
            tab: Some(tab),
            closed: false,
            extension_id: ext.into(),
            key: key.into(),
        }
    }

    fn thunderbird_file(dir: &Path) -> PathBuf {
        let file = dir.join("session.json");
        let doc = json!({"rev": 7, "future": {"n": 1.50}, "windows": [{"type": "3pane", "tabs": {"selectedIndex": 0, "tabs": [
            {"mode": "mail3PaneTab", "state": {}},
            {"mode": "contentTab", "state": {"tabURI": "https://e.org/"},
             "ext": {"extensionSession": {"o_x": {"mine": "v"}}}}]}}]});
        fs::write(&file, serde_json::to_string(&doc).unwrap().replace("1.5", "1.50")).unwrap();
        file
    }

    #[test]
    fn thunderbird_set_and_remove_keep_a_backup_and_every_other_byte() {
        let dir = tempfile::tempdir().unwrap();
        let file = thunderbird_file(dir.path());
        let before = fs::read_to_string(&file).unwrap();
        let names = [("o@x".to_owned(), None)];
        let set = Edit::Set(tab(0, 1, "o@x", "new"), SessionValue::String("offline".into()));
        let w = apply(dir.path(), &file, &[set]).unwrap();
        assert_eq!(fs::read_to_string(&w.backup).unwrap(), before);
        let after = fs::read_to_string(&file).unwrap();
        assert_eq!(after.replace("\"new\":\"offline\",", ""), before, "only the new member was added");
        let v = super::super::read_values(&file, &names).unwrap();
        assert!(v.iter().any(|x| x.key == "new" && x.value == SessionValue::String("offline".into())));
        // On a tab that had no value yet: the objects are created.
        let set = Edit::Set(tab(0, 0, "o@x", "k"), SessionValue::String("1".into()));
        apply(dir.path(), &file, &[set, Edit::Remove(tab(0, 1, "o@x", "mine"))]).unwrap();
        let keys: Vec<_> =
            super::super::read_values(&file, &names).unwrap().into_iter().map(|x| (x.tab, x.key)).collect();
        assert_eq!(keys, [(Some(0), "k".to_owned()), (Some(1), "new".to_owned())]);
        assert!(fs::read_to_string(&file).unwrap().contains("\"n\":1.50"), "unknown fields kept as written");
    }

    #[test]
    fn refusals_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = thunderbird_file(dir.path());
        let before = fs::read(&file).unwrap();
        let cases = [
            (Edit::Set(tab(0, 1, "o@x", "k"), SessionValue::Json(json!({"a": 1}))), "strings only"),
            (Edit::Set(tab(0, 5, "o@x", "k"), SessionValue::String("v".into())), "no entry 5"),
            (Edit::Remove(tab(0, 1, "o@x", "absent")), "no such value"),
            (
                Edit::Set(
                    Target { scope: Scope::Window, tab: None, ..tab(0, 0, "o@x", "k") },
                    SessionValue::String("v".into()),
                ),
                "no window values",
            ),
        ];
        for (edit, says) in cases {
            // A good edit first: all or none.
            let good = Edit::Set(tab(0, 1, "o@x", "ok"), SessionValue::String("v".into()));
            let e = apply(dir.path(), &file, &[good, edit]).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains("session.json"), "{e}");
            assert_eq!(fs::read(&file).unwrap(), before);
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no backup or temporary file left");
    }

    #[test]
    fn firefox_values_are_json_text_in_mozlz4_and_restore_copies_to_the_same_page_only() {
        let dir = tempfile::tempdir().unwrap();
        let doc = |v: &str, url2: &str| {
            json!({"windows": [{"tabs": [
                {"index": 1, "entries": [{"url": "https://a.org/"}], "extData": {"extension:o@x:k": v}},
                {"index": 1, "entries": [{"url": url2}]}],
                "_closedTabs": [{"state": {"entries": [{"url": "https://c.org/"}]}}]}]})
        };
        let current = dir.path().join("sessionstore.jsonlz4");
        let backup = dir.path().join("previous.jsonlz4");
        fs::write(&current, mozlz4(doc("\"now\"", "https://b.org/").to_string().as_bytes())).unwrap();
        let mut old = doc("{\"cols\":2}", "https://elsewhere.org/");
        old["windows"][0]["tabs"][1]["extData"] = json!({"extension:o@x:k": "3"});
        fs::write(&backup, mozlz4(old.to_string().as_bytes())).unwrap();
        let set = Edit::Set(
            Target { closed: true, ..tab(0, 0, "o@x", "j") },
            SessionValue::Json(json!([1, "two"])),
        );
        apply(dir.path(), &current, &[set]).unwrap();
        let (w, left) = restore(dir.path(), &current, &backup, &[], |v| v.key == "k").unwrap();
        assert_eq!(w.unwrap().done, ["set window 0 tab 0 o@x k"]);
        assert!(left[0].contains("now shows https://b.org/ (was https://elsewhere.org/)"), "{left:?}");
        let v = super::super::read_values(&current, &[]).unwrap();
        let seen: Vec<_> =
            v.iter().map(|x| (x.tab, x.closed, x.key.as_str(), x.value.to_api_value())).collect();
        assert_eq!(
            seen,
            [(Some(0), false, "k", json!({"cols": 2})), (Some(0), true, "j", json!([1, "two"]))]
        );
        let text = String::from_utf8(read_session_text(&current).unwrap()).unwrap();
        assert!(text.contains(r#""extension:o@x:j":"[1,\"two\"]""#), "{text}");
    }
}
