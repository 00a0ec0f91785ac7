//! The selected tab or window: what it is (every property, unknown fields
//! too, and its raw JSON), what can be done to it (each action's result
//! shown right there), and its session values (see `values`).

use egui::RichText;
use serde_json::{Value, json};

use super::app::{App, Selection};
use super::live::Origin;
use super::values;

/// Text typed into the action forms.
pub struct Forms {
    pub url: String,
    pub move_index: String,
    pub move_window: String,
    pub script: String,
    pub css: String,
    pub new_tab_url: String,
}

impl Default for Forms {
    fn default() -> Self {
        Self {
            url: String::new(),
            move_index: "-1".into(),
            move_window: String::new(),
            script: "document.title".into(),
            css: "body { outline: 3px solid red; }".into(),
            new_tab_url: "about:blank".into(),
        }
    }
}

pub fn show(app: &mut App, ui: &mut egui::Ui) {
    let Some(sel) = app.selection else {
        ui.add_space(20.0);
        ui.label(RichText::new("Select a window or a tab on the left (Up/Down, or click).").weak());
        return;
    };
    let Some(link) = app.conns.current() else { return };
    let object = match sel {
        Selection::Tab(t) => link.live.model.tab(t).and_then(|t| serde_json::to_value(t).ok()),
        Selection::Window(w) => link.live.model.window(w).and_then(|w| serde_json::to_value(w).ok()),
    };
    let Some(object) = object else {
        ui.label(RichText::new("This tab or window is gone (closed in the browser).").weak());
        return;
    };
    let title = match sel {
        Selection::Tab(t) => format!("Tab {t}"),
        Selection::Window(w) => format!("Window {w}"),
    };
    ui.heading(title);
    // A profile on disk has values to edit, nothing to act on.
    if app.conns.current().is_some_and(|l| l.profile.is_none()) {
        actions(app, ui, sel);
    }
    ui.separator();
    // At most 60% of the width: Properties must stay readable beside it.
    let max = (ui.available_width() * 0.6).max(300.0);
    egui::Panel::right("values").resizable(true).default_size(440.0).size_range(280.0..=max).show(ui, |ui| {
        values::show(app, ui, sel);
    });
    egui::CentralPanel::default().show(ui, |ui| properties(ui, &object));
}

fn properties(ui: &mut egui::Ui, object: &Value) {
    ui.label(RichText::new("Properties").strong());
    egui::ScrollArea::vertical().id_salt("props").auto_shrink([false, false]).show(ui, |ui| {
        egui::Grid::new("props-grid").num_columns(2).striped(true).spacing([12.0, 4.0]).show(ui, |ui| {
            for (k, v) in object.as_object().into_iter().flatten() {
                ui.label(RichText::new(k).monospace());
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                ui.add(egui::Label::new(RichText::new(text).monospace()).wrap());
                ui.end_row();
            }
        });
        ui.add_space(8.0);
        egui::CollapsingHeader::new("Raw JSON").default_open(false).show(ui, |ui| {
            // Formatted only while open: this runs every frame.
            let pretty = serde_json::to_string_pretty(object).unwrap_or_default();
            if ui.button("Copy JSON").clicked() {
                ui.ctx().copy_text(pretty.clone());
            }
            let mut text = pretty.as_str();
            ui.add(egui::TextEdit::multiline(&mut text).code_editor().desired_width(f32::INFINITY));
        });
    });
}

/// The last result of an action, where the user is looking. Always one
/// line, so that nothing below it jumps when a result comes or goes.
pub fn result_line(app: &App, ui: &mut egui::Ui, origin: Origin) {
    let Some(link) = app.conns.current() else { return };
    if let Some(r) = link.live.results.get(&origin) {
        let color = if r.outcome.is_ok() { ui.visuals().text_color() } else { ui.visuals().error_fg_color };
        let mark = if r.outcome.is_ok() { "ok:" } else { "error:" };
        ui.add(egui::Label::new(RichText::new(format!("{mark} {}", r.text())).color(color)).truncate());
    } else if link.live.in_flight() > 0 {
        ui.label(RichText::new("waiting for the browser…").weak());
    } else {
        ui.label("");
    }
}

fn actions(app: &mut App, ui: &mut egui::Ui, sel: Selection) {
    let live = app.conns.current().is_some_and(|l| l.is_live());
    ui.add_enabled_ui(live, |ui| match sel {
        Selection::Tab(t) => tab_actions(app, ui, t),
        Selection::Window(w) => window_actions(app, ui, w),
    });
    result_line(app, ui, Origin::Actions);
}

fn tab_actions(app: &mut App, ui: &mut egui::Ui, t: i64) {
    let content = app
        .conns
        .current()
        .and_then(|l| l.live.model.tab(t))
        .is_some_and(|tab| tab.kind.as_deref().is_none_or(|k| k == "content"));
    ui.horizontal_wrapped(|ui| {
        if ui.button("Activate").clicked() {
            app.send(
                "tabs.update",
                json!({"tabId": t, "updateProperties": {"active": true}}),
                Origin::Actions,
            );
        }
        if ui.button("Reload").on_hover_text("bypassing the cache (F5)").clicked() {
            app.send(
                "tabs.reload",
                json!({"tabId": t, "reloadProperties": {"bypassCache": true}}),
                Origin::Actions,
            );
        }
        if ui.button("Duplicate").on_hover_text("Ctrl+D").clicked() {
            app.send("tabs.duplicate", json!({"tabId": t}), Origin::Actions);
        }
        if ui.button("Close").on_hover_text("Ctrl+W").clicked() {
            app.send("tabs.remove", json!({"tabIds": [t]}), Origin::Actions);
        }
        ui.separator();
        let l = ui.label("Move to index");
        ui.add(egui::TextEdit::singleline(&mut app.forms.move_index).desired_width(40.0)).labelled_by(l.id);
        let l = ui.label("in window");
        ui.add(egui::TextEdit::singleline(&mut app.forms.move_window).hint_text("same").desired_width(50.0))
            .labelled_by(l.id);
        if ui.button("Move").clicked() {
            match app.forms.move_index.trim().parse::<i64>() {
                Ok(index) => {
                    let mut props = json!({ "index": index });
                    if let Ok(w) = app.forms.move_window.trim().parse::<i64>() {
                        props["windowId"] = json!(w);
                    }
                    app.send("tabs.move", json!({"tabIds": [t], "moveProperties": props}), Origin::Actions);
                }
                Err(_) => app.say("the index must be a whole number (-1 moves to the end)", true),
            }
        }
    });
    ui.horizontal(|ui| {
        let l = ui.label("URL");
        ui.add(egui::TextEdit::singleline(&mut app.forms.url).hint_text("https://…").desired_width(320.0))
            .labelled_by(l.id);
        if ui.button("Go").clicked() && !app.forms.url.trim().is_empty() {
            let url = app.forms.url.trim().to_owned();
            app.send("tabs.update", json!({"tabId": t, "updateProperties": {"url": url}}), Origin::Actions);
        }
        ui.separator();
        let l = ui.label("New tab");
        ui.add(egui::TextEdit::singleline(&mut app.forms.new_tab_url).desired_width(160.0)).labelled_by(l.id);
        if ui.button("Open").on_hover_text("Ctrl+T").clicked() {
            let window = app.selected_window();
            let url = app.forms.new_tab_url.trim().to_owned();
            let mut props = json!({ "url": url });
            if let Some(w) = window {
                props["windowId"] = json!(w);
            }
            app.send("tabs.create", json!({ "createProperties": props }), Origin::Actions);
        }
    });
    let caps = app.conns.current().and_then(|l| l.live.agent.as_ref()).map(|a| &a.capabilities);
    let scripts = caps.is_none_or(|c| c.allows_scripts());
    let pages = caps.is_none_or(|c| c.host_access != Some(false));
    egui::CollapsingHeader::new("Script and CSS").default_open(false).show(ui, |ui| {
        if !scripts {
            ui.label(
                RichText::new(
                    "Script injection is turned off in this browser's tabscope agent (the add-on's options): \
                     Run and Insert are refused.",
                )
                .color(ui.visuals().warn_fg_color),
            );
        } else if !pages {
            ui.label(
                RichText::new(
                    "This browser's tabscope agent may not script pages: in the browser, open Add-ons > \
                     tabscope agent > Options and choose \"Allow on all pages\" (profiles made by \
                     `tabscope launch` allow it).",
                )
                .color(ui.visuals().warn_fg_color),
            );
        } else if !content {
            ui.label(RichText::new("Scripts and CSS run in content tabs only.").weak());
        }
        ui.add_enabled_ui(content && scripts && pages, |ui| {
            ui.horizontal(|ui| {
                let l = ui.label("Script");
                ui.add(egui::TextEdit::singleline(&mut app.forms.script).code_editor().desired_width(360.0))
                    .labelled_by(l.id);
                if ui.button("Run").clicked() {
                    let code = app.forms.script.clone();
                    app.send(
                        "tabs.executeScript",
                        json!({"tabId": t, "details": {"code": code}}),
                        Origin::Actions,
                    );
                }
            });
            ui.horizontal(|ui| {
                let l = ui.label("CSS");
                ui.add(egui::TextEdit::singleline(&mut app.forms.css).code_editor().desired_width(360.0))
                    .labelled_by(l.id);
                if ui.button("Insert").clicked() {
                    let code = app.forms.css.clone();
                    app.send(
                        "tabs.insertCSS",
                        json!({"tabId": t, "details": {"code": code}}),
                        Origin::Actions,
                    );
                }
                if ui.button("Remove").clicked() {
                    let code = app.forms.css.clone();
                    app.send(
                        "tabs.removeCSS",
                        json!({"tabId": t, "details": {"code": code}}),
                        Origin::Actions,
                    );
                }
            });
        });
    });
}

fn window_actions(app: &mut App, ui: &mut egui::Ui, w: i64) {
    ui.horizontal_wrapped(|ui| {
        if ui.button("Focus").clicked() {
            app.send(
                "windows.update",
                json!({"windowId": w, "updateInfo": {"focused": true}}),
                Origin::Actions,
            );
        }
        for state in ["normal", "minimized", "maximized", "fullscreen"] {
            if ui.button(state).on_hover_text(format!("set the window state to {state}")).clicked() {
                app.send(
                    "windows.update",
                    json!({"windowId": w, "updateInfo": {"state": state}}),
                    Origin::Actions,
                );
            }
        }
        if ui.button("Close window").clicked() {
            app.send("windows.remove", json!({"windowId": w}), Origin::Actions);
        }
        ui.separator();
        if ui.button("New tab here").clicked() {
            app.send("tabs.create", json!({"createProperties": {"windowId": w}}), Origin::Actions);
        }
        if ui.button("Open new window").clicked() {
            app.send("windows.create", json!({"createData": {"url": "about:blank"}}), Origin::Actions);
        }
    });
}
