//! The add-on console window (Ctrl+J): every add-on's console calls,
//! errors, rejections, browser messages and reloads (x-ray), filtered by
//! add-on, level and text; errors stand out; the selected record unfolds
//! (its stack, its arguments as JSON) and its file:line copies or opens in
//! the user's editor; the shown add-on reloads with one click. It gets a
//! narrow view: the store, whose browser it is, and what x-ray can do.

use std::sync::Arc;

use egui::{Color32, RichText};
use tabscope_shared::addons::XrayState;
use tabscope_shared::console::{ConsoleFilter, ConsoleRecord, ConsoleStore, Level};

/// The window's own state.
#[derive(Default)]
pub struct AddonConsole {
    pub open: bool,
    pub addon: Option<String>,
    pub level: Option<Level>,
    pub text: String,
    selected: Option<usize>,
    /// The list shown, rebuilt when the store or the filter changed.
    rows: Vec<Arc<ConsoleRecord>>,
    built_for: Option<(u64, ConsoleFilter)>,
    /// What the last copy, opening or reload said.
    pub note: Option<(String, bool)>,
}

/// What the window needs of the app: a narrow view.
pub struct View<'a> {
    pub store: &'a ConsoleStore,
    /// "Thunderbird 153.8 (bridge 123)": whose console this is.
    pub browser: &'a str,
    pub xray: Option<(XrayState, Option<&'a str>)>,
    /// Reloading needs a live browser.
    pub live: bool,
}

/// What the user asked for.
pub enum Wish {
    Reload(String),
}

/// Total errors, and a line per add-on that has any: the badge every view shows.
pub fn error_badge(store: &ConsoleStore) -> Option<(u64, String)> {
    let total = store.total_errors();
    if total == 0 {
        return None;
    }
    let lines: Vec<String> = store
        .addons()
        .filter(|(_, c)| c.errors > 0)
        .map(|(id, c)| {
            format!(
                "{}: {} errors ({} since its last reload)",
                c.name.as_deref().unwrap_or(id),
                c.errors,
                c.errors_since_reload
            )
        })
        .collect();
    Some((total, lines.join("\n")))
}

fn level_color(level: Level, ui: &egui::Ui) -> Color32 {
    match level {
        Level::Error => ui.visuals().error_fg_color,
        Level::Warn => ui.visuals().warn_fg_color,
        Level::Debug => ui.visuals().weak_text_color(),
        _ => ui.visuals().text_color(),
    }
}

/// Opens `file:line` in the user's editor: `$VISUAL`/`$EDITOR` if set (as
/// `+LINE FILE`, which vi, emacs, nano and kak take), else the desktop's
/// handler for the file. Only a local file of the add-on is opened.
fn open_in_editor(path: &str, line: u32) -> Result<String, String> {
    let file = path
        .strip_prefix("file://")
        .ok_or("only the add-on's own files open (this one is inside the browser)")?;
    let file = std::path::Path::new(file);
    if !file.is_file() {
        return Err(format!("{} is not a file here", file.display()));
    }
    let editor =
        std::env::var("VISUAL").or_else(|_| std::env::var("EDITOR")).ok().filter(|e| !e.trim().is_empty());
    let spawned = match &editor {
        Some(e) => std::process::Command::new(e).arg(format!("+{line}")).arg(file).spawn(),
        None if cfg!(target_os = "macos") => std::process::Command::new("open").arg(file).spawn(),
        None if cfg!(windows) => std::process::Command::new("explorer").arg(file).spawn(),
        None => std::process::Command::new("xdg-open").arg(file).spawn(),
    };
    spawned.map(|_| format!("opened {}", file.display())).map_err(|e| format!("cannot open an editor: {e}"))
}

impl AddonConsole {
    fn filter(&self) -> ConsoleFilter {
        ConsoleFilter {
            extension_id: self.addon.clone(),
            level: self.level,
            text: Some(self.text.clone()).filter(|t| !t.is_empty()),
        }
    }

    fn rebuild(&mut self, view: &View) {
        let f = self.filter();
        let version = view.store.version();
        if self.built_for.as_ref().is_some_and(|(v, b)| *v == version && *b == f) {
            return;
        }
        self.rows = view.store.matching(&f);
        self.built_for = Some((version, f));
        if self.selected.is_some_and(|i| i >= self.rows.len()) {
            self.selected = None;
        }
    }

    pub fn show(&mut self, ctx: &egui::Context, view: &View) -> Option<Wish> {
        let mut open = self.open;
        let mut wish = None;
        egui::Window::new("Add-on console")
            .open(&mut open)
            .default_size([900.0, 520.0])
            .resizable(true)
            .show(ctx, |ui| wish = self.contents(ui, view));
        self.open = open;
        wish
    }

    fn contents(&mut self, ui: &mut egui::Ui, view: &View) -> Option<Wish> {
        let mut wish = None;
        ui.label(RichText::new(format!("Console of every add-on in {}", view.browser)).strong());
        match view.xray {
            Some((XrayState::On, _)) => {}
            Some((_, why)) => {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    format!(
                        "x-ray is off in this agent, so no add-on's console can be seen: {}",
                        why.unwrap_or("it was packaged without it (`tabscope launch` adds it)")
                    ),
                );
            }
            None => {}
        }
        ui.horizontal(|ui| {
            let label = |id: &Option<String>| match id {
                None => "every add-on".to_owned(),
                Some(id) => view
                    .store
                    .addon(id)
                    .map(|c| format!("{} ({} errors)", c.name.as_deref().unwrap_or(id), c.errors))
                    .unwrap_or_else(|| id.clone()),
            };
            egui::ComboBox::from_id_salt("console-addon").selected_text(label(&self.addon)).show_ui(
                ui,
                |ui| {
                    ui.selectable_value(&mut self.addon, None, "every add-on");
                    for (id, _) in view.store.addons() {
                        let some = Some(id.clone());
                        let text = label(&some);
                        ui.selectable_value(&mut self.addon, some, text);
                    }
                },
            );
            let level = |l: Option<Level>| {
                l.map_or("every level".to_owned(), |l| format!("{} and worse", l.as_str()))
            };
            egui::ComboBox::from_id_salt("console-level").selected_text(level(self.level)).show_ui(
                ui,
                |ui| {
                    ui.selectable_value(&mut self.level, None, "every level");
                    for l in Level::ALL {
                        ui.selectable_value(&mut self.level, Some(l), level(Some(l)));
                    }
                },
            );
            let filter_label = ui.label("text:");
            ui.add(egui::TextEdit::singleline(&mut self.text).desired_width(200.0).hint_text("filter"))
                .labelled_by(filter_label.id);
            if let Some(id) = &self.addon {
                let can = view.live && matches!(view.xray, Some((XrayState::On, _)));
                let b = ui.add_enabled(can, egui::Button::new("Reload add-on")).on_hover_text(
                    "reload it from its files, as about:debugging does; new experiment code runs too",
                );
                if b.clicked() {
                    wish = Some(Wish::Reload(id.clone()));
                }
            }
        });
        if let Some((text, error)) = &self.note {
            let c = if *error { ui.visuals().error_fg_color } else { ui.visuals().weak_text_color() };
            ui.colored_label(c, text);
        }
        self.rebuild(view);
        ui.separator();
        if self.rows.is_empty() {
            ui.label(RichText::new(if view.store.is_empty() {
                "Nothing logged yet. Every add-on's console.log, errors and unhandled rejections appear here, \
                 with what the browser says about it (manifest warnings, a native host's stderr) and each reload."
            } else {
                "No record matches the filter."
            })
            .weak());
            return wish;
        }
        let detail_h = if self.selected.is_some() { 170.0 } else { 0.0 };
        let row_h = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
        let mut clicked = None;
        egui::ScrollArea::vertical()
            .max_height((ui.available_height() - detail_h).max(80.0))
            .auto_shrink([false, false])
            .stick_to_bottom(true)
            .show_rows(ui, row_h, self.rows.len(), |ui, range| {
                for i in range {
                    let r = &self.rows[i];
                    let color = level_color(r.level, ui);
                    // Control characters from the add-on, made visible (as `logs` does).
                    let line = tabscope_shared::terminal::escape(&r.summary()).into_owned();
                    let mut text = RichText::new(line).monospace().color(color);
                    if r.is_error() {
                        text = text.strong();
                    }
                    if ui.selectable_label(self.selected == Some(i), text).clicked() {
                        clicked = Some(i);
                    }
                }
            });
        if let Some(i) = clicked {
            self.selected = if self.selected == Some(i) { None } else { Some(i) };
        }
        if let Some(r) = self.selected.and_then(|i| self.rows.get(i)).cloned() {
            ui.separator();
            self.details(ui, &r, view);
        }
        wish
    }

    /// The selected record unfolded: where, the whole text, its arguments and stack.
    fn details(&mut self, ui: &mut egui::Ui, r: &ConsoleRecord, _view: &View) {
        egui::ScrollArea::vertical().id_salt("console-detail").max_height(160.0).show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(r.extension_name.as_deref().unwrap_or(&r.extension_id)).strong());
                if let Some(w) = &r.context {
                    ui.label(format!("in {w}"));
                }
                if let Some(p) = &r.page {
                    ui.label(format!("on {p}"));
                }
                if let Some(loc) = r.location() {
                    ui.monospace(&loc);
                    if ui.small_button("Copy").on_hover_text("file:line:column").clicked() {
                        ui.ctx().copy_text(loc.clone());
                        self.note = Some((format!("copied {loc}"), false));
                    }
                    if let Some(file) = r.file.as_deref().filter(|f| f.starts_with("file://"))
                        && ui
                            .small_button("Open")
                            .on_hover_text("in $VISUAL / $EDITOR, or the desktop's editor")
                            .clicked()
                    {
                        self.note = Some(match open_in_editor(file, r.line) {
                            Ok(t) => (t, false),
                            Err(e) => (e, true),
                        });
                    }
                }
                if let Some(t) = &r.truncated {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("cut: {} characters in all", t.chars),
                    );
                }
            });
            ui.add(egui::Label::new(RichText::new(&r.text).monospace()).wrap());
            if let Some(args) = &r.args
                && args.iter().any(|a| a.is_object() || a.is_array())
            {
                let json = serde_json::to_string_pretty(args).unwrap_or_default();
                ui.add(egui::Label::new(RichText::new(json).monospace().weak()).wrap());
            }
            if let Some(stack) = &r.stack {
                for frame in stack.lines().filter(|l| !l.trim().is_empty()) {
                    ui.monospace(format!("  at {frame}"));
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_badge_counts_errors_per_add_on() {
        let mut s = ConsoleStore::default();
        assert!(error_badge(&s).is_none());
        for (id, level) in [("a@x", "error"), ("a@x", "log"), ("b@x", "error"), ("a@x", "error")] {
            s.push(
                serde_json::from_value(json!({"extensionId": id, "source": "console", "level": level}))
                    .unwrap(),
            );
        }
        let (n, tip) = error_badge(&s).unwrap();
        assert_eq!(n, 3);
        assert_eq!(tip, "a@x: 2 errors (2 since its last reload)\nb@x: 1 errors (1 since its last reload)");
    }
}
