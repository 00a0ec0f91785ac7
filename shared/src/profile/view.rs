//! A profile's session file as the inspector shows it: its windows and tabs
//! (closed ones too, marked) under ids, every add-on's values, and where
//! each id is in the file, so that an edit made with the value editor goes
//! to that place ([`super::edit`]) under the same rules as the CLI's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use compact_str::{CompactString, format_compact};
use serde_json::Value;

use super::edit::{Edit, Target};
use super::session::{FirefoxTab, SessionWindow, Tabs, ThunderbirdTabs};
use super::{ProfileError, SessionDoc, SessionFile};
use crate::addons::{AddonInfo, AddonValue, AddonValues};
use crate::protocol::{Scope, SessionValue, Snapshot, Tab, Window};

/// Where an id of the view is in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Place {
    window: usize,
    tab: Option<usize>,
    closed: bool,
}

pub struct ProfileView {
    pub profile: PathBuf,
    pub file: SessionFile,
    pub thunderbird: bool,
    pub snapshot: Snapshot,
    places: BTreeMap<(Scope, i64), Place>,
}

impl ProfileView {
    /// Reads `file` of `profile`: windows get ids 1, 2, … in file order,
    /// tabs 1, 2, … across the file.
    pub fn load(profile: &Path, file: SessionFile) -> Result<Self, ProfileError> {
        let doc = SessionDoc::read(&file.path)?;
        let names = super::installed_addons(profile);
        let mut places = BTreeMap::new();
        let mut windows = Vec::new();
        let mut next_tab = 1;
        let mut add_window =
            |w: usize, closed: bool, kind: Option<String>, tabs: Vec<(Tab, Option<usize>, bool)>| {
                let id = w as i64 + 1;
                places.insert((Scope::Window, id), Place { window: w, tab: None, closed });
                let tabs = tabs
                    .into_iter()
                    .enumerate()
                    .map(|(index, (mut tab, at, closed_tab))| {
                        tab.id = next_tab;
                        next_tab += 1;
                        tab.window_id = id;
                        tab.index = index;
                        places.insert(
                            (Scope::Tab, tab.id),
                            Place { window: w, tab: at, closed: closed || closed_tab },
                        );
                        tab
                    })
                    .collect();
                windows.push(Window {
                    id,
                    focused: false,
                    top: None,
                    left: None,
                    width: None,
                    height: None,
                    incognito: None,
                    kind,
                    state: None,
                    always_on_top: None,
                    title: closed.then(|| "(closed window)".to_owned()),
                    session_id: None,
                    tabs: Some(tabs),
                    extra: Default::default(),
                });
            };
        let open = doc.session.windows();
        for (w, win) in open.iter().enumerate() {
            match &win.tabs {
                Tabs::Thunderbird(t) => add_window(w, false, win.kind.clone(), thunderbird_tabs(t)),
                _ => add_window(w, false, Some("normal".into()), firefox_tabs(win, false)),
            }
        }
        for (i, win) in doc.session.closed_windows.iter().enumerate() {
            add_window(open.len() + i, true, Some("normal".into()), firefox_tabs(win, true));
        }
        let values = doc.values(&names);
        let ids: std::collections::HashMap<(Scope, Place), i64> =
            places.iter().map(|((scope, id), place)| ((*scope, *place), *id)).collect();
        let id_of = |scope: Scope, v: &super::OfflineValue| {
            ids.get(&(scope, Place { window: v.window, tab: v.tab, closed: v.closed })).copied()
        };
        let mut extensions: Vec<AddonInfo> = Vec::new();
        let mut found = Vec::new();
        for v in &values {
            let Some(id) = id_of(v.scope, v) else { continue };
            if !extensions.iter().any(|e| e.id == v.extension_id) {
                let installed = names.iter().any(|(i, _)| *i == v.extension_id);
                extensions.push(AddonInfo {
                    id: v.extension_id.clone(),
                    name: v.extension_name.clone(),
                    active: installed,
                    gone: !installed,
                });
            }
            found.push(AddonValue {
                scope: v.scope,
                id,
                extension_id: v.extension_id.clone(),
                key: v.key.clone(),
                value: v.value.clone(),
            });
        }
        let snapshot = Snapshot {
            windows,
            tab_values: BTreeMap::new(),
            window_values: BTreeMap::new(),
            addon_values: Some(AddonValues { extensions, values: found }),
        };
        Ok(ProfileView { profile: profile.to_owned(), file, thunderbird: doc.thunderbird, snapshot, places })
    }

    /// The edit a sessions call of the value editor stands for: the same
    /// parameters as in a live browser, `extensionId` naming whose value.
    pub fn edit_for(&self, method: &str, params: &Value) -> Result<Edit, String> {
        let (scope, verb) = match method {
            "sessions.setTabValue" => (Scope::Tab, "set"),
            "sessions.removeTabValue" => (Scope::Tab, "remove"),
            "sessions.setWindowValue" => (Scope::Window, "set"),
            "sessions.removeWindowValue" => (Scope::Window, "remove"),
            _ => return Err(format!("{method}: a profile on disk has only session values to change")),
        };
        let idk = if scope == Scope::Tab { "tabId" } else { "windowId" };
        let id = params.get(idk).and_then(Value::as_i64).ok_or_else(|| format!("{method}: no {idk}"))?;
        let key = params.get("key").and_then(Value::as_str).ok_or_else(|| format!("{method}: no key"))?;
        let extension_id = params.get("extensionId").and_then(Value::as_str).ok_or_else(|| {
            "a profile's values belong to add-ons: choose whose value in \"Whose values\"".to_owned()
        })?;
        let place = self.places.get(&(scope, id)).ok_or_else(|| format!("{method}: no such {idk} {id}"))?;
        let target = Target {
            scope,
            window: place.window,
            tab: place.tab,
            closed: place.closed,
            extension_id: extension_id.to_owned(),
            key: key.to_owned(),
        };
        Ok(match verb {
            "set" => Edit::Set(
                target,
                SessionValue::from_api_value(params.get("value").cloned().unwrap_or(Value::Null)),
            ),
            _ => Edit::Remove(target),
        })
    }
}

fn thunderbird_tabs(tabs: &ThunderbirdTabs) -> Vec<(Tab, Option<usize>, bool)> {
    tabs.tabs
        .iter()
        .enumerate()
        .map(|(t, tab)| {
            let mode = tab.mode.as_deref().unwrap_or("tab");
            let url = tab.state.as_ref().and_then(|s| s.tab_uri.as_deref().map(CompactString::from));
            let kind = match mode {
                "mail3PaneTab" => "mail",
                "contentTab" => "content",
                "mailMessageTab" => "messageDisplay",
                other => other,
            };
            let tab = Tab {
                active: tabs.selected == Some(t as u64),
                // Thunderbird's session keeps no titles.
                title: Some(url.clone().unwrap_or_else(|| mode.into())),
                url,
                kind: Some(kind.into()),
                ..Default::default()
            };
            (tab, Some(t), false)
        })
        .collect()
}

fn firefox_tabs(win: &SessionWindow, closed: bool) -> Vec<(Tab, Option<usize>, bool)> {
    let open: &[FirefoxTab] = match &win.tabs {
        Tabs::Firefox(t) => t,
        _ => &[],
    };
    let open = open.iter().enumerate().map(|(t, tab)| {
        let (title, url) = tab.page();
        let tab = Tab {
            active: win.selected == Some(t as u64 + 1),
            title: title.or_else(|| url.clone()).map(Into::into),
            url: url.map(Into::into),
            pinned: tab.pinned,
            kind: Some("content".into()),
            ..Default::default()
        };
        (tab, Some(t), closed)
    });
    let gone = win.closed_tabs.iter().enumerate().map(|(t, entry)| {
        let (title, url) = entry.state.page();
        let tab = Tab {
            title: Some(format_compact!("(closed) {}", title.or_else(|| url.clone()).unwrap_or_default())),
            url: url.map(Into::into),
            kind: Some("content".into()),
            ..Default::default()
        };
        (tab, Some(t), true)
    });
    open.chain(gone).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_map_back_to_places_and_an_editor_call_becomes_an_edit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessionstore.jsonlz4");
        let doc = json!({"windows": [{"selected": 2, "extData": {"extension:o@x:w": "1"}, "tabs": [
            {"entries": [{"url": "https://a.org/", "title": "A"}]},
            {"entries": [{"url": "https://b.org/"}], "extData": {"extension:o@x:k": "\"v\""}}],
            "_closedTabs": [{"state": {"entries": [{"url": "https://c.org/"}], "extData": {"extension:o@x:k": "2"}}}]}],
            "_closedWindows": [{"tabs": [{"entries": [{"url": "https://d.org/"}]}]}]});
        std::fs::write(&path, doc.to_string()).unwrap();
        let file = SessionFile { path, kind: "current", modified: None };
        let v = ProfileView::load(dir.path(), file).unwrap();
        let tabs: Vec<(i64, i64, bool, Option<&str>)> = v
            .snapshot
            .windows
            .iter()
            .flat_map(|w| w.tabs.iter().flatten())
            .map(|t| (t.id, t.window_id, t.active, t.title.as_deref()))
            .collect();
        assert_eq!(
            tabs,
            [
                (1, 1, false, Some("A")),
                (2, 1, true, Some("https://b.org/")),
                (3, 1, false, Some("(closed) https://c.org/")),
                (4, 2, false, Some("https://d.org/"))
            ]
        );
        let vals = &v.snapshot.addon_values.as_ref().unwrap().values;
        let at: Vec<(Scope, i64, &str)> = vals.iter().map(|x| (x.scope, x.id, x.key.as_str())).collect();
        assert_eq!(at, [(Scope::Window, 1, "w"), (Scope::Tab, 2, "k"), (Scope::Tab, 3, "k")]);
        assert!(v.snapshot.addon_values.as_ref().unwrap().extensions[0].gone, "not in extensions.json");
        let e = v.edit_for(
            "sessions.setTabValue",
            &json!({"tabId": 3, "key": "k", "value": 5, "extensionId": "o@x"}),
        );
        let Ok(Edit::Set(t, SessionValue::Json(n))) = e else { panic!("{e:?}") };
        assert_eq!((t.window, t.tab, t.closed, n), (0, Some(0), true, json!(5)));
        let e = v.edit_for("sessions.removeTabValue", &json!({"tabId": 2, "key": "k"})).unwrap_err();
        assert!(e.contains("choose whose value"), "{e}");
        assert!(
            v.edit_for("tabs.remove", &json!({"tabIds": 2})).unwrap_err().contains("only session values")
        );
    }
}
