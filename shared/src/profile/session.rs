//! A session file read for its values only: typed structs that keep the
//! windows, tabs, pages and extension data, and skip everything else as it
//! streams past (history entries' form data, scroll positions, cookies,
//! images…), so no document tree of the whole file is ever built. Plain
//! JSON (Thunderbird) is parsed straight from the file; mozlz4 (Firefox)
//! from its decompressed text, which the LZ4 block format requires in full.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{MOZLZ4_MAGIC, ProfileError, bad, read_session_text};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Session {
    pub windows: Option<Vec<SessionWindow>>,
    #[serde(rename = "_closedWindows")]
    pub closed_windows: Vec<SessionWindow>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SessionWindow {
    /// Thunderbird: "3pane", …
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Firefox: the selected tab, from 1.
    pub selected: Option<u64>,
    #[serde(rename = "extData")]
    pub ext_data: Option<Map<String, Value>>,
    pub tabs: Tabs,
    #[serde(rename = "_closedTabs")]
    pub closed_tabs: Vec<ClosedTab>,
}

/// Thunderbird keeps `{selectedIndex, tabs: [...]}`, Firefox a list.
#[derive(Debug, Default)]
pub enum Tabs {
    #[default]
    None,
    Thunderbird(ThunderbirdTabs),
    Firefox(Vec<FirefoxTab>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ThunderbirdTabs {
    #[serde(rename = "selectedIndex")]
    pub selected: Option<u64>,
    pub tabs: Vec<ThunderbirdTab>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ThunderbirdTab {
    pub mode: Option<String>,
    pub state: Option<ThunderbirdState>,
    pub ext: Option<ThunderbirdExt>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ThunderbirdState {
    #[serde(rename = "tabURI")]
    pub tab_uri: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ThunderbirdExt {
    /// Widget id to that add-on's keys and values.
    #[serde(rename = "extensionSession")]
    pub extension_session: Option<Map<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FirefoxTab {
    pub entries: Vec<Entry>,
    /// The current entry, from 1.
    pub index: Option<u64>,
    #[serde(rename = "extData")]
    pub ext_data: Option<Map<String, Value>>,
    pub pinned: Option<bool>,
}

impl FirefoxTab {
    /// The title and URL of the page the tab shows.
    pub fn page(&self) -> (Option<String>, Option<String>) {
        let i = self.index.unwrap_or(1).max(1) as usize - 1;
        match self.entries.get(i).or(self.entries.last()) {
            Some(e) => (e.title.clone(), e.url.clone()),
            None => (None, None),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Entry {
    pub url: Option<String>,
    pub title: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ClosedTab {
    pub state: FirefoxTab,
}

impl<'de> Deserialize<'de> for Tabs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tabs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of tabs (Firefox) or an object with one (Thunderbird)")
            }
            fn visit_map<M: MapAccess<'de>>(self, m: M) -> Result<Tabs, M::Error> {
                ThunderbirdTabs::deserialize(de::value::MapAccessDeserializer::new(m)).map(Tabs::Thunderbird)
            }
            fn visit_seq<S: SeqAccess<'de>>(self, s: S) -> Result<Tabs, S::Error> {
                Vec::<FirefoxTab>::deserialize(de::value::SeqAccessDeserializer::new(s)).map(Tabs::Firefox)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Tabs, E> {
                Ok(Tabs::None)
            }
        }
        d.deserialize_any(V)
    }
}

impl Session {
    /// Reads `path`: streamed from the file when plain JSON.
    pub fn read(path: &Path) -> Result<Self, ProfileError> {
        use std::io::{Read, Seek};
        let mut file = File::open(path).map_err(|e| bad(path, e))?;
        let mut head = Vec::with_capacity(8);
        (&mut file).take(8).read_to_end(&mut head).map_err(|e| bad(path, e))?;
        let parsed = if head.as_slice() == MOZLZ4_MAGIC {
            drop(file);
            serde_json::from_slice::<Session>(&read_session_text(path)?)
        } else {
            file.rewind().map_err(|e| bad(path, e))?;
            serde_json::from_reader::<_, Session>(BufReader::with_capacity(1 << 16, file))
        };
        let s = parsed.map_err(|e| bad(path, format!("not a session file (bad JSON: {e})")))?;
        if s.windows.is_none() {
            return Err(bad(path, "no \"windows\" list"));
        }
        Ok(s)
    }

    pub fn windows(&self) -> &[SessionWindow] {
        self.windows.as_deref().unwrap_or_default()
    }

    /// The page a tab shows: window and tab numbered as the values are
    /// (closed windows after the open ones; a closed tab in its window's
    /// closed tabs).
    pub fn url_at(&self, window: usize, tab: usize, closed: bool) -> Option<String> {
        let open = self.windows();
        let (win, closed_tab) = match open.get(window) {
            Some(w) => (w, closed),
            None => (self.closed_windows.get(window - open.len())?, false),
        };
        match (&win.tabs, closed_tab) {
            (Tabs::Thunderbird(t), false) => t.tabs.get(tab)?.state.as_ref()?.tab_uri.clone(),
            (Tabs::Firefox(t), false) => t.get(tab)?.page().1,
            (_, true) => win.closed_tabs.get(tab)?.state.page().1,
            (Tabs::None, false) => None,
        }
    }

    pub fn thunderbird(&self) -> bool {
        self.windows().iter().any(|w| matches!(w.tabs, Tabs::Thunderbird(_)))
    }
}
