//! Messages between the agent (add-on), the bridge and inspectors.
//! `docs/protocol.md` shows one example of each.
//!
//! Browser objects (`Tab`, `Window`) name every documented field and keep
//! the rest in `extra`: Thunderbird sends fields no document lists.

use std::collections::BTreeMap;
use std::path::PathBuf;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod tab_fields;

/// Bumped on any incompatible change; the hello of each side carries it.
pub const PROTOCOL_VERSION: u32 = 1;
/// The native-messaging host name the agent connects to.
pub const HOST_NAME: &str = "tabscope_bridge";
/// The gecko id of tabscope's own add-on.
pub const ADDON_ID: &str = "tabscope-agent@tabscope.dev";

pub type TabId = i64;
pub type WindowId = i64;
/// `windows.WINDOW_ID_NONE`: no window has focus.
pub const WINDOW_ID_NONE: WindowId = -1;

/// A `tabs.Tab`: Thunderbird's fields, Firefox's extras, and whatever else came.
/// Read by hand ([`tab_fields`]), the most frequent object on the wire: a
/// field added here is added to the list there too (a test compares them),
/// and one that holds a `Value` to [`Tab::json_values`] (a test nests each
/// field too deep: `raw_event::tests`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tab {
    pub id: TabId,
    pub index: usize,
    pub window_id: WindowId,
    #[serde(default)]
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highlighted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fav_icon_url: Option<CompactString>,
    /// Thunderbird's tab type: mail, addressBook, calendar, tasks, chat,
    /// content, special, messageCompose, messageDisplay, ...
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_tab: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_store_id: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    /// Firefox's split view (-1: none); Thunderbird 153 sends it on every
    /// tab, so it is a field rather than an entry of `extra`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_view_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incognito: Option<bool>,
    // Firefox extras.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discarded: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audible: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted_info: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_discardable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_article: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_in_reader_mode: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_accessed: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opener_tab_id: Option<TabId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor_tab_id: Option<TabId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharing_state: Option<Value>,
    /// Fields no document lists, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Tab {
    /// A bare tab, for tests and for windows known only by an event.
    pub fn new(id: TabId, window_id: WindowId, index: usize) -> Self {
        Tab { id, window_id, index, ..Tab::default() }
    }

    /// Every field that holds JSON as it came (`mutedInfo`, `sharingState`,
    /// and the fields no document lists): what may nest deep.
    pub fn json_values(&self) -> impl Iterator<Item = &Value> {
        self.muted_info.iter().chain(&self.sharing_state).chain(self.extra.values())
    }

    /// What a person calls this tab: its title, else its url, else its type
    /// (Thunderbird's mail and address book tabs have neither).
    pub fn label(&self) -> String {
        let mut out = String::new();
        self.push_label(&mut out);
        out
    }

    /// [`Tab::label`], appended to `out` (a trace being opened relabels a
    /// tab's lane on every title change).
    pub fn push_label(&self, out: &mut String) {
        match (self.title.as_deref().filter(|t| !t.is_empty()).or(self.url.as_deref()), self.kind.as_deref())
        {
            (Some(l), _) => out.push_str(l),
            (None, Some(kind)) => {
                out.push_str(kind);
                out.push_str(" tab");
            }
            (None, None) => {
                use std::fmt::Write;
                let _ = write!(out, "tab {}", self.id);
            }
        }
    }
}

/// A `windows.Window`. `tabs` is present only when populated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    pub id: WindowId,
    #[serde(default)]
    pub focused: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incognito: Option<bool>,
    /// normal, popup, panel, devtools, messageCompose, messageDisplay, ...
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// normal, minimized, maximized, fullscreen, docked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_on_top: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tabs: Option<Vec<Tab>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Window {
    pub fn new(id: WindowId) -> Self {
        serde_json::from_value(serde_json::json!({ "id": id })).expect("a minimal window always deserialises")
    }
}

/// A session value exactly as the browser stores it. Thunderbird stores
/// strings only; Firefox also objects (kept as JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum SessionValue {
    String(String),
    Json(Value),
}

impl SessionValue {
    pub fn type_name(&self) -> &'static str {
        match self {
            SessionValue::String(_) => "string",
            SessionValue::Json(_) => "json",
        }
    }

    /// The value as the sessions API takes it back.
    pub fn to_api_value(&self) -> Value {
        match self {
            SessionValue::String(s) => Value::String(s.clone()),
            SessionValue::Json(v) => v.clone(),
        }
    }

    /// Classifies a value read from the sessions API.
    pub fn from_api_value(v: Value) -> Self {
        match v {
            Value::String(s) => SessionValue::String(s),
            other => SessionValue::Json(other),
        }
    }
}

pub type SessionValues = BTreeMap<String, SessionValue>;

/// Which kind of object a session value belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Tab,
    Window,
}

/// The whole world as one message: `windows.getAll({populate: true})` plus
/// every session value the agent knows of.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub windows: Vec<Window>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", with = "id_keys")]
    pub tab_values: BTreeMap<TabId, SessionValues>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", with = "id_keys")]
    pub window_values: BTreeMap<WindowId, SessionValues>,
    /// x-ray: every other add-on's values; absent without x-ray.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addon_values: Option<crate::addons::AddonValues>,
}

/// Maps keyed by tab or window id travel as JSON objects with string keys.
/// serde cannot turn those back into integers inside tagged enums (it
/// buffers them as strings), so the keys are parsed here.
mod id_keys {
    use std::collections::BTreeMap;

    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<V: Serialize, S: Serializer>(map: &BTreeMap<i64, V>, s: S) -> Result<S::Ok, S::Error> {
        map.serialize(s)
    }

    pub fn deserialize<'de, V: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<i64, V>, D::Error> {
        BTreeMap::<String, V>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| {
                k.parse().map(|id| (id, v)).map_err(|_| D::Error::custom(format!("id {k:?} is not a number")))
            })
            .collect()
    }
}

/// What the running browser offers, as the agent found it at run time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    #[serde(default)]
    pub tabs: Vec<String>,
    #[serde(default)]
    pub tabs_events: Vec<String>,
    #[serde(default)]
    pub windows: Vec<String>,
    #[serde(default)]
    pub windows_events: Vec<String>,
    #[serde(default)]
    pub sessions: Vec<String>,
    /// Whether `sessions.setTabValue` accepts objects (Firefox) or strings
    /// only (Thunderbird). `None` until the agent could test it on a tab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_object_values: Option<bool>,
    /// `Some(false)` when the agent was told to refuse `tabs.executeScript`,
    /// `insertCSS` and `removeCSS`; agents that do not say allow them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_injection: Option<bool>,
    /// Whether the agent holds the page access those need (`<all_urls>`);
    /// `None` where it cannot tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_access: Option<bool>,
    /// Whether the agent sees other add-ons (x-ray); agents that do not say
    /// predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xray: Option<crate::addons::XrayState>,
    /// Why x-ray is refused, in words for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xray_why: Option<String>,
}

impl Capabilities {
    pub fn allows_scripts(&self) -> bool {
        self.script_injection != Some(false)
    }

    pub fn window_values(&self) -> bool {
        self.sessions.iter().any(|m| m == "setWindowValue")
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrowserInfo {
    pub name: String,
    #[serde(default)]
    pub vendor: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
}

/// "Thunderbird 153.7.0", marked when the bridge replays a trace.
pub fn browser_label(b: &BrowserInfo, bridge: &BridgeInfo) -> String {
    let replay = if bridge.replay.is_some() { " (replay)" } else { "" };
    format!("{} {}{replay}", b.name, b.version)
}

/// The agent's first message (and again whenever its capabilities change).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentHello {
    pub protocol: u32,
    pub browser: BrowserInfo,
    pub extension_id: String,
    #[serde(default)]
    pub agent_version: String,
    #[serde(default)]
    pub manifest_version: u32,
    #[serde(default)]
    pub capabilities: Capabilities,
}

/// One browser event, as its listener received it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The agent's sequence number, from 1, without gaps.
    pub seq: u64,
    /// The browser's clock when the listener ran, ms since the epoch.
    pub time: f64,
    /// `tabs.onCreated`, `windows.onRemoved`, `tabscope.onSessionValueChanged`, ...
    pub name: String,
    /// The listener's arguments, exactly as passed.
    pub args: Vec<Value>,
}

/// A call of a browser API function, with its parameters named as the API
/// reference names them (`tabId`, `updateProperties`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub id: u64,
    pub method: String,
    #[serde(default = "empty_object")]
    pub params: Value,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// The answer to a command: its result or the browser's own error message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub id: u64,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Result(Value),
    Error(String),
}

impl Outcome {
    pub fn into_result(self) -> Result<Value, String> {
        match self {
            Outcome::Result(v) => Ok(v),
            Outcome::Error(e) => Err(e),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Agent -> bridge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum AgentMsg {
    Hello(AgentHello),
    Snapshot(Snapshot),
    Event(EventRecord),
    Reply(Reply),
    Log { level: LogLevel, message: String },
}

impl ServerMsg {
    /// The encoded [`ServerMsg::Event`] for an event already serialised:
    /// the bytes `encode` makes, without serialising the event again.
    pub fn event_payload(received: f64, event_json: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(event_json.len() + 64);
        Self::write_event_payload(&mut out, received, event_json);
        out
    }

    /// [`ServerMsg::event_payload`], appended to `out`.
    pub fn write_event_payload(out: &mut Vec<u8>, received: f64, event_json: &[u8]) {
        write_event_object(out, br#"{"type":"event","received":"#, &received, event_json)
    }
}

/// Appends `{<head><number>,"event":<event_json>}`: a message around an
/// event that is already serialised (`head` opens the object up to the
/// number's key).
pub(crate) fn write_event_object(out: &mut Vec<u8>, head: &[u8], number: &impl Serialize, event_json: &[u8]) {
    out.extend_from_slice(head);
    serde_json::to_writer(&mut *out, number).expect("a number serialises");
    out.extend_from_slice(br#","event":"#);
    out.extend_from_slice(event_json);
    out.push(b'}');
}

impl AgentMsg {
    /// Parses a payload from the agent. The agent writes `"type"` first, so
    /// a snapshot is read straight into its struct, without the copy of the
    /// whole message that serde buffers for an internally tagged enum (see
    /// BENCHMARKS.md); the bridge reads events as [`RawEvent`]s before this.
    /// Anything else takes the general path; what the general path accepts,
    /// this returns equal (fuzzed).
    ///
    /// [`RawEvent`]: crate::raw_event::RawEvent
    pub fn from_slice(payload: &[u8]) -> serde_json::Result<AgentMsg> {
        if let Some(rest) = payload.strip_prefix(br#"{"type":"snapshot","#) {
            let mut body = Vec::with_capacity(rest.len() + 1);
            body.push(b'{');
            body.extend_from_slice(rest);
            if let Ok(s) = serde_json::from_slice(&body) {
                return Ok(AgentMsg::Snapshot(s));
            }
        }
        serde_json::from_slice(payload)
    }
}

/// Bridge -> agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum BridgeMsg {
    Command(Command),
}

/// Who the bridge is, for inspectors and the discovery file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BridgeInfo {
    pub pid: u32,
    pub version: String,
    /// Wall clock at start, ms since the epoch.
    pub started: f64,
    /// The browser's extension id (argv\[2\]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The trace file, when this bridge replays one instead of serving a browser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// `TABSCOPE_LAUNCH_TOKEN` from the browser's environment: `tabscope
    /// launch` finds its browser's bridge by it, on any OS (the profile is
    /// read from the browser's command line only where `/proc` has it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_token: Option<String>,
}

/// The environment variable `tabscope launch` sets for the browser it starts.
pub const LAUNCH_TOKEN_ENV: &str = "TABSCOPE_LAUNCH_TOKEN";

/// A launch token as launch makes them: hex, 16 to 64 characters. Anything
/// else in the environment is ignored.
pub fn launch_token_from_env() -> Option<String> {
    std::env::var(LAUNCH_TOKEN_ENV).ok().filter(|t| crate::token::is_token(t))
}

/// Bridge -> inspector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerMsg {
    /// First message on every connection, and again when the agent's hello changes.
    Hello {
        protocol: u32,
        bridge: BridgeInfo,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<Box<AgentHello>>,
    },
    /// The full model. Replaces whatever the inspector had.
    Snapshot {
        /// Bridge receive time of what it reflects, ms since the epoch.
        received: f64,
        snapshot: Snapshot,
    },
    Event {
        /// Bridge receive time, ms since the epoch (monotonic within a bridge).
        received: f64,
        event: EventRecord,
    },
    /// The reply to a command this inspector sent.
    Reply(Reply),
    /// A message from the browser the bridge could not use.
    Error { received: f64, message: String },
    /// The agent's own log line.
    AgentLog { received: f64, level: LogLevel, message: String },
    /// This inspector fell behind: `dropped` messages were skipped and a
    /// fresh snapshot follows.
    Lagged { dropped: u64 },
    /// The bridge is writing the trace this inspector asked for.
    RecordingStarted { path: PathBuf },
    /// The recording ended: asked to, or writing failed (`error`); live
    /// mirroring goes on either way.
    RecordingStopped(TraceFileStatus),
    /// The flight recorder was saved (or could not be: `error`).
    FlightSaved(TraceFileStatus),
    /// The kept console asked for with [`ClientMsg::Console`], oldest first,
    /// in parts of at most about [`CONSOLE_PART_BYTES`]; the last part has
    /// `done` and the counts per add-on (kept, seen, errors, dropped).
    Console {
        records: Vec<crate::console::ConsoleRecord>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        counts: Vec<crate::console::AddonConsoleCounts>,
        done: bool,
    },
}

/// The size of one [`ServerMsg::Console`] part, about.
pub const CONSOLE_PART_BYTES: usize = 512 * 1024;

/// A trace file the bridge wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceFileStatus {
    pub path: PathBuf,
    pub records: u64,
    pub events: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Inspector -> bridge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientMsg {
    Command(Command),
    /// Asks for a fresh snapshot.
    Resync,
    /// Starts writing a trace to `path` (absolute; the bridge runs as the
    /// same user): the header, the current snapshot, then every record until
    /// [`ClientMsg::StopRecording`] or this inspector disconnects.
    Record {
        path: PathBuf,
    },
    StopRecording,
    /// Writes the flight recorder (what just happened) to `path`.
    SaveFlight {
        path: PathBuf,
    },
    /// Asks for the console the bridge kept (x-ray): the records of one
    /// add-on (all when absent) at least as serious as `level`, answered
    /// with [`ServerMsg::Console`] messages.
    Console {
        #[serde(default, rename = "extensionId", skip_serializing_if = "Option::is_none")]
        extension_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        level: Option<crate::console::Level>,
    },
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// Every field of `Tab`, none at its default (the test below keeps
    /// this list whole).
    pub(crate) fn every_tab_field() -> Value {
        json!({"id": 5, "index": 2, "windowId": 3, "active": true, "highlighted": true,
            "status": "loading", "title": "t", "url": "u", "favIconUrl": "f", "type": "mail",
            "mailTab": true, "spaceId": 1, "width": 10, "height": 20, "cookieStoreId": "c",
            "groupId": 4, "splitViewId": 8, "incognito": true, "pinned": true, "hidden": true, "discarded": true,
            "audible": true, "mutedInfo": {"muted": true}, "attention": true, "autoDiscardable": true,
            "isArticle": true, "isInReaderMode": true, "lastAccessed": 1.5, "openerTabId": 6,
            "successorTabId": 7, "sessionId": "s", "sharingState": {"camera": false}})
    }

    #[test]
    fn every_field_can_be_set_by_its_api_name() {
        let all = every_tab_field();
        let full: Tab = serde_json::from_value(all.clone()).unwrap();
        assert!(full.extra.is_empty(), "not a field of Tab: {:?}", full.extra);
        assert_eq!(serde_json::to_value(&full).unwrap(), all, "a field of Tab is missing above");
        let mut tab = Tab::new(0, 0, 0);
        for (k, v) in all.as_object().unwrap() {
            tab.set_property(k, v.clone()).unwrap();
        }
        assert_eq!(tab, full);
        tab.set_property("nextYearsField", json!(-1)).unwrap();
        assert_eq!(tab.extra["nextYearsField"], json!(-1));
        assert!(tab.set_property("index", json!("first")).is_err());
        assert_eq!(tab.index, 2, "a refused value leaves the tab as it was");
        tab.set_property("title", Value::Null).unwrap();
        assert_eq!(tab.title, None);
    }

    #[test]
    fn a_tab_reads_as_serde_json_value_would_read_it() {
        let text = r#"{"id":1,"index":0,"windowId":2,"title":"old","title":"new","nextYearsField":-1}"#;
        let tab: Tab = serde_json::from_str(text).unwrap();
        let via_value: Tab = serde_json::from_value(serde_json::from_str(text).unwrap()).unwrap();
        assert_eq!(tab, via_value);
        assert_eq!(tab.title.as_deref(), Some("new"), "the last of a repeated key, as Value keeps");
        assert_eq!(tab.extra["nextYearsField"], json!(-1));
        let missing = serde_json::from_str::<Tab>(r#"{"id":1,"index":0}"#).unwrap_err();
        assert!(missing.to_string().starts_with("missing field `windowId`"), "{missing}");
        let wrong = serde_json::from_str::<Tab>(r#"{"id":"one","index":0,"windowId":2}"#).unwrap_err();
        assert!(wrong.to_string().starts_with("invalid type: string \"one\", expected i64"), "{wrong}");
        assert!(serde_json::from_str::<Tab>("[1, 0, 2]").is_err());
    }

    #[test]
    fn tab_keeps_unknown_fields() {
        let raw = json!({"id":1,"index":0,"windowId":1,"highlighted":true,"active":true,
            "status":"complete","width":0,"height":0,"groupId":-1,"splitViewId":-1,
            "cookieStoreId":"firefox-default","favIconUrl":"chrome://messenger/skin/icons/new/compact/folder.svg",
            "spaceId":1,"type":"mail","mailTab":true,"nextYearsField":{"a":[1]}});
        let tab: Tab = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(tab.kind.as_deref(), Some("mail"));
        assert_eq!(tab.split_view_id, Some(-1));
        assert_eq!(tab.extra.get("nextYearsField"), Some(&json!({"a":[1]})));
        assert_eq!(serde_json::to_value(&tab).unwrap(), raw);
    }

    #[test]
    fn reply_has_result_or_error() {
        let ok = Reply { id: 3, outcome: Outcome::Result(json!({"id": 5})) };
        assert_eq!(serde_json::to_value(&ok).unwrap(), json!({"id":3,"result":{"id":5}}));
        let err: Reply = serde_json::from_value(json!({"id":4,"error":"Invalid tab ID: 999999"})).unwrap();
        assert_eq!(err.outcome, Outcome::Error("Invalid tab ID: 999999".into()));
        let null_result: Reply = serde_json::from_value(json!({"id":5,"result":null})).unwrap();
        assert_eq!(null_result.outcome, Outcome::Result(Value::Null));
    }

    #[test]
    fn session_values_say_their_type() {
        let s = SessionValue::String("{\"a\":1}".into());
        assert_eq!(serde_json::to_value(&s).unwrap(), json!({"type":"string","value":"{\"a\":1}"}));
        let j = SessionValue::from_api_value(json!({"a":1}));
        assert_eq!(serde_json::to_value(&j).unwrap(), json!({"type":"json","value":{"a":1}}));
    }

    #[test]
    fn value_maps_survive_tagged_messages() {
        let raw =
            json!({"type":"snapshot","windows":[],"tabValues":{"2":{"k":{"type":"string","value":"v"}}}});
        let AgentMsg::Snapshot(s) = serde_json::from_value(raw.clone()).unwrap() else { panic!() };
        assert_eq!(s.tab_values[&2]["k"], SessionValue::String("v".into()));
        let msg = ServerMsg::Snapshot { received: 1.0, snapshot: s };
        let back: ServerMsg = serde_json::from_str(&serde_json::to_string(&msg).unwrap()).unwrap();
        assert_eq!(back, msg);
        let bad = json!({"type":"snapshot","windows":[],"tabValues":{"x":{}}});
        let e = serde_json::from_value::<AgentMsg>(bad).unwrap_err().to_string();
        assert!(e.contains("id \"x\" is not a number"), "{e}");
    }

    #[test]
    fn snapshot_value_maps_use_numeric_ids() {
        let snap: Snapshot = serde_json::from_value(json!({
            "windows": [],
            "tabValues": {"3": {"k": {"type":"string","value":"v"}}}
        }))
        .unwrap();
        assert_eq!(snap.tab_values[&3]["k"], SessionValue::String("v".into()));
    }
}
