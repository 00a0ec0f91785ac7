//! The app: layout, the connection bar, recording, shortcuts, empty and
//! stale states, and what is remembered between runs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::{Color32, Key, KeyboardShortcut, Modifiers, RichText};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::connection::{Connections, Status, Wake};
use super::live::Origin;
use super::log::LogFilter;
use super::{Options, log_view, panels, tree, values};

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
    ("Ctrl+T", "open a new tab"),
    ("Ctrl+D", "duplicate the selected tab"),
    ("Ctrl+W", "close the selected tab"),
    ("Ctrl+R", "start / stop recording"),
    ("Ctrl+S", "save the recording"),
    ("Ctrl+O", "open a trace"),
    ("Ctrl+P", "follow / pause the event log"),
];

pub struct App {
    pub conns: Connections,
    pub prefs: Prefs,
    pub selection: Option<Selection>,
    pub tree: tree::TreeView,
    pub forms: panels::Forms,
    pub editor: values::Editor,
    pub note: Option<(String, bool, Instant)>,
    pub focus_tree_filter: bool,
    pub focus_log_filter: bool,
    /// Log rows shown last frame (following scrolls when it grows).
    pub log_rows_seen: usize,
    launched: Vec<std::process::Child>,
    file_pick: Option<crossbeam_channel::Receiver<(bool, Option<PathBuf>)>>,
    show_help: bool,
}

impl App {
    pub fn new(opts: Options, prefs: Option<Prefs>, runtime_dir: PathBuf, wake: Wake) -> Self {
        let mut conns = Connections::new(runtime_dir, opts.bridge.clone(), wake);
        if let Some(p) = &opts.open {
            conns.open_trace(p);
        }
        Self {
            conns,
            prefs: prefs.unwrap_or_default(),
            selection: None,
            tree: tree::TreeView::default(),
            forms: panels::Forms::default(),
            editor: values::Editor::default(),
            note: None,
            focus_tree_filter: false,
            focus_log_filter: false,
            log_rows_seen: 0,
            launched: Vec::new(),
            file_pick: None,
            show_help: false,
        }
    }

    /// Sends a command to the browser shown; false when it is not live.
    pub fn send(&mut self, method: &str, params: Value, origin: Origin) -> bool {
        let Some(link) = self.conns.current_mut() else { return false };
        if !link.is_live() {
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
            self.save_recording();
        }
        if pressed(cmd(Key::O)) {
            self.pick_file(false);
        }
        if pressed(cmd(Key::P)) {
            self.prefs.follow = !self.prefs.follow;
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
        let typing = ctx.memory(|m| m.focused().is_some());
        if !typing {
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
            for (i, link) in self.conns.links.iter().enumerate() {
                let (dot, tip) = status_dot(&link.status);
                let selected = self.conns.current == Some(i);
                status_dot_widget(ui, dot);
                let r = ui.selectable_label(selected, link.label.as_str()).on_hover_text(tip);
                if r.clicked() {
                    switch = Some(i);
                }
                if !link.is_live()
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
                if ui.button("Open trace…").on_hover_text("Ctrl+O").clicked() {
                    self.pick_file(false);
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
        let live = self
            .conns
            .current()
            .map(|l| (l.is_live(), l.live.recorder.as_ref().map(|r| (r.started.elapsed(), r.events()))));
        match live {
            Some((_, Some((elapsed, events)))) => {
                let secs = elapsed.as_secs();
                status_dot_widget(ui, Color32::from_rgb(220, 60, 60));
                let label = RichText::new(format!(
                    "Stop recording  {:02}:{:02}  {events} events",
                    secs / 60,
                    secs % 60
                ))
                .color(Color32::from_rgb(220, 60, 60));
                if ui.button(label).on_hover_text("stop recording (Ctrl+R)").clicked() {
                    self.toggle_recording();
                }
                ui.ctx().request_repaint_after(Duration::from_millis(500));
            }
            Some((true, None)) => {
                if ui.button("Record").on_hover_text("record every event from now (Ctrl+R)").clicked() {
                    self.toggle_recording();
                }
            }
            _ => {
                ui.add_enabled(false, egui::Button::new("Record"));
            }
        }
        let has_records = self.conns.current().is_some_and(|l| l.live.recorder.is_some());
        if has_records && ui.button("Save…").on_hover_text("save the recording (Ctrl+S)").clicked() {
            self.pick_file(true);
        }
    }

    pub fn toggle_recording(&mut self) {
        let Some(link) = self.conns.current_mut() else { return };
        if link.live.recorder.is_some() {
            // Stopping keeps the records until they are saved or a new recording starts.
            let n = link.live.recorder.as_ref().map_or(0, |r| r.records.len());
            self.say(format!("recording stopped: {n} records; Save… writes them"), false);
            self.save_recording();
        } else if link.is_live() {
            link.live.start_recording();
            self.say("recording", false);
        }
    }

    /// Saves the current recording to the trace path.
    pub fn save_recording(&mut self) {
        let path = PathBuf::from(&self.prefs.trace_path);
        self.save_recording_to(&path);
    }

    pub fn save_recording_to(&mut self, path: &Path) {
        let Some(link) = self.conns.current_mut() else { return };
        let Some(rec) = link.live.recorder.take() else {
            self.say("nothing recorded: press Record first", true);
            return;
        };
        match rec.save(path) {
            Ok(n) => self.say(format!("saved {n} records to {}", path.display()), false),
            Err(e) => {
                let msg = format!("cannot save to {}: {e}", path.display());
                if let Some(link) = self.conns.current_mut() {
                    link.live.recorder = Some(rec);
                }
                self.say(msg, true);
            }
        }
    }

    /// A native file dialog on a thread (it must not block the UI); without
    /// one (no portal), the trace path field in the log panel is used.
    fn pick_file(&mut self, save: bool) {
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
            let picked = if save { d.save_file() } else { d.pick_file() };
            let _ = tx.send((save, picked));
        });
        self.file_pick = Some(rx);
    }

    fn pick_file_result(&mut self) {
        let Some(rx) = &self.file_pick else { return };
        let Ok((save, picked)) = rx.try_recv() else { return };
        self.file_pick = None;
        match picked {
            Some(p) => {
                self.prefs.trace_path = p.to_string_lossy().into_owned();
                if save { self.save_recording_to(&p) } else { self.conns.open_trace(&p) }
            }
            None if save => self.save_recording(),
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
            Status::Offline { path, warning } => (
                format!(
                    "Trace {} (offline, read-only){}",
                    path.display(),
                    warning.as_ref().map(|w| format!(" — {w}")).unwrap_or_default()
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
                    match crate::cli::install::write_xpi(&out) {
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
                    self.pick_file(false);
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
        Status::Offline { path, .. } => (Color32::GRAY, format!("trace {}", path.display())),
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
