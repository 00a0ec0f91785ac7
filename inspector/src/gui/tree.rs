//! Windows and their tabs in index order: a virtualised list rebuilt only
//! when the model or the filter changes. Selection is by id, so it survives
//! live updates; the scroll offset is egui's own.

use egui::{Color32, RichText};
use tabscope_shared::model::Model;
use tabscope_shared::protocol::{Scope, Tab};

use super::app::{App, Selection};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    Window(i64),
    Tab(i64),
}

#[derive(Default)]
pub struct TreeView {
    pub rows: Vec<Row>,
    built_for: Option<(usize, u64, String, Option<String>)>,
    kinds: Vec<String>,
    scroll_to: Option<usize>,
    offset: f32,
}

const ROW_HEIGHT: f32 = 22.0;

fn matches(tab: &Tab, needle: &str, kind: Option<&str>) -> bool {
    if kind.is_some_and(|k| tab.kind.as_deref() != Some(k)) {
        return false;
    }
    needle.is_empty()
        || tab.id.to_string() == needle
        || [tab.title.as_deref(), tab.url.as_deref(), tab.kind.as_deref()]
            .into_iter()
            .flatten()
            .any(|s| s.to_lowercase().contains(needle))
}

impl TreeView {
    fn rebuild(&mut self, model: &Model, filter: &str, kind: Option<&str>) {
        let needle = filter.trim().to_lowercase();
        self.rows.clear();
        let mut kinds = std::collections::BTreeSet::new();
        for w in model.window_ids() {
            let start = self.rows.len();
            self.rows.push(Row::Window(w));
            let title_hit = !needle.is_empty()
                && model
                    .window(w)
                    .and_then(|x| x.title.as_deref())
                    .is_some_and(|t| t.to_lowercase().contains(&needle));
            for t in model.tabs_of(w) {
                if let Some(k) = &t.kind {
                    kinds.insert(k.to_string());
                }
                if (title_hit && kind.is_none()) || matches(t, &needle, kind) {
                    self.rows.push(Row::Tab(t.id));
                }
            }
            let filtering = !needle.is_empty() || kind.is_some();
            if filtering && self.rows.len() == start + 1 && !title_hit {
                self.rows.pop();
            }
        }
        self.kinds = kinds.into_iter().collect();
    }

    /// Moves the selection by `delta` rows (keyboard Up/Down).
    pub fn step_selection(&mut self, sel: &mut Option<Selection>, delta: isize) {
        if self.rows.is_empty() {
            return;
        }
        let at = sel.and_then(|s| self.rows.iter().position(|r| to_sel(*r) == s));
        let next = match at {
            Some(i) => (i as isize + delta).clamp(0, self.rows.len() as isize - 1) as usize,
            None => 0,
        };
        *sel = Some(to_sel(self.rows[next]));
        self.scroll_to = Some(next);
    }
}

fn to_sel(r: Row) -> Selection {
    match r {
        Row::Window(w) => Selection::Window(w),
        Row::Tab(t) => Selection::Tab(t),
    }
}

pub fn show(app: &mut App, ui: &mut egui::Ui) {
    let Some(link_index) = app.conns.current else { return };
    ui.horizontal(|ui| {
        let label = ui.label("Filter");
        let r = ui.add(
            egui::TextEdit::singleline(&mut app.prefs.tree_filter)
                .hint_text("title, url, type or id  (Ctrl+F)")
                .desired_width(ui.available_width() - 160.0),
        );
        let r = r.labelled_by(label.id);
        if app.focus_tree_filter {
            r.request_focus();
            app.focus_tree_filter = false;
        }
        let kind_text = app.prefs.tree_kind.clone().unwrap_or_else(|| "all types".into());
        let type_label = ui.label("Type");
        egui::ComboBox::from_id_salt("tree-kind")
            .selected_text(kind_text)
            .width(100.0)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut app.prefs.tree_kind, None, "all types");
                for k in app.tree.kinds.clone() {
                    ui.selectable_value(&mut app.prefs.tree_kind, Some(k.clone()), k);
                }
            })
            .response
            .labelled_by(type_label.id);
    });
    ui.separator();

    let link = &app.conns.links[link_index];
    let live = &link.live;
    let key = (link_index, live.generation, app.prefs.tree_filter.clone(), app.prefs.tree_kind.clone());
    if app.tree.built_for.as_ref() != Some(&key) {
        app.tree.rebuild(&live.model, &app.prefs.tree_filter, app.prefs.tree_kind.as_deref());
        app.tree.built_for = Some(key);
    }
    let stale = !link.is_live();
    if app.tree.rows.is_empty() {
        ui.add_space(12.0);
        let msg = if live.model.window_count() == 0 {
            "No windows yet. Thunderbird starts its agent before its main window: it appears here when it opens."
        } else {
            "Nothing matches the filter."
        };
        ui.label(RichText::new(msg).weak());
        return;
    }

    let mut clicked = None;
    let mut area = egui::ScrollArea::vertical().id_salt("tree-rows").auto_shrink([false, false]);
    if let Some(i) = app.tree.scroll_to.take() {
        let visible = ui.available_height();
        let current = app.tree.offset;
        let y = i as f32 * (ROW_HEIGHT + ui.spacing().item_spacing.y);
        if y < current || y + ROW_HEIGHT > current + visible {
            area = area.vertical_scroll_offset((y - visible / 2.0).max(0.0));
        }
    }
    let out = area.show_rows(ui, ROW_HEIGHT, app.tree.rows.len(), |ui, range| {
        for row in &app.tree.rows[range] {
            let selected = app.selection == Some(to_sel(*row));
            let r = match *row {
                Row::Window(w) => window_row(ui, &live.model, w, selected, stale),
                Row::Tab(t) => tab_row(ui, &live.model, t, selected, stale),
            };
            if r.clicked() {
                clicked = Some(to_sel(*row));
            }
        }
    });
    app.tree.offset = out.state.clamped_offset().y;
    if clicked.is_some() {
        app.selection = clicked;
    }
}

fn weak_if(text: RichText, stale: bool) -> RichText {
    if stale { text.weak().italics() } else { text }
}

fn window_row(ui: &mut egui::Ui, m: &Model, id: i64, selected: bool, stale: bool) -> egui::Response {
    let Some(w) = m.window(id) else { return ui.label("?") };
    let tabs = m.tabs_of(id).count();
    let mut facts = vec![w.kind.clone().unwrap_or_else(|| "window".into())];
    if let Some(s) = &w.state {
        facts.push(s.clone());
    }
    if w.focused {
        facts.push("focused".into());
    }
    let values = m.value_count(Scope::Window, id);
    if values > 0 {
        facts.push(format!("{values} values"));
    }
    let title = w.title.clone().unwrap_or_default();
    let text = format!("Window {id}  {title}");
    ui.horizontal(|ui| {
        let r = ui.selectable_label(selected, weak_if(RichText::new(text).strong(), stale));
        ui.label(RichText::new(format!("{} · {tabs} tabs", facts.join(" · "))).weak().small());
        r
    })
    .inner
}

fn tab_row(ui: &mut egui::Ui, m: &Model, id: i64, selected: bool, stale: bool) -> egui::Response {
    let Some(t) = m.tab(id) else { return ui.label("?") };
    ui.horizontal(|ui| {
        ui.add_space(18.0);
        // The active tab of its window: a green dot.
        let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
        if t.active {
            ui.painter().circle_filled(rect.center(), 4.0, Color32::from_rgb(60, 180, 90));
        }
        let label = t.label();
        let label: String = if label.chars().count() > 70 {
            format!("{}…", label.chars().take(69).collect::<String>())
        } else {
            label
        };
        let r = ui.selectable_label(selected, weak_if(RichText::new(label), stale)).on_hover_text(format!(
            "tab {id} · index {} · {}",
            t.index,
            t.url.as_deref().unwrap_or("no url")
        ));
        let mut facts = vec![t.kind.as_deref().unwrap_or("tab").to_owned()];
        if let Some(s) = t.status.as_deref().filter(|s| *s != "complete") {
            facts.push(s.to_owned());
        }
        let values = m.value_count(Scope::Tab, id);
        if values > 0 {
            facts.push(format!("{values} values"));
        }
        // x-ray: other add-ons' values, counted apart from the agent's own.
        let theirs: usize = m
            .addons()
            .and_then(|a| a.values_of(Scope::Tab, id))
            .map_or(0, |by_addon| by_addon.values().map(|kv| kv.len()).sum());
        if theirs > 0 {
            facts.push(format!("{theirs} add-on values"));
        }
        ui.label(RichText::new(facts.join(" · ")).weak().small());
        r
    })
    .inner
}
