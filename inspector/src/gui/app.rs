//! The app: layout, the connection bar, recording, shortcuts, empty and
//! stale states, and what is remembered between runs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::{Color32, Key, KeyboardShortcut, Modifiers, RichText};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::connection::{Connections, Status, Wake};
use super::live::{Origin, Recording};
use super::log::LogFilter;
use super::{Options, addon_console, console, log_view, panels, timeline, tree, values};

/// Remembered between runs (eframe persistence); panel sizes are kept by
/// egui's own memory.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Prefs {
    pub dark: bool,
    pub tree_filter: String,
    pub tree_kind: Option<String>,
    pub log_filter: LogFilter,
    pub log_selected_only: bool,
    pub follow: bool,
    pub show_log: bool,
    pub trace_path: String,
}

impl Default for Prefs {
    fn default() -> Self {
        Self {
            dark: true,
            tree_filter: String::new(),
            tree_kind: None,
            log_filter: LogFilter::default(),
            log_selected_only: false,
            follow: true,
            show_log: true,
            trace_path: default_trace_path().to_string_lossy().into_owned(),
        }
    }
}

fn default_trace_path() -> PathBuf {
    directories::UserDirs::new()
        .map(|d| d.home_dir().to_path_buf())
        .unwrap_or_else(std::env::temp_dir)
        .join("tabscope-trace.jsonl")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    Window(i64),
    Tab(i64),
}

pub const SHORTCUTS: &[(&str, &str)] = &[
    ("Ctrl+F", "filter windows and tabs"),
    ("Ctrl+L", "filter the event log"),
    ("Up / Down", "select the previous / next row"),
    ("F5", "reload the selected tab"),
    ("Ctrl+K", "the call console: any function, with its result"),
    ("Ctrl+J", "the add-on console: every add-on's logs, errors and reloads"),
    ("Ctrl+Enter", "in the call console: call"),
    ("Ctrl+T", "open a new tab"),
    ("Ctrl+D", "duplicate the selected tab"),
    ("Ctrl+W", "close the selected tab"),
    ("Ctrl+R", "start / stop recording (the bridge writes the trace)"),
    ("Ctrl+S", "save what just happened (the flight recorder) and open it"),
    ("Ctrl+O", "open a trace (or drop a file on the window)"),
    ("Ctrl+P", "follow / pause the event log"),
    ("Left / Right", "in a trace: one record back / on (Shift: 100)"),
    ("Home / End", "in a trace: the start / the end"),
    ("P", "in a trace: pin this moment to compare with"),
];

pub struct App {
    pub conns: Connections,
    pub prefs: Prefs,
    pub selection: Option<Selection>,
    pub tree: tree::TreeView,
    pub forms: panels::Forms,
    pub editor: values::Editor,
    pub console: console::Console,
    pub addon_console: addon_console::AddonConsole,
    pub frames: super::frames::FramesView,
    pub note: Option<(String, bool, Instant)>,
    pub focus_tree_filter: bool,
    pub focus_log_filter: bool,
    /// Log rows shown last frame (following scrolls when it grows).
    pub log_rows_seen: usize,
    /// The moment of a trace moved: the log scrolls to its record.
    pub log_jump: bool,
    /// Where recordings and flight-recorder saves go.
    pub traces_dir: PathBuf,
    launched: Vec<std::process::Child>,
    file_pick: Option<crossbeam_channel::Receiver<Option<PathBuf>>>,
    show_help: bool,
}

/// `20261121T143005Z` (UTC): file names that sort by when, valid everywhere.
fn stamp() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string().replace(['-', ':'], "")
}

impl App {
    pub fn new(opts: Options, prefs: Option<Prefs>, runtime_dir: PathBuf, wake: Wake) -> Self {
        let traces_dir = opts.traces.clone().unwrap_or_else(tabscope_shared::trace::default_dir);
        let mut conns = Connections::new(runtime_dir, traces_dir.clone(), opts.bridge.clone(), wake);
        let mut note = None;
        if let Some(p) = &opts.open {
            // A folder is a browser profile: its session values.
            if p.is_dir() {
                if let Err(e) = conns.open_profile(p) {
                    note = Some((e, true, Instant::now()));
                }
            } else {
                conns.open_trace(p);
            }
        }
        Self {
            conns,
            prefs: prefs.unwrap_or_default(),
            selection: None,
            tree: tree::TreeView::default(),
            forms: panels::Forms::default(),
            editor: values::Editor::default(),
            console: console::Console::default(),
            addon_console: addon_console::AddonConsole::default(),
            frames: Default::default(),
            note,
            focus_tree_filter: false,
            focus_log_filter: false,
            log_rows_seen: 0,
            log_jump: false,
            traces_dir,
            launched: Vec::new(),
            file_pick: None,
            show_help: false,
        }
    }

    /// Sends a command to the browser shown; false when it is not live.
    pub fn send(&mut self, method: &str, params: Value, origin: Origin) -> bool {
        let Some(link) = self.conns.current_mut() else { return false };
        if !link.editable() {
            self.note = Some(("not connected: this view is read-only".into(), true, Instant::now()));
            return false;
        }
        let msg = link.live.command(method, params, origin);
        link.send(msg)
    }

    pub fn say(&mut self, text: impl Into<String>, error: bool) {
        self.note = Some((text.into(), error, Instant::now()));
    }

    /// The whole UI, for eframe and for tests alike.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        self.conns.poll();
        self.pick_file_result();
        self.open_requested(ui.ctx());
        ui.ctx().set_theme(if self.prefs.dark { egui::Theme::Dark } else { egui::Theme::Light });
        self.shortcuts(ui.ctx());

        egui::Panel::top("bar").show(ui, |ui| self.top_bar(ui));
        if self.conns.current().is_none() {
            egui::CentralPanel::default().show(ui, |ui| self.empty_state(ui));
            return;
        }
        if self.prefs.show_log {
            egui::Panel::bottom("log")
                .resizable(true)
                .default_size(260.0)
                .min_size(120.0)
                .show(ui, |ui| log_view::show(self, ui));
        }
        let tap = self.conns.current().and_then(|l| l.tap_trace()).cloned();
        if self.conns.current().is_some_and(|l| l.trace.is_some()) && tap.is_none() {
            egui::Panel::bottom("timeline")
                .resizable(true)
                .default_size(190.0)
                .min_size(90.0)
                .show(ui, |ui| timeline::show(self, ui));
            timeline::compare_window(self, ui.ctx());
        }
        // A tapped host's trace: frames, not windows and tabs.
        if let Some(index) = tap {
            egui::CentralPanel::default().show(ui, |ui| {
                self.status_banner(ui);
                super::frames::show(ui, &mut self.frames, &index);
            });
            self.console_window(ui.ctx());
            self.addon_console_window(ui.ctx());
            return;
        }
        egui::Panel::left("tree")
            .resizable(true)
            .default_size(380.0)
            .min_size(220.0)
            .show(ui, |ui| tree::show(self, ui));
        egui::CentralPanel::default().show(ui, |ui| {
            self.status_banner(ui);
            panels::show(self, ui);
        });
        if self.show_help {
            self.help_window(ui.ctx());
        }
        self.console_window(ui.ctx());
        self.addon_console_window(ui.ctx());
    }

    /// Every add-on's console (x-ray), and its Reload button.
    fn addon_console_window(&mut self, ctx: &egui::Context) {
        let Some(link) = self.conns.current_mut() else { return };
        if let Some(r) = link.live.results.remove(&Origin::AddonConsole) {
            self.addon_console.note = Some((r.text(), r.outcome.is_err()));
        }
        if !self.addon_console.open {
            return;
        }
        let link = self.conns.current().expect("checked above");
        let browser =
            match link.live.agent.as_ref().map(|a| a.extension_id.as_str()).filter(|e| !e.is_empty()) {
                Some(ext) => format!("{} (agent {ext})", link.label),
                None => link.label.clone(),
            };
        let view = addon_console::View {
            store: &link.live.console,
            browser: &browser,
            xray: link.live.xray(),
            live: link.is_live(),
        };
        if let Some(addon_console::Wish::Reload(id)) = self.addon_console.show(ctx, &view) {
            self.addon_console.note = Some((format!("reloading {id}…"), false));
            self.send("agent.reloadAddon", json!({ "extensionId": id }), Origin::AddonConsole);
        }
    }

    /// The call console, fed the browser's answers to its calls.
    fn console_window(&mut self, ctx: &egui::Context) {
        let Some(link) = self.conns.current_mut() else { return };
        if let Some(r) = link.live.results.remove(&Origin::Console) {
            self.console.answered(r);
        }
        if !self.console.open {
            return;
        }
        let link = self.conns.current().expect("checked above");
        let view = console::Context {
            tab: match self.selection {
                Some(Selection::Tab(t)) => Some(t),
                _ => None,
            },
            window: self.selected_window(),
            live: link.is_live(),
            browser: match link.live.agent.as_ref().map(|a| a.extension_id.as_str()).filter(|e| !e.is_empty())
            {
                Some(ext) => format!("{} (agent {ext})", link.label),
                None => link.label.clone(),
            },
            thunderbird: link.live.agent.as_ref().is_some_and(|a| a.browser.name == "Thunderbird"),
        };
        if let Some((method, params)) = console::show(ctx, &mut self.console, &view) {
            self.console.sent(&method, params.clone());
            self.send(&method, params, Origin::Console);
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        let cmd = |k| KeyboardShortcut::new(Modifiers::COMMAND, k);
        let pressed = |s: KeyboardShortcut| ctx.input_mut(|i| i.consume_shortcut(&s));
        if pressed(cmd(Key::F)) {
            self.focus_tree_filter = true;
        }
        if pressed(cmd(Key::L)) {
            self.focus_log_filter = true;
            self.prefs.show_log = true;
        }
        if pressed(cmd(Key::R)) {
            self.toggle_recording();
        }
        if pressed(cmd(Key::S)) {
            self.save_flight();
        }
        if pressed(cmd(Key::O)) {
            self.pick_file();
        }
        if pressed(cmd(Key::P)) {
            self.prefs.follow = !self.prefs.follow;
        }
        if pressed(cmd(Key::K)) {
            self.console.open = !self.console.open;
        }
        if pressed(cmd(Key::J)) {
            self.addon_console.open = !self.addon_console.open;
        }
        if pressed(cmd(Key::T)) {
            let window = self.selected_window();
            let mut props = json!({});
            if let Some(w) = window {
                props["windowId"] = json!(w);
            }
            self.send("tabs.create", json!({ "createProperties": props }), Origin::Actions);
        }
        if let Some(Selection::Tab(t)) = self.selection {
            if pressed(KeyboardShortcut::new(Modifiers::NONE, Key::F5)) {
                self.send("tabs.reload", json!({"tabId": t}), Origin::Actions);
            }
            if pressed(cmd(Key::D)) {
                self.send("tabs.duplicate", json!({"tabId": t}), Origin::Actions);
            }
            if pressed(cmd(Key::W)) {
                self.send("tabs.remove", json!({"tabIds": [t]}), Origin::Actions);
            }
        }
        // Only a text field takes these keys; a clicked button or row does not.
        let typing = ctx.egui_wants_keyboard_input();
        if !typing {
            self.travel_keys(ctx);
            if ctx.input(|i| i.key_pressed(Key::ArrowDown)) {
                self.tree.step_selection(&mut self.selection, 1);
            }
            if ctx.input(|i| i.key_pressed(Key::ArrowUp)) {
                self.tree.step_selection(&mut self.selection, -1);
            }
        }
    }

    pub fn selected_window(&self) -> Option<i64> {
        let live = &self.conns.current()?.live;
        match self.selection? {
            Selection::Window(w) => Some(w),
            Selection::Tab(t) => live.model.tab(t).map(|t| t.window_id),
        }
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.heading("tabscope");
            ui.separator();
            let mut switch = None;
            let mut close = None;
            let labels = super::connection::bar_labels(&self.conns.links);
            for (i, (link, label)) in self.conns.links.iter().zip(labels).enumerate() {
                let (dot, tip) = status_dot(&link.status);
                let selected = self.conns.current == Some(i);
                status_dot_widget(ui, dot);
                let r = ui.selectable_label(selected, label).on_hover_text(tip);
                if r.clicked() {
                    switch = Some(i);
                }
                let following = matches!(link.status, Status::Tapping { .. });
                if !link.is_live()
                    && !following
                    && selected
                    && ui.small_button("close").on_hover_text("close this view").clicked()
                {
                    close = Some(i);
                }
            }
            if let Some(i) = switch {
                self.conns.current = Some(i);
                self.selection = None;
            }
            if let Some(i) = close {
                self.conns.close(i);
                self.selection = None;
            }
            if self.conns.links.is_empty() {
                ui.label(RichText::new("no browser").weak());
            }
            ui.separator();
            self.recording_controls(ui);
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.button("?").on_hover_text("keyboard shortcuts").clicked() {
                    self.show_help = !self.show_help;
                }
                let theme = if self.prefs.dark { "Light theme" } else { "Dark theme" };
                if ui.button(theme).clicked() {
                    self.prefs.dark = !self.prefs.dark;
                }
                ui.toggle_value(&mut self.prefs.show_log, "log");
                ui.toggle_value(&mut self.console.open, "Console")
                    .on_hover_text("call any function (Ctrl+K)");
                ui.toggle_value(&mut self.addon_console.open, "Add-on console")
                    .on_hover_text("every add-on's console.log, errors and reloads (Ctrl+J)");
                // Errors of any add-on, visible from every view; a click shows them.
                let badge = self.conns.current().and_then(|l| addon_console::error_badge(&l.live.console));
                if let Some((n, tip)) = badge {
                    let text = RichText::new(format!("{n} add-on error{}", if n == 1 { "" } else { "s" }))
                        .color(ui.visuals().error_fg_color)
                        .strong();
                    if ui.button(text).on_hover_text(tip).clicked() {
                        self.addon_console.open = true;
                        self.addon_console.level = Some(tabscope_shared::console::Level::Error);
                    }
                }
                if ui
                    .button("Open profile…")
                    .on_hover_text("a browser profile folder: every add-on's saved session values")
                    .clicked()
                {
                    self.pick_profile();
                }
                if ui.button("Open trace…").on_hover_text("Ctrl+O").clicked() {
                    self.pick_file();
                }
                if let Some((text, error, at)) = &self.note
                    && at.elapsed() < Duration::from_secs(8)
                {
                    let c = if *error { ui.visuals().error_fg_color } else { ui.visuals().weak_text_color() };
                    ui.label(RichText::new(text).color(c));
                }
            });
        });
    }

    fn recording_controls(&mut self, ui: &mut egui::Ui) {
        let Some(link) = self.conns.current() else {
            ui.add_enabled(false, egui::Button::new("Record"));
            return;
        };
        let live = link.is_live();
        let red = Color32::from_rgb(220, 60, 60);
        match &link.live.recording {
            Recording::On { started, events_before, path } => {
                let secs = started.elapsed().as_secs();
                let events = link.live.events_seen - events_before;
                status_dot_widget(ui, red);
                let label = RichText::new(format!(
                    "Stop recording  {:02}:{:02}  {events} events",
                    secs / 60,
                    secs % 60
                ))
                .color(red);
                let tip = format!("the bridge is writing {} (Ctrl+R stops)", path.display());
                if ui.button(label).on_hover_text(tip).clicked() {
                    self.toggle_recording();
                }
                ui.ctx().request_repaint_after(Duration::from_millis(500));
            }
            Recording::Starting | Recording::Stopping => {
                ui.add_enabled(false, egui::Button::new("Record"));
                ui.spinner();
            }
            Recording::Off | Recording::Done(_) => {
                let done = match &link.live.recording {
                    Recording::Done(st) if st.error.is_none() => Some(st.clone()),
                    _ => None,
                };
                if ui
                    .add_enabled(live, egui::Button::new("Record"))
                    .on_hover_text(
                        "record every event, command and reply from now into a trace file (Ctrl+R)",
                    )
                    .clicked()
                {
                    self.toggle_recording();
                }
                if let Some(st) = done
                    && ui
                        .button(format!("Open recording ({} events)", st.events))
                        .on_hover_text(st.path.display().to_string())
                        .clicked()
                {
                    self.conns.open_trace(&st.path);
                }
            }
        }
        if ui
            .add_enabled(live, egui::Button::new("Save what just happened"))
            .on_hover_text("the bridge keeps the last events in memory all along: save them as a trace and open it (Ctrl+S)")
            .clicked()
        {
            self.save_flight();
        }
    }

    /// A new file in the traces folder, named after the browser and now.
    fn new_trace_path(&mut self, what: &str) -> Option<PathBuf> {
        let browser =
            self.conns.current()?.label.split_whitespace().next().unwrap_or("browser").to_lowercase();
        if let Err(e) = std::fs::create_dir_all(&self.traces_dir) {
            self.say(format!("cannot create {}: {e}", self.traces_dir.display()), true);
            return None;
        }
        let base = format!("{browser}-{what}-{}", stamp());
        let mut path = self.traces_dir.join(format!("{base}.jsonl"));
        let mut n = 2;
        while path.exists() {
            path = self.traces_dir.join(format!("{base}-{n}.jsonl"));
            n += 1;
        }
        Some(path)
    }

    pub fn toggle_recording(&mut self) {
        let on = self.conns.current().is_some_and(|l| l.live.recording.is_on());
        if on {
            if let Some(link) = self.conns.current_mut() {
                link.live.recording = Recording::Stopping;
                link.send(tabscope_shared::protocol::ClientMsg::StopRecording);
            }
            return;
        }
        if !self.conns.current().is_some_and(|l| l.is_live()) {
            self.say("not connected: only a live browser can be recorded", true);
            return;
        }
        let Some(path) = self.new_trace_path("recording") else { return };
        if let Some(link) = self.conns.current_mut() {
            link.live.recording = Recording::Starting;
            link.send(tabscope_shared::protocol::ClientMsg::Record { path });
        }
    }

    /// Asks the bridge to save its flight recorder; the file opens when it is written.
    pub fn save_flight(&mut self) {
        if !self.conns.current().is_some_and(|l| l.is_live()) {
            self.say("not connected: the flight recorder lives in a running bridge", true);
            return;
        }
        let Some(path) = self.new_trace_path("flight") else { return };
        if let Some(link) = self.conns.current_mut() {
            link.send(tabscope_shared::protocol::ClientMsg::SaveFlight { path });
        }
        self.say("saving what just happened…", false);
    }

    /// Opens what was asked for: a saved flight recording, files dropped on the window.
    fn open_requested(&mut self, ctx: &egui::Context) {
        let saved: Vec<PathBuf> = self.conns.links.iter_mut().filter_map(|l| l.live.to_open.take()).collect();
        for p in saved {
            self.say(format!("saved {}", p.display()), false);
            self.conns.open_trace(&p);
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        for p in dropped {
            self.open_path(&p);
        }
    }

    /// A trace file, or a profile folder.
    pub fn open_path(&mut self, p: &Path) {
        if p.is_dir() {
            if let Err(e) = self.conns.open_profile(p) {
                self.say(e, true);
            }
            self.selection = None;
            return;
        }
        self.prefs.trace_path = p.to_string_lossy().into_owned();
        self.conns.open_trace(p);
    }

    /// Left/Right/Home/End/P over an opened trace.
    fn travel_keys(&mut self, ctx: &egui::Context) {
        let Some(link) = self.conns.current_mut() else { return };
        let Some(view) = &mut link.trace else { return };
        let (left, right, home, end, pin, shift) = ctx.input(|i| {
            (
                i.key_pressed(Key::ArrowLeft),
                i.key_pressed(Key::ArrowRight),
                i.key_pressed(Key::Home),
                i.key_pressed(Key::End),
                i.key_pressed(Key::P) && i.modifiers.is_none(),
                i.modifiers.shift,
            )
        });
        let n = view.index.len();
        let by = if shift { 100 } else { 1 };
        let to = match (left, right, home, end) {
            (true, ..) => Some(view.moment.saturating_sub(by).max(1.min(n))),
            (_, true, ..) => Some((view.moment + by).min(n)),
            (_, _, true, _) => Some(1.min(n)),
            (.., true) => Some(n),
            _ => None,
        };
        if pin {
            view.pinned = if view.pinned.is_some() { None } else { Some(view.moment) };
        }
        if let Some(k) = to {
            let r = view.go(k, &mut link.live);
            self.log_jump = true;
            if let Err(e) = r {
                self.say(format!("cannot rebuild that moment: {e}"), true);
            }
        }
    }

    /// A native file dialog on a thread (it must not block the UI); without
    /// one (no portal), the trace path field in the log panel is used.
    fn pick_file(&mut self) {
        if self.file_pick.is_some() {
            return;
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let start = PathBuf::from(&self.prefs.trace_path);
        std::thread::spawn(move || {
            let d = rfd::FileDialog::new().add_filter("tabscope trace", &["jsonl", "json"]);
            let d = match (start.parent(), start.file_name()) {
                (Some(dir), Some(name)) => d.set_directory(dir).set_file_name(name.to_string_lossy()),
                _ => d,
            };
            let _ = tx.send(d.pick_file());
        });
        self.file_pick = Some(rx);
    }

    fn pick_profile(&mut self) {
        if self.file_pick.is_some() {
            return;
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            let _ = tx.send(rfd::FileDialog::new().set_title("A browser profile folder").pick_folder());
        });
        self.file_pick = Some(rx);
    }

    fn pick_file_result(&mut self) {
        let Some(rx) = &self.file_pick else { return };
        let Ok(picked) = rx.try_recv() else { return };
        self.file_pick = None;
        match picked {
            Some(p) => self.open_path(&p),
            None => self.say(
                "no file chosen (or no file dialog here): type a path in the log panel's trace field",
                false,
            ),
        }
    }

    fn status_banner(&mut self, ui: &mut egui::Ui) {
        let Some(link) = self.conns.current() else { return };
        let (text, color) = match &link.status {
            Status::Connected => return,
            Status::Connecting => ("connecting…".to_owned(), ui.visuals().warn_fg_color),
            Status::Disconnected(why) => (
                format!(
                    "Disconnected: {why}. Showing the last state seen; it reconnects when the browser's bridge comes back."
                ),
                ui.visuals().warn_fg_color,
            ),
            Status::Loading { path, progress } => {
                ui.horizontal(|ui| {
                    ui.label(format!("reading {}", path.display()));
                    ui.add(egui::ProgressBar::new(*progress).show_percentage());
                });
                return;
            }
            Status::Tapping { path, pid } => (
                format!(
                    "Live: frames of a tapped native-messaging host as they pass (tap pid {pid}, recorded in {}). \
                     Its stderr and what looked wrong are in the log below.",
                    path.display()
                ),
                Color32::from_rgb(60, 180, 90),
            ),
            Status::Offline { path, warning } if link.tap_trace().is_some() => (
                format!(
                    "Frames of a tapped native-messaging host, {} (tabscope tap){}. Its stderr, exit and what \
                         looked wrong are in the log below.",
                    path.display(),
                    warning.as_ref().map(|w| format!(" — {w}")).unwrap_or_default()
                ),
                ui.visuals().weak_text_color(),
            ),
            Status::Offline { path, warning } => (
                format!(
                    "Trace {} (read-only: travel in time with the timeline below, Left/Right, Home/End){}",
                    path.display(),
                    warning.as_ref().map(|w| format!(" — {w}")).unwrap_or_default()
                ),
                ui.visuals().weak_text_color(),
            ),
            Status::Profile { file } => (
                format!(
                    "Profile on disk: {} ({}). Every add-on's values as the browser saved them; choose whose in \
                     \"Whose values\". Edits are written to this file while the browser is closed, the old \
                     file kept beside it.",
                    file.display(),
                    link.profile.as_ref().map_or("", |p| p.file.kind)
                ),
                ui.visuals().weak_text_color(),
            ),
        };
        egui::Frame::new().fill(ui.visuals().extreme_bg_color).inner_margin(6.0).show(ui, |ui| {
            ui.label(RichText::new(text).color(color));
        });
    }

    fn empty_state(&mut self, ui: &mut egui::Ui) {
        ui.vertical_centered(|ui| {
            ui.add_space(40.0);
            ui.heading("No browser connected");
            ui.add_space(8.0);
            ui.label("tabscope shows a browser once its tabscope agent connects. Three ways to get there:");
        });
        ui.add_space(16.0);
        egui::Grid::new("empty").num_columns(2).spacing([16.0, 12.0]).show(ui, |ui| {
            ui.label(RichText::new("1. Install the host manifest").strong());
            ui.horizontal(|ui| {
                ui.label("so the browser can start tabscope-bridge.");
                if ui.button("Install host manifest").clicked() {
                    match crate::cli::install::install(crate::cli::BrowserChoice::All, &[], None) {
                        Ok(()) => self.say("host manifest installed", false),
                        Err(e) => self.say(format!("{e:#}"), true),
                    }
                }
            });
            ui.end_row();
            ui.label(RichText::new("2. Install the agent add-on").strong());
            ui.horizontal(|ui| {
                ui.label("then Add-ons Manager › gear › Install Add-on From File.");
                if ui.button("Save tabscope-agent.xpi").clicked() {
                    let out = default_trace_path().with_file_name("tabscope-agent.xpi");
                    match crate::cli::install::write_xpi(&out, false) {
                        Ok(()) => self.say(format!("wrote {}", out.display()), false),
                        Err(e) => self.say(format!("{e:#}"), true),
                    }
                }
            });
            ui.end_row();
            ui.label(RichText::new("…or launch a development browser").strong());
            ui.horizontal(|ui| {
                ui.label("a fresh profile with the agent, closed when tabscope quits:");
                for (label, arg) in [("Launch Thunderbird", "thunderbird"), ("Launch Firefox", "firefox")] {
                    if ui.button(label).clicked() {
                        self.launch(arg);
                    }
                }
            });
            ui.end_row();
            ui.label(RichText::new("…or look at a recording").strong());
            ui.horizontal(|ui| {
                if ui.button("Open trace…").clicked() {
                    self.pick_file();
                }
                if let Some(demo) = demo_trace()
                    && ui.button("Open the demo trace").clicked()
                {
                    self.conns.open_trace(&demo);
                }
            });
            ui.end_row();
        });
        ui.add_space(16.0);
        let found = self.conns.found.len();
        ui.label(
            RichText::new(format!(
                "Looking for bridges in {} ({found} found). `tabscope doctor` checks every link of the chain.",
                self.conns.runtime_dir.display()
            ))
            .weak(),
        );
    }

    fn launch(&mut self, browser: &str) {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("tabscope"));
        match std::process::Command::new(exe)
            .args(["launch", browser, "--no-inspector"])
            .stdin(std::process::Stdio::null())
            .spawn()
        {
            Ok(child) => {
                self.launched.push(child);
                self.say(format!("starting {browser}…"), false);
            }
            Err(e) => self.say(format!("cannot launch {browser}: {e}"), true),
        }
    }

    fn help_window(&mut self, ctx: &egui::Context) {
        let mut open = self.show_help;
        egui::Window::new("Keyboard shortcuts").open(&mut open).resizable(false).show(ctx, |ui| {
            egui::Grid::new("keys").num_columns(2).striped(true).show(ui, |ui| {
                for (k, what) in SHORTCUTS {
                    ui.label(RichText::new(*k).monospace());
                    ui.label(*what);
                    ui.end_row();
                }
            });
        });
        self.show_help = open;
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // Browsers started from here are closed cleanly by their launcher.
        for c in &mut self.launched {
            #[cfg(unix)]
            // SAFETY: signalling our own child.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGINT);
            }
            let _ = c.wait();
        }
    }
}

/// A small filled circle (the default fonts have no such glyph).
fn status_dot_widget(ui: &mut egui::Ui, color: Color32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
    ui.painter().circle_filled(rect.center(), 4.0, color);
}

fn status_dot(s: &Status) -> (Color32, String) {
    match s {
        Status::Connected => (Color32::from_rgb(60, 180, 90), "connected".into()),
        Status::Connecting => (Color32::from_rgb(230, 180, 40), "connecting".into()),
        Status::Disconnected(why) => (Color32::from_rgb(200, 70, 70), format!("disconnected: {why}")),
        Status::Loading { .. } => (Color32::from_rgb(120, 120, 220), "reading a trace".into()),
        Status::Tapping { pid, .. } => {
            (Color32::from_rgb(60, 180, 90), format!("tapped host running (tap pid {pid})"))
        }
        Status::Offline { path, .. } => (Color32::GRAY, format!("trace {}", path.display())),
        Status::Profile { file } => {
            (Color32::from_rgb(160, 120, 200), format!("profile file {}", file.display()))
        }
    }
}

/// The demo trace shipped in the repository, found from the working
/// directory or next to the program.
pub fn demo_trace() -> Option<PathBuf> {
    let rel = Path::new("docs/demo-trace.jsonl");
    let mut candidates = vec![rel.to_path_buf()];
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(exe.ancestors().skip(1).take(4).map(|d| d.join(rel)));
    }
    candidates.into_iter().find(|p| p.is_file())
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.prefs);
    }
}
