//! Session values of the selected tab or window: the table, an editor that
//! validates JSON as you type, rename and delete, "probe key", and a guard
//! against overwriting a value the browser changed during the edit. With
//! x-ray, any add-on's values: a picker says whose are shown and edited.

use egui::RichText;
use serde_json::{Value, json};
use tabscope_shared::addons::XrayState;
use tabscope_shared::protocol::{Scope, SessionValue};

use super::app::{App, Selection};
use super::live::{EditWatch, Origin};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Stored as the string typed.
    #[default]
    Text,
    /// Parsed and stored as an object (Firefox only).
    Json,
    /// Checked to be JSON, stored as a string (the Thunderbird way).
    JsonText,
}

#[derive(Default)]
pub struct Editor {
    target: Option<(Scope, i64)>,
    pub open: bool,
    pub key: String,
    /// The key being edited, when it already exists (a different `key` renames it).
    pub editing: Option<String>,
    pub mode: Mode,
    pub text: String,
    pub probe_key: String,
    /// Whose values are shown: the agent's own (`None`) or another add-on's
    /// (x-ray). Kept when the selection changes.
    pub owner: Option<String>,
}

/// Where JSON typed so far is wrong, in words a person can act on.
pub fn json_error(text: &str) -> Option<String> {
    serde_json::from_str::<Value>(text).err().map(|e| {
        // serde's message ends with the position again; say it once, first.
        let msg = e.to_string();
        let what = msg.split(" at line ").next().unwrap_or(&msg);
        format!("line {}, column {}: {what}", e.line(), e.column())
    })
}

fn scope_of(sel: Selection) -> (Scope, i64) {
    match sel {
        Selection::Tab(t) => (Scope::Tab, t),
        Selection::Window(w) => (Scope::Window, w),
    }
}

fn display(v: &SessionValue) -> String {
    let s = match v {
        SessionValue::String(s) => s.clone(),
        SessionValue::Json(j) => j.to_string(),
    };
    if s.chars().count() > 40 { format!("{}…", s.chars().take(39).collect::<String>()) } else { s }
}

pub fn show(app: &mut App, ui: &mut egui::Ui, sel: Selection) {
    egui::ScrollArea::both().id_salt("values").auto_shrink([false, false]).show(ui, |ui| panel(app, ui, sel));
}

fn panel(app: &mut App, ui: &mut egui::Ui, sel: Selection) {
    let (scope, id) = scope_of(sel);
    if app.editor.target != Some((scope, id)) {
        app.editor = Editor {
            probe_key: std::mem::take(&mut app.editor.probe_key),
            owner: app.editor.owner.take(),
            ..Default::default()
        };
        app.editor.target = Some((scope, id));
        if let Some(l) = app.conns.current_mut() {
            l.live.watch = None;
        }
    }
    let Some(link) = app.conns.current() else { return };
    // A live browser, or a profile on disk (edited offline).
    let live_link = link.editable();
    let strings_only = link.live.object_values() == Some(false);
    let browser = link.live.browser_name();
    ui.label(RichText::new("Session values").strong());
    if scope == Scope::Window && !link.live.window_values() {
        ui.label(format!(
            "{browser} has no window values: its sessions API stores tab values only \
             (getTabValue, setTabValue, removeTabValue). Select a tab."
        ));
        return;
    }
    // One line, always: what the browser stores (known once the agent tested it).
    let rule = match link.live.object_values() {
        Some(false) => format!("{browser} stores strings only: objects are refused. Store JSON as text."),
        Some(true) => format!("{browser} stores strings and objects (objects as JSON)."),
        None => "Whether objects can be stored is known once the browser has a tab.".to_owned(),
    };
    ui.label(RichText::new(rule).weak());
    let owner = whose(app, ui, scope, id);
    let Some(link) = app.conns.current() else { return };
    let values = link.live.values_of(owner.as_deref(), scope, id);

    let mut edit = None;
    let mut delete = None;
    if values.is_empty() && owner.is_some() {
        ui.label(RichText::new("This add-on has no values here.").weak());
    } else if values.is_empty() && link.live.xray().is_some_and(|(x, _)| x == XrayState::On) {
        ui.label(
            RichText::new(
                "The agent has no values here. Other add-ons' values: choose one above (the count says where).",
            )
            .weak(),
        );
    } else if values.is_empty() {
        ui.label(RichText::new(
            "No values known. The sessions API cannot list keys: tabscope knows the keys set through it or \
             through an add-on embedding the agent. Probe a key below to look for others.",
        ).weak());
    } else {
        egui::Grid::new("values-grid").num_columns(4).striped(true).spacing([8.0, 4.0]).show(ui, |ui| {
            ui.label(RichText::new("key").weak());
            ui.label(RichText::new("stored as").weak());
            ui.label("");
            ui.label(RichText::new("value").weak());
            ui.end_row();
            for (k, v) in &values {
                ui.label(RichText::new(k).monospace());
                ui.label(v.type_name()).on_hover_text(match v {
                    SessionValue::String(_) => "a string, exactly as stored",
                    SessionValue::Json(_) => "an object, stored by the browser as JSON",
                });
                // Actions before the value: a long value never pushes them away.
                ui.horizontal(|ui| {
                    ui.add_enabled_ui(live_link, |ui| {
                        if ui.small_button("Edit").on_hover_text(format!("edit {k}")).clicked() {
                            edit = Some((k.clone(), v.clone()));
                        }
                        if ui.small_button("Delete").on_hover_text(format!("delete {k}")).clicked() {
                            delete = Some(k.clone());
                        }
                    });
                });
                ui.add(egui::Label::new(RichText::new(display(v)).monospace())).on_hover_text(match v {
                    SessionValue::String(s) => s.clone(),
                    SessionValue::Json(j) => serde_json::to_string_pretty(j).unwrap_or_default(),
                });
                ui.end_row();
            }
        });
    }
    if let Some((k, v)) = edit {
        start_edit(app, scope, id, Some((k, v)));
    }
    if let Some(k) = delete {
        let (method, idk) = remove_method(scope);
        app.send(method, with_owner(json!({ idk: id, "key": k }), &owner), Origin::Values);
    }
    ui.add_space(6.0);
    // Always there (disabled while editing), so the editor never jumps.
    let can_add = live_link && !app.editor.open;
    if ui.add_enabled(can_add, egui::Button::new("Add value")).clicked() {
        start_edit(app, scope, id, None);
    }
    if app.editor.open {
        editor(app, ui, scope, id, strings_only);
    }
    super::panels::result_line(app, ui, Origin::Values);
    // x-ray lists every key; probing is for the agent's own values only.
    if owner.is_none() && link_is_live(app) {
        ui.separator();
        probe(app, ui, live_link);
    }
}

/// The picker of whose values are shown, when x-ray is on; otherwise a line
/// saying why only the agent's own are. Returns the owner to show.
fn whose(app: &mut App, ui: &mut egui::Ui, scope: Scope, id: i64) -> Option<String> {
    let link = app.conns.current()?;
    let mut addons: Vec<(String, String, usize)> = match link.live.model.addons() {
        Some(store) => store
            .addons()
            .map(|a| {
                let here = store.values_of(scope, id).and_then(|v| v.get(&a.id)).map_or(0, |v| v.len());
                (a.id.clone(), a.label(), here)
            })
            .collect(),
        None => Vec::new(),
    };
    // Add-ons with values on this tab first, then by name.
    addons.sort_by(|a, b| (b.2 > 0).cmp(&(a.2 > 0)).then_with(|| a.1.cmp(&b.1)));
    match link.live.xray() {
        Some((XrayState::On, _)) => {}
        Some((XrayState::Refused, why)) => {
            ui.label(RichText::new(format!(
                "x-ray refused: {}",
                why.unwrap_or("this browser runs no experiments")
            )))
            .on_hover_text("Only the agent's own values are shown.");
            app.editor.owner = None;
            return None;
        }
        _ => {
            app.editor.owner = None;
            return None;
        }
    }
    // An owner no longer known (another browser selected) falls back to the agent.
    if app.editor.owner.as_ref().is_some_and(|o| !addons.iter().any(|(id, _, _)| id == o)) {
        app.editor.owner = None;
    }
    // A profile on disk has no agent of its own: every value is an add-on's.
    let profile = link.profile.is_some();
    if profile && app.editor.owner.is_none() {
        app.editor.owner = addons.first().map(|(id, _, _)| id.clone());
    }
    let current = match &app.editor.owner {
        None => AGENT_LABEL.to_owned(),
        Some(o) => addons.iter().find(|(id, _, _)| id == o).map(|(_, l, _)| l.clone()).unwrap_or_default(),
    };
    ui.horizontal(|ui| {
        let l = ui.label("Whose values");
        egui::ComboBox::from_id_salt("values-owner")
            .selected_text(current)
            .width(ui.available_width().min(420.0))
            .truncate()
            .show_ui(ui, |ui| {
                if !profile {
                    ui.selectable_value(&mut app.editor.owner, None, AGENT_LABEL);
                }
                for (ext, label, here) in &addons {
                    let text = if *here > 0 { format!("{label} · {here} here") } else { label.clone() };
                    ui.selectable_value(&mut app.editor.owner, Some(ext.clone()), text);
                }
            })
            .response
            .labelled_by(l.id);
    });
    app.editor.owner.clone()
}

fn link_is_live(app: &App) -> bool {
    app.conns.current().is_some_and(|l| l.is_live())
}

const AGENT_LABEL: &str = "tabscope agent (its own values)";

/// Adds `extensionId` to a sessions call for another add-on's values.
fn with_owner(mut params: Value, owner: &Option<String>) -> Value {
    if let Some(ext) = owner {
        params["extensionId"] = json!(ext);
    }
    params
}

fn set_method(scope: Scope) -> (&'static str, &'static str) {
    match scope {
        Scope::Tab => ("sessions.setTabValue", "tabId"),
        Scope::Window => ("sessions.setWindowValue", "windowId"),
    }
}

fn remove_method(scope: Scope) -> (&'static str, &'static str) {
    match scope {
        Scope::Tab => ("sessions.removeTabValue", "tabId"),
        Scope::Window => ("sessions.removeWindowValue", "windowId"),
    }
}

fn start_edit(app: &mut App, scope: Scope, id: i64, existing: Option<(String, SessionValue)>) {
    let e = &mut app.editor;
    e.open = true;
    let original = existing.as_ref().map(|(_, v)| v.clone());
    match existing {
        Some((k, SessionValue::String(s))) => {
            e.mode = if serde_json::from_str::<Value>(&s).is_ok_and(|v| v.is_object() || v.is_array()) {
                Mode::JsonText
            } else {
                Mode::Text
            };
            e.key = k.clone();
            e.editing = Some(k);
            e.text = s;
        }
        Some((k, SessionValue::Json(v))) => {
            e.mode = Mode::Json;
            e.key = k.clone();
            e.editing = Some(k);
            e.text = serde_json::to_string_pretty(&v).unwrap_or_default();
        }
        None => {
            e.key.clear();
            e.editing = None;
            e.text.clear();
        }
    }
    let (key, owner) = (e.key.clone(), e.owner.clone());
    if let Some(l) = app.conns.current_mut() {
        l.live.watch = Some(EditWatch { scope, id, owner, key, original, changed_to: None });
    }
}

fn editor(app: &mut App, ui: &mut egui::Ui, scope: Scope, id: i64, strings_only: bool) {
    egui::Frame::group(ui.style()).show(ui, |ui| {
        let title = match &app.editor.editing {
            Some(k) => format!("Edit {k}"),
            None => "New value".into(),
        };
        ui.label(RichText::new(title).strong());
        ui.horizontal(|ui| {
            let l = ui.label("Key");
            ui.add(
                egui::TextEdit::singleline(&mut app.editor.key)
                    .hint_text("myaddon-color")
                    .desired_width(220.0),
            )
            .labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            ui.label("Store as");
            ui.radio_value(&mut app.editor.mode, Mode::Text, "text");
            ui.radio_value(&mut app.editor.mode, Mode::JsonText, "JSON as text");
            let json_ok = !strings_only;
            ui.add_enabled_ui(json_ok, |ui| {
                ui.radio_value(&mut app.editor.mode, Mode::Json, "JSON object")
                    .on_disabled_hover_text("this browser stores strings only");
            });
        });
        let json_mode = app.editor.mode != Mode::Text;
        let l = ui.label(if json_mode { "Value (JSON)" } else { "Value" });
        let mut edit = egui::TextEdit::multiline(&mut app.editor.text)
            .desired_rows(4)
            .desired_width(ui.available_width());
        if json_mode {
            edit = edit.code_editor();
        }
        ui.add(edit).labelled_by(l.id);
        let error = if json_mode { json_error(&app.editor.text) } else { None };
        // The status line always takes its place: the buttons below never move.
        match (&error, json_mode) {
            (Some(e), _) => {
                ui.label(RichText::new(format!("Invalid JSON: {e}")).color(ui.visuals().error_fg_color))
            }
            (None, true) => ui.label(RichText::new("valid JSON").weak()),
            (None, false) => ui.label(RichText::new("stored exactly as typed").weak()),
        };
        let key_error = app.editor.key.trim().is_empty().then_some("a key is needed");
        let watch = app.conns.current().and_then(|l| l.live.watch.clone());
        let conflict = watch.as_ref().and_then(|w| w.changed_to.clone());
        if let Some(now) = &conflict {
            let what = match now {
                Some(v) => format!("it is now {} {}", v.type_name(), display(v)),
                None => "it was removed".into(),
            };
            ui.label(
                RichText::new(format!("Changed in the browser while you were editing: {what}."))
                    .color(ui.visuals().warn_fg_color),
            );
        }
        ui.horizontal(|ui| {
            let ready = error.is_none() && key_error.is_none();
            let save_label = if conflict.is_some() { "Overwrite" } else { "Save" };
            let save = ui.add_enabled(ready, egui::Button::new(save_label));
            if let Some(k) = key_error {
                save.clone().on_disabled_hover_text(k);
            }
            if save.clicked() {
                save_value(app, scope, id);
            }
            if conflict.is_some() && ui.button("Take theirs").clicked() {
                let key = app.editor.key.clone();
                let owner = app.editor.owner.clone();
                let current = app.conns.current().and_then(|l| {
                    l.live
                        .values_of(owner.as_deref(), scope, id)
                        .into_iter()
                        .find(|(k, _)| *k == key)
                        .map(|(_, v)| v)
                });
                start_edit(app, scope, id, current.map(|v| (key, v)));
            }
            if ui.button("Cancel").clicked() {
                app.editor.open = false;
                if let Some(l) = app.conns.current_mut() {
                    l.live.watch = None;
                }
            }
        });
    });
}

fn save_value(app: &mut App, scope: Scope, id: i64) {
    let e = &app.editor;
    let value = match e.mode {
        Mode::Text | Mode::JsonText => Value::String(e.text.clone()),
        Mode::Json => match serde_json::from_str(&e.text) {
            Ok(v) => v,
            Err(_) => return,
        },
    };
    let key = e.key.trim().to_owned();
    let renamed_from = e.editing.clone().filter(|old| *old != key);
    let (set, idk) = set_method(scope);
    let owner = e.owner.clone();
    if !app.send(set, with_owner(json!({ idk: id, "key": key, "value": value }), &owner), Origin::Values) {
        return;
    }
    if let Some(old) = renamed_from {
        let (remove, idk) = remove_method(scope);
        app.send(remove, with_owner(json!({ idk: id, "key": old }), &owner), Origin::Values);
    }
    app.editor.open = false;
    if let Some(l) = app.conns.current_mut() {
        l.live.watch = None;
    }
}

fn probe(app: &mut App, ui: &mut egui::Ui, live: bool) {
    ui.label(RichText::new("Probe a key").strong())
        .on_hover_text("look the key up on every tab and window; found values join the table");
    ui.horizontal(|ui| {
        let l = ui.label("Key to probe");
        ui.add(egui::TextEdit::singleline(&mut app.editor.probe_key).desired_width(200.0)).labelled_by(l.id);
        let ok = live && !app.editor.probe_key.trim().is_empty();
        if ui.add_enabled(ok, egui::Button::new("Probe")).clicked() {
            let key = app.editor.probe_key.trim().to_owned();
            app.send("agent.probeKey", json!({ "key": key }), Origin::Probe);
        }
    });
    result_line_probe(app, ui);
}

fn result_line_probe(app: &mut App, ui: &mut egui::Ui) {
    let Some(link) = app.conns.current() else { return };
    if let Some(r) = link.live.results.get(&Origin::Probe)
        && let Err(e) = &r.outcome
    {
        ui.label(RichText::new(format!("error: {e}")).color(ui.visuals().error_fg_color));
        return;
    }
    let Some(found) = link.live.probe.clone() else { return };
    let mut pick = None;
    let tabs = found["tabs"].as_object().cloned().unwrap_or_default();
    let windows = found["windows"].as_object().cloned().unwrap_or_default();
    if tabs.is_empty() && windows.is_empty() {
        ui.label(format!("{} is set nowhere.", found["key"]));
    }
    for (id, v) in &tabs {
        if ui.link(format!("tab {id}: {}", v["value"])).clicked() {
            pick = id.parse().ok().map(Selection::Tab);
        }
    }
    for (id, v) in &windows {
        if ui.link(format!("window {id}: {}", v["value"])).clicked() {
            pick = id.parse().ok().map(Selection::Window);
        }
    }
    if pick.is_some() {
        app.selection = pick;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_say_where() {
        assert_eq!(json_error("{\"a\": 1}"), None);
        let e = json_error("{\"a\": 1,\n \"b\": }").unwrap();
        assert_eq!(e, "line 2, column 7: expected value");
    }
}
