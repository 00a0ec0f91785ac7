//! The call console: any function of the method table, its parameters as a
//! form built from that table (or one JSON object), checked as you type by
//! the same rules the bridge applies; the result or the browser's error in
//! place, a history to go back to, and a query builder for `tabs.query`.
//! The panel sees only its own state and a narrow [`Context`].

use std::collections::{BTreeMap, VecDeque};

use egui::RichText;
use serde_json::{Map, Value, json};
use tabscope_shared::methods::{self, Kind, METHODS};

use super::live::ActionResult;

const HISTORY: usize = 100;

/// One call made from the console.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub method: String,
    pub params: Value,
    /// `None` while the browser has not answered.
    pub outcome: Option<Result<Value, String>>,
}

#[derive(Debug)]
pub struct Console {
    pub open: bool,
    pub method: String,
    /// Typed in the function list to narrow it.
    pub find: String,
    /// The text typed for each parameter of `method`.
    pub fields: BTreeMap<String, String>,
    /// Edit the parameters as one JSON object instead of a form.
    pub as_json: bool,
    pub json: String,
    pub query: Query,
    /// Newest first.
    pub history: VecDeque<Call>,
    /// The history entry shown (0 = the latest call).
    pub shown: usize,
}

impl Default for Console {
    fn default() -> Self {
        Self {
            open: false,
            method: "tabs.query".into(),
            find: String::new(),
            fields: BTreeMap::new(),
            as_json: false,
            json: "{}".into(),
            query: Query::default(),
            history: VecDeque::new(),
            shown: 0,
        }
    }
}

/// What the console may know of the app: which tab and window are
/// selected (to fill ids in) and whether the browser is live.
pub struct Context {
    pub tab: Option<i64>,
    pub window: Option<i64>,
    pub live: bool,
    /// The app's name for this browser ("Thunderbird 153.8.0"): whose
    /// functions these are.
    pub browser: String,
    pub thunderbird: bool,
}

/// One parameter's text read by its kind; empty means left out.
pub fn parse_param(name: &str, text: &str) -> Result<Option<Value>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let json = || serde_json::from_str::<Value>(t).map_err(|e| format!("{name}: not JSON ({e})"));
    let v = match methods::kind_of(name) {
        Kind::Id => Value::from(t.parse::<i64>().map_err(|_| format!("{name}: a whole number, e.g. 3"))?),
        Kind::Ids if !t.starts_with('[') => {
            let ids: Result<Vec<i64>, _> = t.split(',').map(|x| x.trim().parse::<i64>()).collect();
            Value::from(ids.map_err(|_| format!("{name}: ids separated by commas, e.g. 3, 4"))?)
        }
        // Keys and text are taken as typed: no quotes needed.
        Kind::Key | Kind::Text => Value::String(text.to_owned()),
        Kind::Number => Value::from(t.parse::<f64>().map_err(|_| format!("{name}: a number, e.g. 1.5"))?),
        Kind::Object => {
            let v = json()?;
            if !v.is_object() {
                return Err(format!("{name}: an object in braces, e.g. {{\"active\": true}}"));
            }
            v
        }
        Kind::Ids | Kind::Any => json().map_err(|e| format!("{e}; text goes in quotes: \"like this\""))?,
    };
    Ok(Some(v))
}

impl Console {
    fn method(&self) -> Option<&'static methods::Method> {
        methods::find(&self.method)
    }

    /// The parameters as the form or the JSON text give them, checked as
    /// the bridge will check them; an error names the field.
    pub fn params(&self) -> Result<Value, String> {
        let m = self.method().ok_or_else(|| format!("unknown function {:?}", self.method))?;
        let params = if self.as_json {
            serde_json::from_str::<Value>(&self.json).map_err(|e| format!("not JSON: {e}"))?
        } else {
            let mut obj = Map::new();
            for name in m.params {
                if let Some(v) = parse_param(name, self.fields.get(*name).map_or("", String::as_str))? {
                    obj.insert((*name).to_owned(), v);
                }
            }
            Value::Object(obj)
        };
        methods::validate(m.name, &params)?;
        Ok(params)
    }

    /// Switches to `name`, filling ids from the selection where empty.
    pub fn choose(&mut self, name: &str, ctx: &Context) {
        self.method = name.to_owned();
        self.prefill(ctx);
    }

    fn prefill(&mut self, ctx: &Context) {
        let Some(m) = self.method() else { return };
        for p in m.params {
            let id = match *p {
                "tabId" => ctx.tab,
                "tabIds" => ctx.tab,
                "windowId" => ctx.window,
                _ => None,
            };
            if let Some(id) = id {
                let f = self.fields.entry((*p).to_owned()).or_default();
                if f.is_empty() {
                    *f = id.to_string();
                }
            }
        }
    }

    /// Records a call about to be sent.
    pub fn sent(&mut self, method: &str, params: Value) {
        self.history.push_front(Call { method: method.to_owned(), params, outcome: None });
        self.history.truncate(HISTORY);
        self.shown = 0;
    }

    /// Takes the browser's answer to the latest call.
    pub fn answered(&mut self, r: ActionResult) {
        if let Some(c) = self.history.iter_mut().find(|c| c.outcome.is_none() && c.method == r.method) {
            c.outcome = Some(r.outcome);
        }
    }

    /// Puts a past call back in the form.
    pub fn recall(&mut self, i: usize) {
        let Some(c) = self.history.get(i).cloned() else { return };
        self.method = c.method.clone();
        self.json = serde_json::to_string_pretty(&c.params).unwrap_or_default();
        self.fields.clear();
        for (k, v) in c.params.as_object().into_iter().flatten() {
            let text = match v {
                Value::String(s) if matches!(methods::kind_of(k), Kind::Key | Kind::Text) => s.clone(),
                other => other.to_string(),
            };
            self.fields.insert(k.clone(), text);
        }
        self.shown = i;
    }
}

/// `tabs.query`'s queryInfo, built from choices: each property is left out,
/// or set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    /// Booleans: None = any.
    pub flags: BTreeMap<&'static str, Option<bool>>,
    pub url: String,
    pub title: String,
    pub status: Option<&'static str>,
    pub in_selected_window: bool,
    pub kind: String,
}

const FLAGS: &[&str] =
    &["active", "currentWindow", "lastFocusedWindow", "pinned", "highlighted", "discarded"];
const FLAGS_THUNDERBIRD: &[&str] = &["mailTab"];
const FLAGS_FIREFOX: &[&str] = &["audible", "muted", "hidden"];

impl Query {
    pub fn info(&self, window: Option<i64>) -> Value {
        let mut q = Map::new();
        for (k, v) in &self.flags {
            if let Some(b) = v {
                q.insert((*k).to_owned(), json!(b));
            }
        }
        for (k, v) in [("url", &self.url), ("title", &self.title), ("type", &self.kind)] {
            if !v.trim().is_empty() {
                q.insert(k.to_owned(), json!(v.trim()));
            }
        }
        if let Some(s) = self.status {
            q.insert("status".into(), json!(s));
        }
        if self.in_selected_window
            && let Some(w) = window
        {
            q.insert("windowId".into(), json!(w));
        }
        Value::Object(q)
    }
}

/// The console window. Returns a call to send (function, parameters), if
/// the user made one.
pub fn show(ctx_egui: &egui::Context, c: &mut Console, ctx: &Context) -> Option<(String, Value)> {
    let mut open = c.open;
    let mut request = None;
    egui::Window::new("Call console")
        .open(&mut open)
        .default_size([560.0, 520.0])
        .resizable(true)
        .show(ctx_egui, |ui| request = body(ui, c, ctx));
    c.open = open;
    request
}

fn body(ui: &mut egui::Ui, c: &mut Console, ctx: &Context) -> Option<(String, Value)> {
    ui.label(
        RichText::new(format!("Functions of {}, called through its tabscope agent.", ctx.browser)).weak(),
    );
    ui.horizontal(|ui| {
        let l = ui.label("Function");
        let mut chosen = None;
        let combo = egui::ComboBox::from_id_salt("console-method")
            .selected_text(&c.method)
            .height(400.0)
            .show_ui(ui, |ui| {
                let l = ui.label("find");
                let find = ui
                    .add(egui::TextEdit::singleline(&mut c.find).hint_text("setTab, query, …"))
                    .labelled_by(l.id);
                if !find.has_focus() && c.find.is_empty() {
                    find.request_focus();
                }
                let needle = c.find.to_lowercase();
                for m in METHODS.iter().filter(|m| m.name.to_lowercase().contains(&needle)) {
                    if ui.selectable_label(c.method == m.name, m.name).clicked() {
                        chosen = Some(m.name);
                    }
                }
            });
        combo.response.labelled_by(l.id);
        if let Some(name) = chosen {
            c.choose(name, ctx);
            c.find.clear();
        }
        ui.checkbox(&mut c.as_json, "as JSON");
    });
    if let Some(why) = methods::caveat(&c.method) {
        ui.label(RichText::new(format!("Note: {} {why}", c.method)).color(ui.visuals().warn_fg_color));
    }
    if c.method == "tabs.query" && !c.as_json {
        query_builder(ui, c, ctx);
    }
    form(ui, c);
    let checked = c.params();
    let mut request = None;
    ui.horizontal(|ui| {
        let can = ctx.live && checked.is_ok();
        let call = ui.add_enabled(can, egui::Button::new("Call")).on_hover_text("Ctrl+Enter");
        let keys = ui.input_mut(|i| {
            i.consume_shortcut(&egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::Enter))
        });
        if can
            && (call.clicked() || keys)
            && let Ok(p) = &checked
        {
            request = Some((c.method.clone(), p.clone()));
        }
        match &checked {
            // A field's own error is shown under it; say it once.
            Err(_) if !c.as_json && field_error(c) => {
                ui.label(RichText::new("fix the parameter marked in red").color(ui.visuals().error_fg_color));
            }
            Err(e) => {
                ui.label(RichText::new(e).color(ui.visuals().error_fg_color));
            }
            Ok(_) if !ctx.live => {
                ui.label(RichText::new("not connected: calls need a live browser").weak());
            }
            Ok(_) => {}
        }
    });
    ui.separator();
    outcome(ui, c);
    history(ui, c);
    request
}

/// Whether one of this function's fields holds something it cannot read.
fn field_error(c: &Console) -> bool {
    methods::find(&c.method).is_some_and(|m| {
        m.params.iter().any(|p| parse_param(p, c.fields.get(*p).map_or("", String::as_str)).is_err())
    })
}

fn form(ui: &mut egui::Ui, c: &mut Console) {
    if c.as_json {
        let l = ui.label("Parameters (a JSON object keyed by the API reference's names)");
        ui.add(
            egui::TextEdit::multiline(&mut c.json).code_editor().desired_rows(4).desired_width(f32::INFINITY),
        )
        .labelled_by(l.id);
        return;
    }
    let Some(m) = methods::find(&c.method) else { return };
    if m.params.is_empty() {
        ui.label(RichText::new("No parameters.").weak());
    }
    egui::Grid::new("console-params").num_columns(2).show(ui, |ui| {
        for name in m.params {
            let l = ui.label(*name);
            let text = c.fields.entry((*name).to_owned()).or_default();
            let hint = match methods::kind_of(name) {
                Kind::Id => "a number",
                Kind::Ids => "3, 4",
                Kind::Key | Kind::Text => "text",
                Kind::Number => "a number",
                Kind::Any => "JSON: \"text\", 1, {…}",
                Kind::Object => "{ … } (optional)",
            };
            let multiline = matches!(methods::kind_of(name), Kind::Any | Kind::Object) && text.contains('\n');
            let edit =
                if multiline { egui::TextEdit::multiline(text) } else { egui::TextEdit::singleline(text) };
            ui.add(edit.hint_text(hint).code_editor().desired_width(380.0)).labelled_by(l.id);
            ui.end_row();
            if let Err(e) = parse_param(name, text) {
                ui.label("");
                ui.label(RichText::new(e).color(ui.visuals().error_fg_color).small());
                ui.end_row();
            }
        }
    });
}

fn query_builder(ui: &mut egui::Ui, c: &mut Console, ctx: &Context) {
    egui::CollapsingHeader::new("Query builder").default_open(true).show(ui, |ui| {
        let extra = if ctx.thunderbird { FLAGS_THUNDERBIRD } else { FLAGS_FIREFOX };
        ui.horizontal_wrapped(|ui| {
            for flag in FLAGS.iter().chain(extra) {
                let v = c.query.flags.entry(flag).or_default();
                let text = match v {
                    None => format!("{flag}: any"),
                    Some(true) => format!("{flag}: yes"),
                    Some(false) => format!("{flag}: no"),
                };
                // One click steps any → yes → no → any.
                if ui.selectable_label(v.is_some(), text).clicked() {
                    *v = match v {
                        None => Some(true),
                        Some(true) => Some(false),
                        Some(false) => None,
                    };
                }
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label("url");
            ui.add(
                egui::TextEdit::singleline(&mut c.query.url)
                    .hint_text("*://*.example.org/*")
                    .desired_width(180.0),
            )
            .labelled_by(l.id);
            let l = ui.label("title");
            ui.add(egui::TextEdit::singleline(&mut c.query.title).desired_width(120.0)).labelled_by(l.id);
            let l = ui.label("type");
            let hint = if ctx.thunderbird { "mail, content, …" } else { "" };
            ui.add(egui::TextEdit::singleline(&mut c.query.kind).hint_text(hint).desired_width(90.0))
                .labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            egui::ComboBox::from_id_salt("console-status")
                .selected_text(format!("status: {}", c.query.status.unwrap_or("any")))
                .show_ui(ui, |ui| {
                    for s in [None, Some("loading"), Some("complete")] {
                        ui.selectable_value(&mut c.query.status, s, s.unwrap_or("any"));
                    }
                });
            let label = match ctx.window {
                Some(w) => format!("in window {w}"),
                None => "in the selected window (none selected)".into(),
            };
            ui.checkbox(&mut c.query.in_selected_window, label);
        });
        let info = c.query.info(ctx.window);
        c.fields.insert("queryInfo".into(), if info == json!({}) { String::new() } else { info.to_string() });
    });
}

fn outcome(ui: &mut egui::Ui, c: &Console) {
    let Some(call) = c.history.get(c.shown) else {
        ui.label(RichText::new("The result appears here.").weak());
        return;
    };
    let what = format!("{} {}", call.method, call.params);
    ui.label(RichText::new(what).monospace().weak());
    let text = match &call.outcome {
        None => {
            ui.label(RichText::new("waiting for the browser…").weak());
            return;
        }
        Some(Ok(v)) => serde_json::to_string_pretty(v).unwrap_or_default(),
        Some(Err(e)) => {
            let note =
                methods::caveat(&call.method).map(|w| format!("\n\n{} {w}", call.method)).unwrap_or_default();
            ui.label(RichText::new(format!("Error: {e}{note}")).color(ui.visuals().error_fg_color));
            return;
        }
    };
    egui::ScrollArea::vertical().id_salt("console-result").max_height(220.0).show(ui, |ui| {
        // Selectable, so that a value can be copied out.
        let mut shown = text.as_str();
        ui.add(egui::TextEdit::multiline(&mut shown).code_editor().desired_width(f32::INFINITY));
    });
}

fn history(ui: &mut egui::Ui, c: &mut Console) {
    if c.history.is_empty() {
        return;
    }
    let mut recall = None;
    egui::CollapsingHeader::new(format!("History ({})", c.history.len())).id_salt("console-history").show(
        ui,
        |ui| {
            egui::ScrollArea::vertical().id_salt("console-history-list").max_height(160.0).show_rows(
                ui,
                18.0,
                c.history.len(),
                |ui, rows| {
                    for i in rows {
                        let call = &c.history[i];
                        let mark = match &call.outcome {
                            None => "…",
                            Some(Ok(_)) => "ok",
                            Some(Err(_)) => "error",
                        };
                        let text =
                            format!("{mark:>5}  {} {}", call.method, super::log::short_json(&call.params));
                        if ui.selectable_label(c.shown == i, RichText::new(text).monospace()).clicked() {
                            recall = Some(i);
                        }
                    }
                },
            );
        },
    );
    if let Some(i) = recall {
        c.recall(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            tab: Some(7),
            window: Some(2),
            live: true,
            browser: "Thunderbird".into(),
            thunderbird: true,
        }
    }

    #[test]
    fn the_form_reads_each_parameter_by_its_kind_and_names_a_bad_one() {
        let mut c = Console::default();
        c.choose("sessions.setTabValue", &ctx());
        assert_eq!(c.fields["tabId"], "7", "filled from the selection");
        c.fields.insert("key".into(), "k".into());
        c.fields.insert("value".into(), "\"text\"".into());
        assert_eq!(c.params().unwrap(), json!({"tabId": 7, "key": "k", "value": "text"}));
        c.fields.insert("value".into(), "text without quotes".into());
        let e = c.params().unwrap_err();
        assert!(e.starts_with("value: not JSON") && e.contains("text goes in quotes"), "{e}");
        c.fields.insert("tabId".into(), "seven".into());
        assert_eq!(c.params().unwrap_err(), "tabId: a whole number, e.g. 3");
        c.choose("tabs.remove", &ctx());
        c.fields.insert("tabIds".into(), "7, 8".into());
        assert_eq!(c.params().unwrap(), json!({"tabIds": [7, 8]}));
        // As JSON, checked as the bridge checks it.
        c.as_json = true;
        c.json = r#"{"tabIds": [], "x": 1}"#.into();
        assert!(c.params().unwrap_err().contains("unknown parameter \"x\""));
    }

    #[test]
    fn history_pairs_answers_with_calls_and_recalls_them() {
        let mut c = Console::default();
        c.sent("tabs.get", json!({"tabId": 1}));
        c.sent("tabs.query", json!({"queryInfo": {"active": true}}));
        c.answered(ActionResult { method: "tabs.get".into(), outcome: Err("Invalid tab ID: 1".into()) });
        assert_eq!(c.history[1].outcome, Some(Err("Invalid tab ID: 1".into())));
        assert_eq!(c.history[0].outcome, None);
        c.recall(0);
        assert_eq!((c.method.as_str(), c.fields["queryInfo"].as_str()), ("tabs.query", r#"{"active":true}"#));
        for i in 0..150 {
            c.sent("tabs.get", json!({"tabId": i}));
        }
        assert_eq!(c.history.len(), HISTORY);
    }

    #[test]
    fn the_query_builder_sets_only_what_was_chosen() {
        let mut q = Query::default();
        assert_eq!(q.info(Some(3)), json!({}));
        q.flags.insert("active", Some(true));
        q.flags.insert("pinned", Some(false));
        q.flags.insert("muted", None);
        q.url = " *://*.org/* ".into();
        q.status = Some("complete");
        q.in_selected_window = true;
        assert_eq!(
            q.info(Some(3)),
            json!({"active": true, "pinned": false, "url": "*://*.org/*", "status": "complete", "windowId": 3})
        );
    }
}
