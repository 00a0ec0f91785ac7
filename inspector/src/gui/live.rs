//! What the inspector knows of one browser: the mirrored model, the agent's
//! hello, the log, commands in flight and their results. Fed by bridge
//! messages (live) or trace records (offline); no egui here.

use std::collections::HashMap;

use serde_json::Value;
use tabscope_shared::event::{BrowserEvent, SESSION_VALUE_CHANGED};
use tabscope_shared::model::{ApplyError, Model};
use tabscope_shared::protocol::{
    AgentHello, AgentMsg, BridgeInfo, ClientMsg, Command, Outcome, Scope, ServerMsg, SessionValue,
};
use tabscope_shared::trace::{Direction, TraceRecord, TraceWriter, record_from_server};

use super::log::{EventLog, Kind};

/// Where a command came from in the UI, so its result shows up there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    Actions,
    Values,
    Probe,
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
            Ok(v) => format!("{}: {}", self.method, short_json(v)),
            Err(e) => format!("{} failed: {e}", self.method),
        }
    }
}

fn short_json(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 160 { format!("{}…", s.chars().take(159).collect::<String>()) } else { s }
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
    pub recorder: Option<Recorder>,
    pub events_seen: u64,
}

/// A recording in progress: records in memory until saved.
pub struct Recorder {
    pub started: std::time::Instant,
    pub records: Vec<TraceRecord>,
}

impl Recorder {
    pub fn save(&self, path: &std::path::Path) -> std::io::Result<u64> {
        let mut w = TraceWriter::new(std::fs::File::create(path)?);
        for r in &self.records {
            w.write(r)?;
        }
        w.flush()?;
        Ok(w.count())
    }

    pub fn events(&self) -> usize {
        self.records.iter().filter(|r| r.msg.get("type").and_then(Value::as_str) == Some("event")).count()
    }
}

impl Live {
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

    pub fn browser_name(&self) -> String {
        self.agent
            .as_ref()
            .map_or("the browser".into(), |a| format!("{} {}", a.browser.name, a.browser.version))
    }

    /// Takes one message from the bridge.
    pub fn on_server(&mut self, msg: ServerMsg) {
        if let Some(rec) = &mut self.recorder
            && let Some(r) = record_from_server(&msg)
        {
            rec.records.push(r);
        }
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
                let n = self.model.tab_count();
                self.log.push(
                    received,
                    Kind::Note,
                    "snapshot",
                    None,
                    None,
                    format!("{} windows, {n} tabs", self.model.window_count()),
                );
            }
            ServerMsg::Event { received, event } => self.on_event(received, &event),
            ServerMsg::Reply(r) => {
                let Some(p) = self.pending.remove(&r.id) else { return };
                let (kind, summary) = match &r.outcome {
                    Outcome::Result(v) => (Kind::Reply, short_json(v)),
                    Outcome::Error(e) => (Kind::Error, e.clone()),
                };
                self.log.push(tabscope_shared::now_ms(), kind, &p.method, None, None, summary);
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
                let kind = if matches!(level, tabscope_shared::protocol::LogLevel::Error) {
                    Kind::Error
                } else {
                    Kind::Note
                };
                self.log.push(received, kind, "agent", None, None, message);
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
        let target = event.target();
        let kind = if event.name == SESSION_VALUE_CHANGED { Kind::Value } else { Kind::Event };
        self.log.push(received, kind, &event.name, target.window, target.tab, event.summary());
        if let Ok(BrowserEvent::SessionValueChanged { scope, id, key, value }) =
            BrowserEvent::from_record(event)
            && let Some(w) = &mut self.watch
            && w.scope == scope
            && w.id == id
            && w.key == key
            && value != w.original
        {
            w.changed_to = Some(value);
        }
        match self.model.apply_record(event) {
            Ok(()) | Err(ApplyError::Event(tabscope_shared::event::EventError::Unknown(_))) => {}
            Err(e) => self.log.push(received, Kind::Error, "model", target.window, target.tab, e.to_string()),
        }
        self.generation += 1;
    }

    /// Takes one record of an opened trace.
    pub fn on_record(&mut self, r: &TraceRecord) {
        match (r.dir, r.agent_msg()) {
            (Direction::In, Some(AgentMsg::Hello(h))) => {
                self.agent = Some(h);
                self.generation += 1;
            }
            (Direction::In, Some(AgentMsg::Snapshot(s))) => {
                self.on_server(ServerMsg::Snapshot { received: r.ts, snapshot: s })
            }
            (Direction::In, Some(AgentMsg::Event(e))) => self.on_event(r.ts, &e),
            (Direction::In, Some(AgentMsg::Reply(rep))) => {
                let summary = match &rep.outcome {
                    Outcome::Result(v) => short_json(v),
                    Outcome::Error(e) => e.clone(),
                };
                let kind = if matches!(rep.outcome, Outcome::Error(_)) { Kind::Error } else { Kind::Reply };
                self.log.push(r.ts, kind, "reply", None, None, summary);
            }
            (Direction::In, Some(AgentMsg::Log { level, message })) => {
                self.on_server(ServerMsg::AgentLog { received: r.ts, level, message })
            }
            (Direction::Out, _) => {
                let method = r.msg.get("method").and_then(Value::as_str).unwrap_or("command");
                let params = r.msg.get("params").map(short_json).unwrap_or_default();
                let tab = r.msg.pointer("/params/tabId").and_then(Value::as_i64);
                self.log.push(r.ts, Kind::Command, method, None, tab, params);
            }
            (Direction::In, None) => self.log.push(
                r.ts,
                Kind::Error,
                "trace",
                None,
                None,
                "a record that is not an agent message".into(),
            ),
        }
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

    /// Commands sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    pub fn start_recording(&mut self) {
        let mut rec = Recorder { started: std::time::Instant::now(), records: Vec::new() };
        let now = tabscope_shared::now_ms();
        // A recording starts with what the world is, so it replays alone.
        if let Some(a) = &self.agent
            && let Ok(msg) = serde_json::to_value(AgentMsg::Hello(a.clone()))
        {
            rec.records.push(TraceRecord { ts: now, dir: Direction::In, msg });
        }
        if let Ok(msg) = serde_json::to_value(AgentMsg::Snapshot(self.model.to_snapshot())) {
            rec.records.push(TraceRecord { ts: now, dir: Direction::In, msg });
        }
        self.recorder = Some(rec);
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
                name: SESSION_VALUE_CHANGED.into(),
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
            changed_to: None,
        });
        live.on_server(value_event(2, json!({"type":"string","value":"b"})));
        assert_eq!(live.watch.unwrap().changed_to, Some(Some(SessionValue::String("b".into()))));
    }

    #[test]
    fn a_recording_starts_with_the_world_and_replays_alone() {
        let mut live = Live::default();
        live.on_server(snapshot_msg());
        live.start_recording();
        live.on_server(value_event(1, json!({"type":"string","value":"a"})));
        let rec = live.recorder.take().unwrap();
        assert_eq!(rec.events(), 1);
        let mut replay = Live::default();
        for r in &rec.records {
            replay.on_record(r);
        }
        assert_eq!(replay.model, live.model);
    }
}
