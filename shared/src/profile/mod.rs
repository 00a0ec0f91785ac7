//! Session values read from a profile on disk, with the browser closed or
//! crashed: Thunderbird's `session.json`, Firefox's mozlz4 session files.
//! Every add-on's values, attributed, with the tab they belong to; edits
//! and recovery in [`edit`], made in the text ([`splice`]) while no browser
//! holds the profile ([`lock`]).

pub mod edit;
mod lock;
pub mod session;
mod splice;
pub mod view;

pub use lock::in_use;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::protocol::{Scope, SessionValue};
use session::{Session, SessionWindow, Tabs, ThunderbirdTabs};

/// A session file of a profile, newest kinds first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionFile {
    pub path: PathBuf,
    /// "current", "backup", "recovery", "previous".
    pub kind: &'static str,
    #[serde(skip)]
    pub modified: Option<SystemTime>,
}

/// Where each browser keeps its session (shared/docs browser facts).
const FILES: &[(&str, &str)] = &[
    ("session.json", "current"),
    ("session.json.backup", "backup"),
    ("sessionstore.jsonlz4", "current"),
    ("sessionstore-backups/recovery.jsonlz4", "recovery"),
    ("sessionstore-backups/recovery.baklz4", "backup"),
    ("sessionstore-backups/previous.jsonlz4", "previous"),
];

/// The session files present in `profile`.
pub fn session_files(profile: &Path) -> Vec<SessionFile> {
    FILES
        .iter()
        .filter_map(|(name, kind)| {
            let path = profile.join(name);
            let meta = fs::metadata(&path).ok().filter(|m| m.is_file())?;
            Some(SessionFile { path, kind, modified: meta.modified().ok() })
        })
        .collect()
}

/// One add-on's value, as found on disk.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfflineValue {
    pub scope: Scope,
    /// Position of the window in the file (0-based), and of the tab in it.
    pub window: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tab: Option<usize>,
    /// In a closed window or a closed tab (Firefox keeps them).
    pub closed: bool,
    pub title: Option<String>,
    pub url: Option<String>,
    pub extension_id: String,
    pub extension_name: Option<String>,
    pub key: String,
    pub value: SessionValue,
}

#[derive(Debug, Error)]
pub enum ProfileError {
    #[error("{path}: {message}")]
    Bad { path: PathBuf, message: String },
}

fn bad(path: &Path, message: impl fmt::Display) -> ProfileError {
    ProfileError::Bad { path: path.to_owned(), message: message.to_string() }
}

/// Session files larger than this are refused rather than read into memory.
pub const MAX_SESSION_BYTES: u64 = 512 << 20;
const MOZLZ4_MAGIC: &[u8; 8] = b"mozLz40\0";

/// The JSON text of a session file: plain, or mozlz4 (magic, 4-byte
/// little-endian size, one LZ4 block).
pub fn read_session_text(path: &Path) -> Result<Vec<u8>, ProfileError> {
    let len = fs::metadata(path).map_err(|e| bad(path, e))?.len();
    if len > MAX_SESSION_BYTES {
        return Err(bad(path, format!("{len} bytes, more than the {MAX_SESSION_BYTES} tabscope reads")));
    }
    let bytes = fs::read(path).map_err(|e| bad(path, e))?;
    if !bytes.starts_with(MOZLZ4_MAGIC) {
        return Ok(bytes);
    }
    let size = bytes
        .get(8..12)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64)
        .ok_or_else(|| bad(path, "a mozlz4 file cut off in its header"))?;
    if size > MAX_SESSION_BYTES {
        return Err(bad(path, format!("announces {size} bytes of session, more than tabscope reads")));
    }
    lz4_flex::block::decompress(&bytes[12..], size as usize)
        .map_err(|e| bad(path, format!("not a valid mozlz4 file (truncated or corrupt): {e}")))
}

/// A session file read for its values ([`session`]), and whether
/// Thunderbird wrote it.
pub struct SessionDoc {
    pub path: PathBuf,
    pub session: Session,
    pub thunderbird: bool,
}

impl SessionDoc {
    pub fn read(path: &Path) -> Result<Self, ProfileError> {
        let session = Session::read(path)?;
        let thunderbird = session.thunderbird();
        Ok(SessionDoc { path: path.to_owned(), session, thunderbird })
    }

    /// Every add-on's values. `names` maps extension ids to names (from
    /// `extensions.json`, see [`installed_addons`]).
    pub fn values(&self, names: &[(String, Option<String>)]) -> Vec<OfflineValue> {
        let mut out = Vec::new();
        let windows = self.session.windows();
        for (w, win) in windows.iter().enumerate() {
            match &win.tabs {
                Tabs::Thunderbird(t) => thunderbird_values(w, t, names, &mut out),
                _ => firefox_window(w, win, false, &mut out),
            }
        }
        for (w, win) in self.session.closed_windows.iter().enumerate() {
            firefox_window(windows.len() + w, win, true, &mut out);
        }
        let name_of = |id: &str| names.iter().find(|(i, _)| i == id).and_then(|(_, n)| n.clone());
        for v in &mut out {
            if v.extension_name.is_none() {
                v.extension_name = name_of(&v.extension_id);
            }
        }
        out
    }
}

/// Every add-on's values in one session file.
pub fn read_values(
    path: &Path,
    names: &[(String, Option<String>)],
) -> Result<Vec<OfflineValue>, ProfileError> {
    Ok(SessionDoc::read(path)?.values(names))
}

/// `ExtensionCommon.makeWidgetId`: lower case, every character outside
/// `[a-z0-9_-]` an underscore. Two ids can share one.
pub fn widget_id(extension_id: &str) -> String {
    extension_id
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .collect()
}

fn thunderbird_values(
    w: usize,
    tabs: &ThunderbirdTabs,
    names: &[(String, Option<String>)],
    out: &mut Vec<OfflineValue>,
) {
    for (t, tab) in tabs.tabs.iter().enumerate() {
        let Some(session) = tab.ext.as_ref().and_then(|e| e.extension_session.as_ref()) else { continue };
        let url = tab.state.as_ref().and_then(|s| s.tab_uri.clone());
        for (widget, kv) in session {
            let owners: Vec<&String> =
                names.iter().map(|(id, _)| id).filter(|id| widget_id(id) == *widget).collect();
            // Unknown widget ids are shown as such: the add-on is gone.
            let owners = if owners.is_empty() { vec![widget] } else { owners };
            for owner in owners {
                for (key, value) in kv.as_object().into_iter().flatten() {
                    out.push(OfflineValue {
                        scope: Scope::Tab,
                        window: w,
                        tab: Some(t),
                        closed: false,
                        // Thunderbird's session keeps no titles.
                        title: None,
                        url: url.clone(),
                        extension_id: owner.to_string(),
                        extension_name: None,
                        key: key.clone(),
                        value: SessionValue::from_api_value(value.clone()),
                    });
                }
            }
        }
    }
}

/// Firefox's `extData`: `extension:<id>:<key>` to the value's JSON text.
fn firefox_ext_data(
    ext: Option<&serde_json::Map<String, Value>>,
    at: (Scope, usize, Option<usize>, bool),
    page: (Option<String>, Option<String>),
    out: &mut Vec<OfflineValue>,
) {
    for (k, text) in ext.into_iter().flatten() {
        let Some(rest) = k.strip_prefix("extension:") else { continue };
        let Some((id, key)) = rest.split_once(':') else { continue };
        let raw = text.as_str().map(|s| serde_json::from_str(s).unwrap_or(Value::String(s.to_owned())));
        out.push(OfflineValue {
            scope: at.0,
            window: at.1,
            tab: at.2,
            closed: at.3,
            title: page.0.clone(),
            url: page.1.clone(),
            extension_id: id.to_owned(),
            extension_name: None,
            key: key.to_owned(),
            value: SessionValue::from_api_value(raw.unwrap_or_else(|| text.clone())),
        });
    }
}

fn firefox_window(w: usize, win: &SessionWindow, closed: bool, out: &mut Vec<OfflineValue>) {
    firefox_ext_data(win.ext_data.as_ref(), (Scope::Window, w, None, closed), (None, None), out);
    if let Tabs::Firefox(tabs) = &win.tabs {
        for (t, tab) in tabs.iter().enumerate() {
            firefox_ext_data(tab.ext_data.as_ref(), (Scope::Tab, w, Some(t), closed), tab.page(), out);
        }
    }
    for (t, closed_tab) in win.closed_tabs.iter().enumerate() {
        let state = &closed_tab.state;
        firefox_ext_data(state.ext_data.as_ref(), (Scope::Tab, w, Some(t), true), state.page(), out);
    }
}

/// Add-ons of the profile (`extensions.json`): id and name. Missing or
/// unreadable, it is empty: values are then shown by id (or widget id).
pub fn installed_addons(profile: &Path) -> Vec<(String, Option<String>)> {
    let Ok(text) = fs::read(profile.join("extensions.json")) else { return Vec::new() };
    let Ok(v) = serde_json::from_slice::<Value>(&text) else { return Vec::new() };
    v.get("addons")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let id = a.get("id")?.as_str()?.to_owned();
            let name = a.pointer("/defaultLocale/name").and_then(Value::as_str).map(str::to_owned);
            Some((id, name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mozlz4(json: &Value) -> Vec<u8> {
        let text = serde_json::to_vec(json).unwrap();
        let mut out = MOZLZ4_MAGIC.to_vec();
        out.extend((text.len() as u32).to_le_bytes());
        out.extend(lz4_flex::block::compress(&text));
        out
    }

    #[test]
    fn firefox_values_with_their_tab_and_owner_and_closed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sessionstore.jsonlz4");
        let session = json!({"windows": [{"extData": {"extension:o@x:layout": "{\"cols\":2}"},
            "tabs": [{"index": 1, "entries": [{"url": "https://e.org/", "title": "E"}],
                      "extData": {"extension:o@x:k": "\"v\"", "other": "x"}}],
            "_closedTabs": [{"state": {"entries": [{"url": "https://gone.org/"}], "extData": {"extension:o@x:k": "1"}}}]}],
            "_closedWindows": [{"tabs": [{"extData": {"extension:p@x:k:with:colons": "true"}}]}]});
        fs::write(&file, mozlz4(&session)).unwrap();
        let v = read_values(&file, &[("o@x".into(), Some("Other".into()))]).unwrap();
        let seen: Vec<(Scope, bool, &str, &str, String)> = v
            .iter()
            .map(|x| {
                (
                    x.scope,
                    x.closed,
                    x.extension_id.as_str(),
                    x.key.as_str(),
                    x.value.to_api_value().to_string(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (Scope::Window, false, "o@x", "layout", "{\"cols\":2}".into()),
                (Scope::Tab, false, "o@x", "k", "\"v\"".into()),
                (Scope::Tab, true, "o@x", "k", "1".into()),
                (Scope::Tab, true, "p@x", "k:with:colons", "true".into()),
            ]
        );
        assert_eq!(
            (v[1].url.as_deref(), v[1].extension_name.as_deref()),
            (Some("https://e.org/"), Some("Other"))
        );
    }

    #[test]
    fn thunderbird_values_map_widget_ids_back_to_add_ons() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("session.json");
        fs::write(
            &file,
            json!({"rev": 0, "windows": [{"type": "3pane", "tabs": {"tabs": [
                {"mode": "contentTab", "state": {"tabURI": "https://e.org/"},
                 "ext": {"extensionSession": {"other-addon_tabscope_test": {"mine": "v"}, "gone_x": {"k": "w"}}}}]}}]})
            .to_string(),
        )
        .unwrap();
        let names = [("other-addon@tabscope.test".to_owned(), Some("Other".to_owned()))];
        let v = read_values(&file, &names).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0].extension_id.as_str(), v[0].url.as_deref()),
            ("other-addon@tabscope.test", Some("https://e.org/"))
        );
        assert_eq!(v[1].extension_id, "gone_x", "an unknown widget id is shown as found");
    }

    #[test]
    fn corrupt_and_truncated_files_are_clear_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("recovery.jsonlz4");
        let good = mozlz4(&json!({"windows": []}));
        for (bytes, says) in [
            (good[..good.len() - 3].to_vec(), "truncated or corrupt"),
            (good[..10].to_vec(), "cut off in its header"),
            (b"{\"windows\": [".to_vec(), "bad JSON"),
            (b"{}".to_vec(), "no \"windows\" list"),
        ] {
            fs::write(&file, &bytes).unwrap();
            let e = read_values(&file, &[]).unwrap_err().to_string();
            assert!(e.contains("recovery.jsonlz4") && e.contains(says), "{e}");
        }
        let mut huge = MOZLZ4_MAGIC.to_vec();
        huge.extend(u32::MAX.to_le_bytes());
        fs::write(&file, huge).unwrap();
        assert!(read_values(&file, &[]).unwrap_err().to_string().contains("more than tabscope reads"));
    }
}
