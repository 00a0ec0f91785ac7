//! The mirror of a browser: windows, their tabs in index order, and session
//! values, kept consistent under every `tabs` and `windows` event.
//!
//! Invariants (checked by [`Model::check`], kept by every operation, even on
//! events that do not fit what the model knows):
//! - each tab is in exactly one window's order, or detached (between
//!   `onDetached` and `onAttached`), never both, never twice;
//! - a tab's `index` is its position and its `windowId` its window;
//! - a window with tabs has exactly one active tab;
//! - at most one window is focused;
//! - session values belong to known tabs and windows.
//!
//! Everything is ordered (`BTreeMap`), so the same events applied to the same
//! snapshot always give the same model.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use crate::addons::AddonStore;
use crate::event::{BrowserEvent, ChangeInfo, EventError};
use crate::protocol::{
    EventRecord, Scope, SessionValue, SessionValues, Snapshot, Tab, TabId, WINDOW_ID_NONE, Window, WindowId,
};

#[derive(Clone, Debug, PartialEq)]
struct WindowEntry {
    /// The window's own fields; `tabs` is always `None` here.
    info: Window,
    order: Vec<TabId>,
    active: Option<TabId>,
}

/// An event that did not fit the model (a tab it never saw, a wrong window).
/// The model stays consistent; the mirror may have drifted from the browser,
/// and a fresh snapshot fixes it.
#[derive(Debug, Error, PartialEq)]
#[error("{0}")]
pub struct Drift(pub String);

#[derive(Debug, Error, PartialEq)]
pub enum ApplyError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("model drift: {0}")]
    Drift(#[from] Drift),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Model {
    windows: BTreeMap<WindowId, WindowEntry>,
    tabs: BTreeMap<TabId, Tab>,
    detached: BTreeSet<TabId>,
    tab_values: BTreeMap<TabId, SessionValues>,
    window_values: BTreeMap<WindowId, SessionValues>,
    /// x-ray: every other add-on's values; `None` when the agent has no x-ray.
    addons: Option<AddonStore>,
}

/// What applying events replaced or emptied, handed back by
/// [`Model::apply_keeping_spent`] to be freed by its owner.
#[derive(Default)]
pub struct Spent {
    /// Boxes holding the tabs updates replaced (the box too goes back).
    #[allow(clippy::vec_box)]
    pub tabs: Vec<Box<Tab>>,
    /// `changeInfo` maps, their values moved into the tab.
    pub changes: Vec<ChangeInfo>,
}

fn drift<T>(msg: String) -> Result<T, Drift> {
    Err(Drift(msg))
}

impl Model {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a consistent model from whatever the browser reported:
    /// tabs sorted by index, duplicates and orphan values dropped.
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        let mut m = Model::new();
        let mut focused_seen = false;
        for mut w in snapshot.windows {
            let mut tabs = w.tabs.take().unwrap_or_default();
            w.focused = w.focused && !focused_seen;
            focused_seen |= w.focused;
            let id = w.id;
            m.windows.insert(id, WindowEntry { info: w, order: Vec::new(), active: None });
            tabs.sort_by_key(|t| t.index);
            for tab in tabs {
                if !m.tabs.contains_key(&tab.id) {
                    let at = m.windows[&id].order.len();
                    m.insert_tab(tab, id, at);
                }
            }
        }
        for (id, values) in snapshot.tab_values {
            if m.tabs.contains_key(&id) && !values.is_empty() {
                m.tab_values.insert(id, values);
            }
        }
        for (id, values) in snapshot.window_values {
            if m.windows.contains_key(&id) && !values.is_empty() {
                m.window_values.insert(id, values);
            }
        }
        if let Some(v) = snapshot.addon_values {
            let store = AddonStore::from_values(v, |scope, id| m.exists(scope, id));
            m.addons = Some(store);
        }
        m
    }

    pub fn to_snapshot(&self) -> Snapshot {
        let windows = self
            .windows
            .values()
            .map(|w| {
                let mut info = w.info.clone();
                info.tabs = Some(w.order.iter().map(|id| self.tabs[id].clone()).collect());
                info
            })
            .collect();
        Snapshot {
            windows,
            tab_values: self.tab_values.clone(),
            window_values: self.window_values.clone(),
            addon_values: self.addons.as_ref().map(AddonStore::to_values),
        }
    }

    fn exists(&self, scope: Scope, id: i64) -> bool {
        match scope {
            Scope::Tab => self.tabs.contains_key(&id),
            Scope::Window => self.windows.contains_key(&id),
        }
    }

    /// x-ray: every other add-on's values and names; `None` without x-ray.
    pub fn addons(&self) -> Option<&AddonStore> {
        self.addons.as_ref()
    }

    // ----- reading -----

    pub fn window_ids(&self) -> impl Iterator<Item = WindowId> + '_ {
        self.windows.keys().copied()
    }

    pub fn window(&self, id: WindowId) -> Option<&Window> {
        self.windows.get(&id).map(|w| &w.info)
    }

    /// The tabs of a window in index order.
    pub fn tabs_of(&self, id: WindowId) -> impl Iterator<Item = &Tab> + '_ {
        self.windows.get(&id).into_iter().flat_map(move |w| w.order.iter().map(move |t| &self.tabs[t]))
    }

    pub fn tab(&self, id: TabId) -> Option<&Tab> {
        self.tabs.get(&id)
    }

    pub fn tab_count(&self) -> usize {
        self.tabs.len()
    }

    pub fn window_count(&self) -> usize {
        self.windows.len()
    }

    pub fn active_tab(&self, window: WindowId) -> Option<TabId> {
        self.windows.get(&window).and_then(|w| w.active)
    }

    pub fn focused_window(&self) -> Option<WindowId> {
        self.windows.values().find(|w| w.info.focused).map(|w| w.info.id)
    }

    /// Tabs between `onDetached` and `onAttached`.
    pub fn detached(&self) -> impl Iterator<Item = &Tab> + '_ {
        self.detached.iter().map(|id| &self.tabs[id])
    }

    pub fn values(&self, scope: Scope, id: i64) -> Option<&SessionValues> {
        match scope {
            Scope::Tab => self.tab_values.get(&id),
            Scope::Window => self.window_values.get(&id),
        }
    }

    pub fn value_count(&self, scope: Scope, id: i64) -> usize {
        self.values(scope, id).map_or(0, |v| v.len())
    }

    // ----- changing -----

    /// Parses and applies one event record.
    pub fn apply_record(&mut self, record: &EventRecord) -> Result<(), ApplyError> {
        self.apply(BrowserEvent::from_record(record)?)?;
        Ok(())
    }

    /// Applies an event parsed elsewhere (the bridge parses on its stdin
    /// thread), or the error its parse gave.
    pub fn apply_parsed(&mut self, parsed: Result<BrowserEvent, EventError>) -> Result<(), ApplyError> {
        self.apply(parsed?)?;
        Ok(())
    }

    /// Applies one event. On [`Drift`] the model is still consistent.
    pub fn apply(&mut self, event: BrowserEvent) -> Result<(), Drift> {
        self.apply_to(event, None)
    }

    /// [`Model::apply`], handing back what the event replaced or emptied
    /// instead of freeing it here: the bridge frees it on the thread that
    /// allocated it (see `tabscope-bridge`'s `stdio::Spent`).
    pub fn apply_keeping_spent(&mut self, event: BrowserEvent, spent: &mut Spent) -> Result<(), Drift> {
        self.apply_to(event, Some(spent))
    }

    fn apply_to(&mut self, event: BrowserEvent, mut spent: Option<&mut Spent>) -> Result<(), Drift> {
        use BrowserEvent as E;
        match event {
            E::TabCreated(tab) => {
                let id = tab.id;
                if self.tabs.contains_key(&id) {
                    self.update_tab(tab, spent);
                    return drift(format!("tabs.onCreated for tab {id}, which already exists"));
                }
                let (w, at) = (tab.window_id, tab.index);
                self.insert_tab(*tab, w, at);
            }
            E::TabUpdated { tab_id, mut change, mut tab } => {
                tab.id = tab_id;
                // changeInfo is authoritative for what changed (Thunderbird's
                // `tab` argument can be stale); `tab` for the rest.
                for (key, value) in change.iter_mut() {
                    // A value of the wrong type is left out; the tab stands.
                    let _ = tab.set_property(key, std::mem::take(value));
                }
                if let Some(s) = spent.as_mut() {
                    s.changes.push(change);
                }
                if !self.tabs.contains_key(&tab_id) {
                    let (w, at) = (tab.window_id, tab.index);
                    self.insert_tab(*tab, w, at);
                    return drift(format!("tabs.onUpdated for unknown tab {tab_id}"));
                }
                self.update_tab(tab, spent);
            }
            E::TabActivated { tab_id, window_id, .. } => {
                match self.tabs.get(&tab_id) {
                    Some(t) if t.window_id == window_id && !self.detached.contains(&tab_id) => {}
                    _ => {
                        return drift(format!("tabs.onActivated for tab {tab_id} not in window {window_id}"));
                    }
                }
                self.set_active(window_id, tab_id);
            }
            E::TabMoved { tab_id, window_id, to_index, .. } => {
                match self.tabs.get(&tab_id) {
                    Some(t) if t.window_id == window_id && !self.detached.contains(&tab_id) => {}
                    _ => return drift(format!("tabs.onMoved for tab {tab_id} not in window {window_id}")),
                }
                let w = self.windows.get_mut(&window_id).expect("tab's window exists");
                let from = self.tabs[&tab_id].index;
                w.order.remove(from);
                let to = to_index.min(w.order.len());
                w.order.insert(to, tab_id);
                // Only the tabs between the two places changed index.
                self.reindex_range(window_id, from.min(to), from.max(to) + 1);
            }
            E::TabDetached { tab_id, old_window_id, .. } => {
                if !self.tabs.contains_key(&tab_id) || self.detached.contains(&tab_id) {
                    return drift(format!("tabs.onDetached for tab {tab_id}, which is not in a window"));
                }
                let was = self.tabs[&tab_id].window_id;
                self.take_from_window(tab_id);
                self.detached.insert(tab_id);
                if was != old_window_id {
                    return drift(format!(
                        "tabs.onDetached: tab {tab_id} was in window {was}, not {old_window_id}"
                    ));
                }
            }
            E::TabAttached { tab_id, new_window_id, new_position } => {
                if !self.tabs.contains_key(&tab_id) {
                    return drift(format!("tabs.onAttached for unknown tab {tab_id}"));
                }
                let was_detached = self.detached.contains(&tab_id);
                // Detached or (events missed) still placed: either way, out first.
                self.take_from_window(tab_id);
                let mut tab = self.tabs.remove(&tab_id).expect("checked above");
                tab.active = false;
                self.insert_tab(tab, new_window_id, new_position);
                if !was_detached {
                    return drift(format!("tabs.onAttached for tab {tab_id} without onDetached"));
                }
            }
            E::TabRemoved { tab_id, .. } => {
                if !self.tabs.contains_key(&tab_id) {
                    return drift(format!("tabs.onRemoved for unknown tab {tab_id}"));
                }
                self.remove_tab(tab_id);
            }
            E::TabHighlighted { window_id, tab_ids } => {
                let Some(w) = self.windows.get(&window_id) else {
                    return drift(format!("tabs.onHighlighted for unknown window {window_id}"));
                };
                for id in w.order.clone() {
                    let t = self.tabs.get_mut(&id).expect("ordered tab exists");
                    t.highlighted = Some(tab_ids.contains(&id));
                }
            }
            E::TabReplaced { added_tab_id, removed_tab_id } => {
                if self.tabs.contains_key(&added_tab_id) {
                    return drift(format!("tabs.onReplaced: tab {added_tab_id} already exists"));
                }
                let Some(mut tab) = self.tabs.remove(&removed_tab_id) else {
                    return drift(format!("tabs.onReplaced for unknown tab {removed_tab_id}"));
                };
                tab.id = added_tab_id;
                if self.detached.remove(&removed_tab_id) {
                    self.detached.insert(added_tab_id);
                } else if let Some(w) = self.windows.get_mut(&tab.window_id) {
                    w.order[tab.index] = added_tab_id;
                    if w.active == Some(removed_tab_id) {
                        w.active = Some(added_tab_id);
                    }
                }
                self.tabs.insert(added_tab_id, tab);
                if let Some(v) = self.tab_values.remove(&removed_tab_id) {
                    self.tab_values.insert(added_tab_id, v);
                }
                if let Some(a) = &mut self.addons {
                    a.rename_tab(removed_tab_id, added_tab_id);
                }
            }
            E::WindowCreated(mut window) => {
                let tabs = window.tabs.take();
                let id = window.id;
                let focused = window.focused;
                match self.windows.get_mut(&id) {
                    Some(w) => w.info = window,
                    None => {
                        self.windows
                            .insert(id, WindowEntry { info: window, order: Vec::new(), active: None });
                    }
                }
                if focused {
                    self.focus(id);
                }
                for tab in tabs.unwrap_or_default() {
                    if self.tabs.contains_key(&tab.id) {
                        self.update_tab(Box::new(tab), None);
                    } else {
                        let at = tab.index;
                        self.insert_tab(tab, id, at);
                    }
                }
            }
            E::WindowRemoved(id) => {
                let Some(w) = self.windows.remove(&id) else {
                    return drift(format!("windows.onRemoved for unknown window {id}"));
                };
                for t in w.order {
                    self.tabs.remove(&t);
                    self.tab_values.remove(&t);
                    if let Some(a) = &mut self.addons {
                        a.forget(Scope::Tab, t);
                    }
                }
                self.window_values.remove(&id);
                if let Some(a) = &mut self.addons {
                    a.forget(Scope::Window, id);
                }
            }
            E::WindowUpdated(mut window) => {
                // Tabs and focus have their own events; a window not known yet
                // is left to its onCreated, which the agent sends first.
                if let Some(w) = self.windows.get_mut(&window.id) {
                    window.tabs = None;
                    window.focused = w.info.focused;
                    w.info = window;
                }
            }
            E::WindowFocusChanged(id) => {
                self.focus(id);
                if id != WINDOW_ID_NONE && !self.windows.contains_key(&id) {
                    return drift(format!("windows.onFocusChanged to unknown window {id}"));
                }
            }
            E::SessionValueChanged { scope, id, key, value } => {
                let (known, map) = match scope {
                    Scope::Tab => (self.tabs.contains_key(&id), &mut self.tab_values),
                    Scope::Window => (self.windows.contains_key(&id), &mut self.window_values),
                };
                if !known {
                    return drift(format!("session value {key:?} changed on unknown {scope:?} {id}"));
                }
                set_value(map, id, key, value);
            }
            E::AddonValueChanged(c) => {
                if !self.exists(c.scope, c.id) {
                    return drift(format!(
                        "{}'s value {:?} changed on unknown {:?} {}",
                        c.extension_id, c.key, c.scope, c.id
                    ));
                }
                // A change before any x-ray snapshot still starts the store.
                self.addons.get_or_insert_with(AddonStore::default).apply(c);
            }
            E::AddonConsole(_) | E::Unmodelled(_) => {}
        }
        Ok(())
    }

    /// Verifies every invariant; `Err` names the first broken one.
    pub fn check(&self) -> Result<(), String> {
        let mut placed = BTreeSet::new();
        let mut focused = 0;
        for (&wid, w) in &self.windows {
            if w.info.id != wid || w.info.tabs.is_some() {
                return Err(format!("window {wid}: bad entry"));
            }
            focused += usize::from(w.info.focused);
            let mut active = Vec::new();
            for (i, &tid) in w.order.iter().enumerate() {
                let t = self.tabs.get(&tid).ok_or(format!("window {wid}: unknown tab {tid}"))?;
                if !placed.insert(tid) {
                    return Err(format!("tab {tid} placed twice"));
                }
                if t.index != i || t.window_id != wid {
                    return Err(format!(
                        "tab {tid}: index {} window {} but is at {i} in {wid}",
                        t.index, t.window_id
                    ));
                }
                if t.active {
                    active.push(tid);
                }
            }
            let expect = w.order.first().map(|_| w.active);
            if !w.order.is_empty() && (active.len() != 1 || expect != Some(active.first().copied())) {
                return Err(format!("window {wid}: active tabs {active:?}, recorded {:?}", w.active));
            }
            if w.order.is_empty() && w.active.is_some() {
                return Err(format!("window {wid}: empty but has an active tab"));
            }
        }
        if focused > 1 {
            return Err(format!("{focused} focused windows"));
        }
        for id in &self.detached {
            if !placed.insert(*id) {
                return Err(format!("tab {id} both detached and in a window"));
            }
        }
        if placed.len() != self.tabs.len() {
            return Err("a tab is in no window and not detached".into());
        }
        if let Some(id) = self.tab_values.keys().find(|id| !self.tabs.contains_key(id)) {
            return Err(format!("values of unknown tab {id}"));
        }
        if let Some(id) = self.window_values.keys().find(|id| !self.windows.contains_key(id)) {
            return Err(format!("values of unknown window {id}"));
        }
        if self.tab_values.values().chain(self.window_values.values()).any(|v| v.is_empty()) {
            return Err("an empty value map is kept".into());
        }
        if let Some((scope, id)) =
            self.addons.iter().flat_map(AddonStore::objects).find(|&(s, id)| !self.exists(s, id))
        {
            return Err(format!("add-on values of unknown {scope:?} {id}"));
        }
        Ok(())
    }

    // ----- the few operations everything above is made of -----

    fn insert_tab(&mut self, mut tab: Tab, window: WindowId, at: usize) {
        let w = self.windows.entry(window).or_insert_with(|| WindowEntry {
            info: Window::new(window),
            order: Vec::new(),
            active: None,
        });
        let at = at.min(w.order.len());
        w.order.insert(at, tab.id);
        tab.window_id = window;
        let (id, active) = (tab.id, tab.active);
        tab.active = false;
        self.tabs.insert(id, tab);
        self.reindex(window, at);
        if active {
            self.set_active(window, id);
        } else {
            self.ensure_active(window, at);
        }
    }

    /// Replaces a known tab's fields, keeping its place and activity; the
    /// box, now holding what was replaced, goes to `spent` if given.
    fn update_tab(&mut self, mut tab: Box<Tab>, spent: Option<&mut Spent>) {
        let slot = self.tabs.get_mut(&tab.id).expect("a known tab");
        let (index, window_id, active) = (slot.index, slot.window_id, slot.active);
        // Swapped in place: the tab is copied once, out of its box.
        std::mem::swap(slot, &mut *tab);
        slot.index = index;
        slot.window_id = window_id;
        slot.active = active;
        if let Some(spent) = spent {
            spent.tabs.push(tab);
        }
    }

    /// Takes a tab out of its window's order (it stays in `tabs`).
    fn take_from_window(&mut self, id: TabId) {
        let (wid, at) = {
            let t = &self.tabs[&id];
            (t.window_id, t.index)
        };
        if self.detached.remove(&id) {
            return;
        }
        let w = self.windows.get_mut(&wid).expect("placed tab's window exists");
        w.order.remove(at);
        let was_active = w.active == Some(id);
        if was_active {
            w.active = None;
            self.tabs.get_mut(&id).expect("tab exists").active = false;
        }
        self.reindex(wid, at);
        self.ensure_active(wid, at);
    }

    fn remove_tab(&mut self, id: TabId) {
        self.take_from_window(id);
        self.tabs.remove(&id);
        self.tab_values.remove(&id);
        if let Some(a) = &mut self.addons {
            a.forget(Scope::Tab, id);
        }
    }

    fn reindex(&mut self, window: WindowId, from: usize) {
        self.reindex_range(window, from, usize::MAX);
    }

    /// Sets `index` of the tabs at places `from..to` of the window's order.
    fn reindex_range(&mut self, window: WindowId, from: usize, to: usize) {
        let w = &self.windows[&window];
        let to = to.min(w.order.len());
        for (i, id) in w.order.iter().enumerate().take(to).skip(from) {
            self.tabs.get_mut(id).expect("ordered tab exists").index = i;
        }
    }

    fn set_active(&mut self, window: WindowId, id: TabId) {
        let w = self.windows.get_mut(&window).expect("window exists");
        if let Some(old) = w.active.replace(id) {
            self.tabs.get_mut(&old).expect("active tab exists").active = false;
        }
        self.tabs.get_mut(&id).expect("tab exists").active = true;
    }

    /// A window whose active tab went away gets the tab now at `near` (or
    /// the last), as browsers do; the browser's onActivated corrects it.
    fn ensure_active(&mut self, window: WindowId, near: usize) {
        let w = &self.windows[&window];
        if w.active.is_none() && !w.order.is_empty() {
            let pick = w.order[near.min(w.order.len() - 1)];
            self.set_active(window, pick);
        }
    }

    fn focus(&mut self, id: WindowId) {
        for w in self.windows.values_mut() {
            w.info.focused = w.info.id == id;
        }
    }
}

fn set_value(map: &mut BTreeMap<i64, SessionValues>, id: i64, key: String, value: Option<SessionValue>) {
    match value {
        Some(v) => {
            map.entry(id).or_default().insert(key, v);
        }
        None => {
            if let Some(values) = map.get_mut(&id) {
                values.remove(&key);
                if values.is_empty() {
                    map.remove(&id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn tb_mail_tab() -> Value {
        json!({"id":1,"index":0,"windowId":1,"highlighted":true,"active":true,"status":"complete",
               "width":0,"height":0,"groupId":-1,"splitViewId":-1,"cookieStoreId":"firefox-default",
               "favIconUrl":"chrome://messenger/skin/icons/new/compact/folder.svg","spaceId":1,
               "type":"mail","mailTab":true})
    }

    fn tb_window() -> Value {
        json!({"id":1,"focused":true,"top":0,"left":0,"width":1366,"height":768,"incognito":false,
               "type":"normal","state":"maximized","alwaysOnTop":false,"title":"Home - Mozilla Thunderbird"})
    }

    fn ev(name: &str, args: Value) -> BrowserEvent {
        BrowserEvent::parse(name, args.as_array().unwrap()).unwrap()
    }

    fn content_tab(id: i64, index: usize, active: bool) -> Value {
        json!({"id":id,"index":index,"windowId":1,"highlighted":false,"active":active,"status":"complete",
               "width":1321,"height":626,"groupId":-1,"splitViewId":-1,"cookieStoreId":"firefox-default",
               "url":"about:blank","title":"Loading…","type":"content","mailTab":false})
    }

    /// Thunderbird's start-up as measured: empty world, then the window and
    /// its mail tab arrive by event.
    fn thunderbird_started() -> Model {
        let mut m = Model::from_snapshot(Snapshot::default());
        let mut win = tb_window();
        win["focused"] = json!(false);
        win["title"] = Value::Null;
        m.apply(ev("windows.onCreated", json!([win]))).unwrap();
        m.apply(ev("tabs.onCreated", json!([tb_mail_tab()]))).unwrap();
        m.apply(ev("windows.onFocusChanged", json!([1]))).unwrap();
        m.check().unwrap();
        m
    }

    /// The bridge's way of applying gives the same model, and hands back
    /// what an update replaced instead of freeing it.
    #[test]
    fn an_update_hands_back_the_replaced_tab_when_asked() {
        let mut tab = tb_mail_tab();
        tab["title"] = json!("Inbox (3)");
        let update = || ev("tabs.onUpdated", json!([1, {"title": "Inbox (3)"}, tab.clone()]));
        let (mut plain, mut keeping) = (thunderbird_started(), thunderbird_started());
        plain.apply(update()).unwrap();
        let mut spent = Spent::default();
        keeping.apply_keeping_spent(update(), &mut spent).unwrap();
        assert_eq!(keeping, plain);
        assert_eq!(keeping.tab(1).unwrap().title.as_deref(), Some("Inbox (3)"));
        assert_eq!(spent.tabs.len(), 1);
        assert_eq!((spent.tabs[0].id, spent.tabs[0].title.as_deref()), (1, None), "the tab as it was");
        assert_eq!(spent.changes.len(), 1);
        assert_eq!(spent.changes[0].get("title"), Some(&Value::Null), "its value went into the tab");
        // A new tab replaces nothing.
        keeping
            .apply_keeping_spent(ev("tabs.onCreated", json!([content_tab(2, 1, false)])), &mut spent)
            .unwrap();
        assert_eq!((spent.tabs.len(), spent.changes.len()), (1, 1));
    }

    #[test]
    fn thunderbird_start_up_builds_the_main_window() {
        let m = thunderbird_started();
        assert_eq!(m.window_count(), 1);
        assert_eq!(m.focused_window(), Some(1));
        let tabs: Vec<_> = m.tabs_of(1).collect();
        assert_eq!(tabs.len(), 1);
        assert_eq!(tabs[0].kind.as_deref(), Some("mail"));
        assert_eq!(tabs[0].split_view_id, Some(-1));
    }

    #[test]
    fn create_activate_update_move_remove() {
        let mut m = thunderbird_started();
        m.apply(ev("tabs.onCreated", json!([content_tab(3, 1, true)]))).unwrap();
        m.apply(ev("tabs.onActivated", json!([{"tabId":3,"windowId":1,"previousTabId":1}]))).unwrap();
        assert_eq!(m.active_tab(1), Some(3));
        assert!(!m.tab(1).unwrap().active);
        let mut updated = content_tab(3, 1, true);
        updated["url"] = json!("https://example.org/");
        m.apply(ev("tabs.onUpdated", json!([3, {"url":"https://example.org/"}, updated]))).unwrap();
        assert_eq!(m.tab(3).unwrap().url.as_deref(), Some("https://example.org/"));
        m.apply(ev("tabs.onCreated", json!([content_tab(4, 2, false)]))).unwrap();
        m.apply(ev("tabs.onMoved", json!([4, {"windowId":1,"fromIndex":2,"toIndex":0}]))).unwrap();
        let order: Vec<_> = m.tabs_of(1).map(|t| t.id).collect();
        assert_eq!(order, vec![4, 1, 3]);
        m.apply(ev("tabs.onRemoved", json!([3, {"windowId":1,"isWindowClosing":false}]))).unwrap();
        m.check().unwrap();
        assert_eq!(m.tabs_of(1).map(|t| t.id).collect::<Vec<_>>(), vec![4, 1]);
        assert_eq!(m.active_tab(1).map(|id| m.tab(id).unwrap().index), Some(1));
    }

    #[test]
    fn change_info_wins_over_a_stale_tab_argument() {
        let mut m = thunderbird_started();
        m.apply(ev("tabs.onCreated", json!([content_tab(3, 1, false)]))).unwrap();
        // Thunderbird's tabs.update resolves with the old url; onUpdated
        // carries the new one in changeInfo.
        m.apply(ev(
            "tabs.onUpdated",
            json!([3, {"url":"https://new/","newField":1}, content_tab(3, 1, false)]),
        ))
        .unwrap();
        let t = m.tab(3).unwrap();
        assert_eq!(t.url.as_deref(), Some("https://new/"));
        assert_eq!(t.extra["newField"], json!(1));
    }

    #[test]
    fn second_window_detach_attach_close() {
        let mut m = thunderbird_started();
        m.apply(ev("tabs.onCreated", json!([content_tab(3, 1, false)]))).unwrap();
        m.apply(ev("windows.onCreated", json!([{"id":2,"focused":false,"type":"normal"}]))).unwrap();
        m.apply(ev("tabs.onDetached", json!([3, {"oldWindowId":1,"oldPosition":1}]))).unwrap();
        m.check().unwrap();
        assert_eq!(m.detached().count(), 1);
        m.apply(ev("tabs.onAttached", json!([3, {"newWindowId":2,"newPosition":0}]))).unwrap();
        m.check().unwrap();
        assert_eq!(m.active_tab(2), Some(3));
        m.apply(ev("tabs.onRemoved", json!([3, {"windowId":2,"isWindowClosing":true}]))).unwrap();
        m.apply(ev("windows.onRemoved", json!([2]))).unwrap();
        m.check().unwrap();
        assert_eq!(m.window_count(), 1);
        assert_eq!(m.tab_count(), 1);
    }

    #[test]
    fn values_follow_their_tab() {
        let mut m = thunderbird_started();
        let change = |key: &str, v: Value| {
            ev(crate::event::SESSION_VALUE_CHANGED, json!([{"scope":"tab","id":1,"key":key,"value":v}]))
        };
        m.apply(change("k", json!({"type":"string","value":"v"}))).unwrap();
        assert_eq!(m.value_count(Scope::Tab, 1), 1);
        m.apply(change("k", Value::Null)).unwrap();
        assert_eq!(m.value_count(Scope::Tab, 1), 0);
        m.check().unwrap();
        m.apply(change("k", json!({"type":"json","value":{"a":1}}))).unwrap();
        m.apply(ev("tabs.onRemoved", json!([1, {"windowId":1,"isWindowClosing":false}]))).unwrap();
        assert_eq!(m.values(Scope::Tab, 1), None);
        m.check().unwrap();
    }

    #[test]
    fn events_that_do_not_fit_report_drift_and_keep_invariants() {
        let mut m = thunderbird_started();
        let e = m.apply(ev("tabs.onActivated", json!([{"tabId":99,"windowId":1}]))).unwrap_err();
        assert!(e.0.contains("99"), "{e}");
        assert!(m.apply(ev("tabs.onRemoved", json!([99, {"windowId":1}]))).is_err());
        assert!(m.apply(ev("tabs.onMoved", json!([1, {"windowId":7,"fromIndex":0,"toIndex":3}]))).is_err());
        m.check().unwrap();
    }

    #[test]
    fn snapshot_round_trips() {
        let m = thunderbird_started();
        let again = Model::from_snapshot(m.to_snapshot());
        assert_eq!(again, m);
    }
}
