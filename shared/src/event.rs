//! Browser events, typed. On the wire an event is its listener's name and
//! arguments ([`EventRecord`]); this module gives them meaning.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;

use crate::addons::{ActivityHead, AddonValueChange};
pub use crate::change_info::ChangeInfo;
use crate::console::ConsoleRecord;
use crate::protocol::{EventRecord, Scope, SessionValue, Tab, TabId, Window, WindowId};
use crate::raw_event::RawEvent;

/// The synthetic event the agent sends when a session value changes.
pub const SESSION_VALUE_CHANGED: &str = "tabscope.onSessionValueChanged";
/// x-ray: another add-on's session value changed (see [`crate::addons`]).
pub const ADDON_VALUE_CHANGED: &str = "tabscope.onAddonValueChanged";
/// x-ray: another add-on called an API, got an event or ran a content script.
pub const ADDON_ACTIVITY: &str = "tabscope.onAddonActivity";
/// x-ray: another add-on's console call, error or rejection, the browser's
/// message about it, or tabscope's reload of it (see [`crate::console`]).
pub const ADDON_CONSOLE: &str = "tabscope.onAddonConsole";
/// A window's state, size, position or title changed: WebExtensions have no
/// event for it, so the agent looks (after `windows.update` and every second).
pub const WINDOW_UPDATED: &str = "tabscope.onWindowUpdated";

#[derive(Clone, Debug, PartialEq)]
pub enum BrowserEvent {
    // Tabs boxed: an event is moved through several layers (parsed, queued,
    // applied), and a tab is over 500 bytes where every other event is small.
    TabCreated(Box<Tab>),
    TabUpdated {
        tab_id: TabId,
        change: ChangeInfo,
        tab: Box<Tab>,
    },
    TabActivated {
        tab_id: TabId,
        window_id: WindowId,
        previous_tab_id: Option<TabId>,
    },
    TabMoved {
        tab_id: TabId,
        window_id: WindowId,
        from_index: usize,
        to_index: usize,
    },
    TabAttached {
        tab_id: TabId,
        new_window_id: WindowId,
        new_position: usize,
    },
    TabDetached {
        tab_id: TabId,
        old_window_id: WindowId,
        old_position: usize,
    },
    TabRemoved {
        tab_id: TabId,
        window_id: WindowId,
        is_window_closing: bool,
    },
    TabHighlighted {
        window_id: WindowId,
        tab_ids: Vec<TabId>,
    },
    TabReplaced {
        added_tab_id: TabId,
        removed_tab_id: TabId,
    },
    WindowCreated(Window),
    WindowRemoved(WindowId),
    WindowFocusChanged(WindowId),
    /// The window as it is now, without its tabs.
    WindowUpdated(Window),
    SessionValueChanged {
        scope: Scope,
        id: i64,
        key: String,
        value: Option<SessionValue>,
    },
    /// x-ray: another add-on's value, set or (`value: None`) removed.
    AddonValueChanged(AddonValueChange),
    /// x-ray: a record of an add-on's console. The model keeps none: the
    /// bridge's and inspector's [`crate::console::ConsoleStore`] does.
    AddonConsole(Box<ConsoleRecord>),
    /// A real event the model has nothing to do with (`tabs.onZoomChange`, ...).
    Unmodelled(String),
}

#[derive(Debug, Error, PartialEq)]
pub enum EventError {
    #[error("unknown event {0:?}")]
    Unknown(String),
    #[error("{name}: arguments do not match the API ({message})")]
    BadArgs { name: String, message: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActiveInfo {
    tab_id: TabId,
    window_id: WindowId,
    #[serde(default)]
    previous_tab_id: Option<TabId>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoveInfo {
    window_id: WindowId,
    from_index: usize,
    to_index: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttachInfo {
    new_window_id: WindowId,
    new_position: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DetachInfo {
    old_window_id: WindowId,
    old_position: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemoveInfo {
    window_id: WindowId,
    #[serde(default)]
    is_window_closing: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HighlightInfo {
    window_id: WindowId,
    tab_ids: Vec<TabId>,
}

#[derive(Deserialize)]
struct ValueChange {
    scope: Scope,
    id: i64,
    key: String,
    #[serde(default)]
    value: Option<SessionValue>,
}

/// An event's arguments, parsed (traces, the inspector) or as the JSON text
/// the browser sent (the bridge): either way read straight into the types.
pub(crate) trait Args {
    fn typed<T: DeserializeOwned>(&self, i: usize) -> Option<serde_json::Result<T>>;
}

impl Args for [Value] {
    fn typed<T: DeserializeOwned>(&self, i: usize) -> Option<serde_json::Result<T>> {
        self.get(i).map(T::deserialize)
    }
}

/// The arguments as the agent's payload holds them, not yet checked.
impl Args for [&serde_json::value::RawValue] {
    fn typed<T: DeserializeOwned>(&self, i: usize) -> Option<serde_json::Result<T>> {
        self.get(i).map(|a| serde_json::from_str(a.get()))
    }
}

impl Args for RawEvent {
    fn typed<T: DeserializeOwned>(&self, i: usize) -> Option<serde_json::Result<T>> {
        self.arg(i).map(serde_json::from_str)
    }
}

/// The typed form of the listener's arguments `args[i]`.
fn arg<T: DeserializeOwned>(name: &str, args: &(impl Args + ?Sized), i: usize) -> Result<T, EventError> {
    let bad = |message| EventError::BadArgs { name: name.to_owned(), message };
    match args.typed(i) {
        None => Err(bad(format!("argument {} missing", i + 1))),
        Some(r) => r.map_err(|e| bad(format!("argument {}: {e}", i + 1))),
    }
}

impl BrowserEvent {
    pub fn parse(name: &str, args: &[Value]) -> Result<Self, EventError> {
        Self::parse_args(name, args)
    }

    pub(crate) fn parse_args(name: &str, args: &(impl Args + ?Sized)) -> Result<Self, EventError> {
        use BrowserEvent as E;
        Ok(match name {
            "tabs.onCreated" => E::TabCreated(arg(name, args, 0)?),
            "tabs.onUpdated" => E::TabUpdated {
                tab_id: arg(name, args, 0)?,
                change: arg(name, args, 1)?,
                tab: arg(name, args, 2)?,
            },
            "tabs.onActivated" => {
                let i: ActiveInfo = arg(name, args, 0)?;
                E::TabActivated {
                    tab_id: i.tab_id,
                    window_id: i.window_id,
                    previous_tab_id: i.previous_tab_id,
                }
            }
            "tabs.onMoved" => {
                let i: MoveInfo = arg(name, args, 1)?;
                E::TabMoved {
                    tab_id: arg(name, args, 0)?,
                    window_id: i.window_id,
                    from_index: i.from_index,
                    to_index: i.to_index,
                }
            }
            "tabs.onAttached" => {
                let i: AttachInfo = arg(name, args, 1)?;
                E::TabAttached {
                    tab_id: arg(name, args, 0)?,
                    new_window_id: i.new_window_id,
                    new_position: i.new_position,
                }
            }
            "tabs.onDetached" => {
                let i: DetachInfo = arg(name, args, 1)?;
                E::TabDetached {
                    tab_id: arg(name, args, 0)?,
                    old_window_id: i.old_window_id,
                    old_position: i.old_position,
                }
            }
            "tabs.onRemoved" => {
                let i: RemoveInfo = arg(name, args, 1)?;
                E::TabRemoved {
                    tab_id: arg(name, args, 0)?,
                    window_id: i.window_id,
                    is_window_closing: i.is_window_closing,
                }
            }
            "tabs.onHighlighted" => {
                let i: HighlightInfo = arg(name, args, 0)?;
                E::TabHighlighted { window_id: i.window_id, tab_ids: i.tab_ids }
            }
            "tabs.onReplaced" => {
                E::TabReplaced { added_tab_id: arg(name, args, 0)?, removed_tab_id: arg(name, args, 1)? }
            }
            "windows.onCreated" => E::WindowCreated(arg(name, args, 0)?),
            "windows.onRemoved" => E::WindowRemoved(arg(name, args, 0)?),
            "windows.onFocusChanged" => E::WindowFocusChanged(arg(name, args, 0)?),
            WINDOW_UPDATED => E::WindowUpdated(arg(name, args, 0)?),
            SESSION_VALUE_CHANGED => {
                let c: ValueChange = arg(name, args, 0)?;
                E::SessionValueChanged { scope: c.scope, id: c.id, key: c.key, value: c.value }
            }
            ADDON_VALUE_CHANGED => E::AddonValueChanged(arg(name, args, 0)?),
            // Checked for who and what, never parsed further: the model keeps
            // nothing of it and the arguments go on as the browser wrote them.
            ADDON_ACTIVITY => {
                let _: ActivityHead = arg(name, args, 0)?;
                E::Unmodelled(name.to_owned())
            }
            ADDON_CONSOLE => E::AddonConsole(arg(name, args, 0)?),
            "tabs.onZoomChange" => E::Unmodelled(name.to_owned()),
            _ => return Err(EventError::Unknown(name.to_owned())),
        })
    }

    pub fn from_record(r: &EventRecord) -> Result<Self, EventError> {
        Self::parse(&r.name, &r.args)
    }

    pub fn from_raw(r: &RawEvent) -> Result<Self, EventError> {
        Self::parse_args(&r.name, r)
    }
}

/// The window and tab an event is about, for filtering and selection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Target {
    pub window: Option<WindowId>,
    pub tab: Option<TabId>,
}

impl EventRecord {
    /// Where the event points, read from its raw arguments so that even
    /// events the model does not parse can be filtered by tab and window.
    pub fn target(&self) -> Target {
        target_of(&self.name, &self.args)
    }

    /// A one-line human summary of the arguments.
    pub fn summary(&self) -> String {
        summary_of(&self.name, &self.args)
    }
}

/// [`EventRecord::target`] of the event `name` with arguments `args`.
pub(crate) fn target_of(name: &str, args: &[Value]) -> Target {
    let first = args.first();
    let second = args.get(1);
    let num = |v: Option<&Value>, k: &str| v.and_then(|v| v.get(k)).and_then(Value::as_i64);
    match name {
        "tabs.onCreated" => Target { window: num(first, "windowId"), tab: num(first, "id") },
        "tabs.onActivated" => Target { window: num(first, "windowId"), tab: num(first, "tabId") },
        "tabs.onHighlighted" | "tabs.onZoomChange" => {
            Target { window: num(first, "windowId"), tab: num(first, "tabId") }
        }
        "tabs.onUpdated" => {
            Target { window: num(args.get(2), "windowId"), tab: first.and_then(Value::as_i64) }
        }
        "tabs.onMoved" | "tabs.onRemoved" => {
            Target { window: num(second, "windowId"), tab: first.and_then(Value::as_i64) }
        }
        "tabs.onAttached" => {
            Target { window: num(second, "newWindowId"), tab: first.and_then(Value::as_i64) }
        }
        "tabs.onDetached" => {
            Target { window: num(second, "oldWindowId"), tab: first.and_then(Value::as_i64) }
        }
        "tabs.onReplaced" => Target { window: None, tab: first.and_then(Value::as_i64) },
        "windows.onCreated" | WINDOW_UPDATED => Target { window: num(first, "id"), tab: None },
        "windows.onRemoved" | "windows.onFocusChanged" => {
            Target { window: first.and_then(Value::as_i64), tab: None }
        }
        ADDON_ACTIVITY => Target {
            window: None,
            tab: first.and_then(|v| v.get("data")).and_then(|d| num(Some(d), "tabId")),
        },
        SESSION_VALUE_CHANGED | ADDON_VALUE_CHANGED => {
            let id = num(first, "id");
            match first.and_then(|v| v.get("scope")).and_then(Value::as_str) {
                Some("window") => Target { window: id, tab: None },
                _ => Target { window: None, tab: id },
            }
        }
        _ => Target::default(),
    }
}

/// [`EventRecord::summary`] of the event `name` with arguments `args`.
pub(crate) fn summary_of(name: &str, args: &[Value]) -> String {
    let first = args.first();
    // A field given as null is a field not given.
    let s = |v: Option<&Value>, k: &str| {
        v.and_then(|v| v.get(k)).filter(|x| !x.is_null()).map(|x| match x {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    match name {
        "tabs.onCreated" => created_summary(
            s(first, "type").as_deref(),
            s(first, "url").or_else(|| s(first, "title")).as_deref(),
        ),
        "tabs.onUpdated" => args
            .get(1)
            .and_then(Value::as_object)
            .map(|c| change_summary(c.iter().map(|(k, v)| (k.as_str(), v))))
            .unwrap_or_default(),
        "tabs.onMoved" => format!(
            "{} -> {}",
            s(args.get(1), "fromIndex").unwrap_or_default(),
            s(args.get(1), "toIndex").unwrap_or_default()
        ),
        "tabs.onRemoved" => {
            if args.get(1).and_then(|v| v.get("isWindowClosing")) == Some(&Value::Bool(true)) {
                "window closing".into()
            } else {
                String::new()
            }
        }
        "tabs.onAttached" => format!("at {}", s(args.get(1), "newPosition").unwrap_or_default()),
        "tabs.onDetached" => format!("from {}", s(args.get(1), "oldPosition").unwrap_or_default()),
        "windows.onCreated" => {
            format!("{} {}", s(first, "type").unwrap_or_default(), s(first, "title").unwrap_or_default())
        }
        WINDOW_UPDATED => {
            let size = match (s(first, "width"), s(first, "height")) {
                (Some(w), Some(h)) => format!(" {w}x{h}"),
                _ => String::new(),
            };
            format!(
                "{}{size} {}",
                s(first, "state").unwrap_or_default(),
                s(first, "title").unwrap_or_default()
            )
        }
        SESSION_VALUE_CHANGED | ADDON_VALUE_CHANGED => {
            // Another add-on's value says whose it is.
            let owner = s(first, "extensionId").map(|e| format!("[{e}] ")).unwrap_or_default();
            match first.and_then(|v| v.get("value")) {
                Some(v) if !v.is_null() => format!(
                    "{owner}{} = {}",
                    s(first, "key").unwrap_or_default(),
                    short(v.get("value").unwrap_or(v))
                ),
                _ => format!("{owner}{} removed", s(first, "key").unwrap_or_default()),
            }
        }
        ADDON_CONSOLE => {
            first.and_then(|v| ConsoleRecord::deserialize(v).ok()).map(|r| r.summary()).unwrap_or_default()
        }
        ADDON_ACTIVITY => {
            let data = first.and_then(|v| v.get("data"));
            let detail = match data.and_then(|d| d.get("args")) {
                Some(Value::Array(a)) => {
                    format!("({})", a.iter().map(short).collect::<Vec<_>>().join(", "))
                }
                _ => data.filter(|d| !d.is_null()).map(short).unwrap_or_default(),
            };
            let cut = if first.and_then(|v| v.get("truncated")).is_some_and(|t| !t.is_null()) {
                " [arguments truncated]"
            } else {
                ""
            };
            format!(
                "[{}] {} {}{detail}{cut}",
                s(first, "extensionId").unwrap_or_default(),
                s(first, "type").unwrap_or_default(),
                s(first, "name").unwrap_or_default()
            )
        }
        _ => args.iter().map(short).collect::<Vec<_>>().join(", "),
    }
}

/// tabs.onCreated's summary: the tab's type and its address (or title).
pub(crate) fn created_summary(kind: Option<&str>, place: Option<&str>) -> String {
    format!("{} {}", kind.unwrap_or_default(), place.unwrap_or_default())
}

/// tabs.onUpdated's summary: what changed. Written into one string: this
/// runs for most records of a trace being opened.
pub(crate) fn change_summary<'a>(change: impl Iterator<Item = (&'a str, &'a Value)>) -> String {
    let mut out = String::new();
    for (i, (k, v)) in change.enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(k);
        out.push('=');
        push_short(&mut out, v);
    }
    out
}

/// A value cut to a length that fits a table cell.
fn short(v: &Value) -> String {
    let mut out = String::new();
    push_short(&mut out, v);
    out
}

/// At most [`CELL`] characters of `v` (a string without its quotes), the
/// last one `…` when it was cut.
fn push_short(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => push_cut(out, s),
        other => push_cut(out, &other.to_string()),
    }
}

const CELL: usize = 80;

fn push_cut(out: &mut String, text: &str) {
    match text.char_indices().nth(CELL) {
        None => out.push_str(text),
        Some(_) => {
            let (end, _) = text.char_indices().nth(CELL - 1).expect("longer than CELL");
            out.push_str(&text[..end]);
            out.push('…');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_thunderbird_events() {
        let e = BrowserEvent::parse(
            "tabs.onRemoved",
            &[json!(3), json!({"windowId": 2, "isWindowClosing": true})],
        )
        .unwrap();
        assert_eq!(e, BrowserEvent::TabRemoved { tab_id: 3, window_id: 2, is_window_closing: true });
        let e = BrowserEvent::parse("windows.onFocusChanged", &[json!(-1)]).unwrap();
        assert_eq!(e, BrowserEvent::WindowFocusChanged(-1));
    }

    #[test]
    fn bad_arguments_say_which() {
        let e = BrowserEvent::parse("tabs.onMoved", &[json!(3)]).unwrap_err();
        assert_eq!(
            e,
            EventError::BadArgs { name: "tabs.onMoved".into(), message: "argument 2 missing".into() }
        );
        assert_eq!(
            BrowserEvent::parse("tabs.onExploded", &[]).unwrap_err(),
            EventError::Unknown("tabs.onExploded".into())
        );
    }

    #[test]
    fn target_and_summary_read_raw_args() {
        let r = EventRecord {
            seq: 1,
            time: 0.0,
            name: "tabs.onUpdated".into(),
            args: vec![json!(3), json!({"status":"complete"}), json!({"id":3,"windowId":1,"index":0})],
        };
        assert_eq!(r.target(), Target { window: Some(1), tab: Some(3) });
        assert_eq!(r.summary(), "status=complete");
    }

    #[test]
    fn values_are_cut_to_a_cell() {
        let change = |v: Value| ChangeInfo::from(json!({"title": v, "n": 5}).as_object().unwrap().clone());
        assert_eq!(
            change_summary(change(json!("é".repeat(80))).iter()),
            format!("title={} n=5", "é".repeat(80))
        );
        assert_eq!(
            change_summary(change(json!("é".repeat(81))).iter()),
            format!("title={}… n=5", "é".repeat(79))
        );
        assert_eq!(short(&json!([1, 2])), "[1,2]");
        assert_eq!(short(&json!("x".repeat(100))).chars().count(), 80);
    }
}
