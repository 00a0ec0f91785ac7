//! What the inspector knows of one browser: the mirrored model, the agent's
//! hello, the log, commands in flight and their results. Fed by bridge
//! messages (live) or trace records (offline); no egui here.

use std::collections::HashMap;

use serde_json::Value;
use tabscope_shared::addons::XrayState;
use tabscope_shared::console::ConsoleStore;
use tabscope_shared::event::BrowserEvent;
use tabscope_shared::model::{ApplyError, Model};
use tabscope_shared::protocol::{
    AgentHello, BridgeInfo, ClientMsg, Command, Outcome, Scope, ServerMsg, SessionValue, TraceFileStatus,
};

use super::log::{EventLog, Kind, short_json};

/// Where a command came from in the UI, so its result shows up there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    Actions,
    Values,
    Probe,
    Console,
    /// The add-on console's Reload button.
    AddonConsole,
    Other,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ActionResult {
    pub method: String,
    pub outcome: Result<Value, String>,
}

impl ActionResult {
    pub fn text(&self) -> String {
        match &self.outcome {
            Ok(Value::Null) => format!("{}: done", self.method),
            // One result per frame the script ran in.
            Ok(Value::Array(frames)) if self.method == "tabs.executeScript" => {
                let each: Vec<String> =
                    frames.iter().enumerate().map(|(i, v)| format!("frame {i}: {}", short_json(v))).collect();
                format!(
                    "{}: {}",
                    self.method,
                    if each.is_empty() { "no frame".into() } else { each.join(" · ") }
                )
            }
            Ok(v) => format!("{}: {}", self.method, short_json(v)),
            Err(e) => match tabscope_shared::methods::caveat(&self.method) {
                // Said once: the agent's own explanation may already be there.
                Some(why) if !e.contains("tabscope") => {
                    format!("{} failed: {e} ({} {why})", self.method, self.method)
                }
                _ => format!("{} failed: {e}", self.method),
            },
        }
    }
}

struct Pending {
    method: String,
    origin: Origin,
}

/// The session value being edited: what it was when editing began, and
/// what the browser changed it to since, if it did.
#[derive(Clone, Debug, PartialEq)]
pub struct EditWatch {
    pub scope: Scope,
    pub id: i64,
    /// Whose value: the agent's own (`None`) or another add-on's (x-ray).
    pub owner: Option<String>,
    pub key: String,
    pub original: Option<SessionValue>,
    pub changed_to: Option<Option<SessionValue>>,
}

#[derive(Default)]
pub struct Live {
    pub model: Model,
    pub agent: Option<AgentHello>,
    pub bridge: Option<BridgeInfo>,
    pub log: EventLog,
    /// Bumped on every model change: views rebuild what they derive from it.
    pub generation: u64,
    pending: HashMap<u64, Pending>,
    next_id: u64,
    pub results: HashMap<Origin, ActionResult>,
    pub probe: Option<Value>,
    pub watch: Option<EditWatch>,
    pub recording: Recording,
    pub events_seen: u64,
    /// A trace the bridge wrote for us that the app should open (a saved
    /// flight recording).
    pub to_open: Option<std::path::PathBuf>,
    /// Every add-on's console (x-ray): what the bridge kept, then live.
    pub console: ConsoleStore,
    /// The kept console was asked for and has not all come: console events
    /// until then are in it already.
    console_asked: bool,
}

/// The bridge-side recording of this browser, as far as this inspector knows.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Recording {
    #[default]
    Off,
    /// Asked for, not yet confirmed.
    Starting,
    On {
        path: std::path::PathBuf,
        started: std::time::Instant,
        events_before: u64,
    },
    Stopping,
    /// The last one ended: where it is, or why it failed.
    Done(TraceFileStatus),
}

impl Recording {
    pub fn is_on(&self) -> bool {
        matches!(self, Recording::Starting | Recording::On { .. })
    }
}

impl Live {
    /// The state of a live browser: its log keeps the latest entries only.
    pub fn connected() -> Self {
        Self { log: EventLog::bounded(super::log::LIVE_LIMIT), ..Self::default() }
    }

    pub fn capabilities(&self) -> Option<&tabscope_shared::protocol::Capabilities> {
        self.agent.as_ref().map(|a| &a.capabilities)
    }

    /// Whether the browser keeps window values (Firefox yes, Thunderbird no).
    pub fn window_values(&self) -> bool {
        self.capabilities().is_some_and(|c| c.window_values())
    }

    /// `Some(false)` on Thunderbird: strings only.
    pub fn object_values(&self) -> Option<bool> {
        self.capabilities().and_then(|c| c.session_object_values)
    }

    /// x-ray's state as the agent reported it (`None`: an agent before x-ray).
    pub fn xray(&self) -> Option<(XrayState, Option<&str>)> {
        let c = self.capabilities()?;
        Some((c.xray?, c.xray_why.as_deref()))
    }

    /// The values of one tab or window, the agent's own or another add-on's.
    pub fn values_of(&self, owner: Option<&str>, scope: Scope, id: i64) -> Vec<(String, SessionValue)> {
        let map = match owner {
            None => self.model.values(scope, id),
            Some(ext) => self.model.addons().and_then(|a| a.values_of(scope, id)?.get(ext)),
        };
        map.map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
    }

    pub fn browser_name(&self) -> String {
        self.agent
            .as_ref()
            .map_or("the browser".into(), |a| format!("{} {}", a.browser.name, a.browser.version))
    }

    /// Takes one message from the bridge.
    pub fn on_server(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Hello { bridge, agent, .. } => {
                self.bridge = Some(bridge);
                if let Some(a) = agent {
                    self.agent = Some(*a);
                }
                self.generation += 1;
            }
            ServerMsg::Snapshot { received, snapshot } => {
                self.model = Model::from_snapshot(snapshot);
                self.generation += 1;
                self.log.push_snapshot(None, received, self.model.window_count(), self.model.tab_count());
            }
            ServerMsg::Event { received, event } => self.on_event(received, &event),
            ServerMsg::Reply(r) => {
                let Some(p) = self.pending.remove(&r.id) else { return };
                self.log.push_outcome(None, tabscope_shared::now_ms(), &p.method, &r.outcome);
                if p.method == "agent.probeKey"
                    && let Outcome::Result(v) = &r.outcome
                {
                    self.probe = Some(v.clone());
                }
                self.results
                    .insert(p.origin, ActionResult { method: p.method, outcome: r.outcome.into_result() });
            }
            ServerMsg::Error { received, message } => {
                self.log.push(received, Kind::Error, "bridge", None, None, message)
            }
            ServerMsg::AgentLog { received, level, message } => {
                self.log.push(received, Kind::of_level(level), "agent", None, None, message)
            }
            ServerMsg::RecordingStarted { path } => {
                let started = std::time::Instant::now();
                self.recording = Recording::On { path, started, events_before: self.events_seen };
            }
            ServerMsg::RecordingStopped(st) => {
                if let Some(e) = &st.error {
                    self.log.push(tabscope_shared::now_ms(), Kind::Error, "recording", None, None, e.clone());
                }
                self.recording = Recording::Done(st);
            }
            ServerMsg::FlightSaved(st) => match &st.error {
                Some(e) => self.log.push(
                    tabscope_shared::now_ms(),
                    Kind::Error,
                    "flight recorder",
                    None,
                    None,
                    e.clone(),
                ),
                None => self.to_open = Some(st.path),
            },
            ServerMsg::Console { records, done, .. } => {
                for r in records {
                    self.console.push(r);
                }
                if done {
                    self.console_asked = false;
                }
                self.generation += 1;
            }
            ServerMsg::Lagged { dropped } => self.log.push(
                tabscope_shared::now_ms(),
                Kind::Error,
                "lagged",
                None,
                None,
                format!("this inspector fell behind: {dropped} messages skipped, resynced with a snapshot"),
            ),
        }
    }

    fn on_event(&mut self, received: f64, event: &tabscope_shared::protocol::EventRecord) {
        self.events_seen += 1;
        self.log.push_event(None, received, event);
        let changed = match BrowserEvent::from_record(event) {
            Ok(BrowserEvent::SessionValueChanged { scope, id, key, value }) => {
                Some((scope, id, None, key, value))
            }
            Ok(BrowserEvent::AddonValueChanged(c)) => {
                Some((c.scope, c.id, Some(c.extension_id), c.key, c.value))
            }
            Ok(BrowserEvent::AddonConsole(r)) => {
                if !self.console_asked {
                    self.console.push(*r);
                }
                None
            }
            _ => None,
        };
        if let Some((scope, id, owner, key, value)) = changed
            && let Some(w) = &mut self.watch
            && (w.scope, w.id, &w.owner, &w.key) == (scope, id, &owner, &key)
            && value != w.original
        {
            w.changed_to = Some(value);
        }
        match self.model.apply_record(event) {
            Ok(()) | Err(ApplyError::Event(tabscope_shared::event::EventError::Unknown(_))) => {}
            Err(e) => {
                let target = event.target();
                self.log.push(received, Kind::Error, "model", target.window, target.tab, e.to_string())
            }
        }
        self.generation += 1;
    }

    /// Prepares a command: logged now, its reply routed to `origin`.
    pub fn command(&mut self, method: &str, params: Value, origin: Origin) -> ClientMsg {
        self.next_id += 1;
        let id = self.next_id;
        let tab = params.get("tabId").and_then(Value::as_i64);
        self.log.push(tabscope_shared::now_ms(), Kind::Command, method, None, tab, short_json(&params));
        self.pending.insert(id, Pending { method: method.to_owned(), origin });
        self.results.remove(&origin);
        ClientMsg::Command(Command { id, method: method.to_owned(), params })
    }

    /// Asks for the console the bridge kept, in place of what this view had.
    pub fn ask_console(&mut self) -> ClientMsg {
        self.console.clear();
        self.console_asked = true;
        ClientMsg::Console { extension_id: None, level: None }
    }

    /// Commands sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tabscope_shared::protocol::{EventRecord, Reply, Snapshot};

    fn snapshot_msg() -> ServerMsg {
        let snap: Snapshot = serde_json::from_value(json!({"windows":[{"id":1,"focused":true,"tabs":[
            {"id":1,"index":0,"windowId":1,"active":true,"type":"mail"}]}]}))
        .unwrap();
        ServerMsg::Snapshot { received: 1.0, snapshot: snap }
    }

    fn value_event(seq: u64, value: Value) -> ServerMsg {
        ServerMsg::Event {
            received: 2.0,
            event: EventRecord {
                seq,
                time: 2.0,
                name: tabscope_shared::event::SESSION_VALUE_CHANGED.into(),
                args: vec![json!({"scope":"tab","id":1,"key":"k","value":value})],
            },
        }
    }

    #[test]
    fn replies_reach_the_place_that_asked() {
        let mut live = Live::default();
        live.on_server(snapshot_msg());
        let ClientMsg::Command(c) = live.command("tabs.reload", json!({"tabId":1}), Origin::Actions) else {
            panic!()
        };
        live.on_server(ServerMsg::Reply(Reply {
            id: c.id,
            outcome: Outcome::Error("Invalid tab ID: 1".into()),
        }));
        assert_eq!(live.results[&Origin::Actions].text(), "tabs.reload failed: Invalid tab ID: 1");
        assert_eq!(live.in_flight(), 0);
    }

    #[test]
    fn a_value_changed_during_an_edit_is_noticed() {
        let mut live = Live::default();
        live.on_server(snapshot_msg());
        live.on_server(value_event(1, json!({"type":"string","value":"a"})));
        live.watch = Some(EditWatch {
            scope: Scope::Tab,
            id: 1,
            key: "k".into(),
            original: Some(SessionValue::String("a".into())),
            owner: None,
            changed_to: None,
        });
        live.on_server(value_event(2, json!({"type":"string","value":"b"})));
        assert_eq!(live.watch.unwrap().changed_to, Some(Some(SessionValue::String("b".into()))));
    }
}
