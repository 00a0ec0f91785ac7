//! The bridge's one owner of state: the model, the connected inspectors,
//! the commands in flight and the trace. Every other thread only moves
//! bytes and talks to the router through one channel, so the order the
//! router sees is the order everyone gets.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use serde_json::Value;
use tabscope_shared::codec::{BROWSER_MAX_INCOMING, check_len, encode};
use tabscope_shared::console::{ConsoleFilter, ConsoleStore};
use tabscope_shared::discovery::{self, Discovery};
use tabscope_shared::event::{BrowserEvent, EventError};
use tabscope_shared::methods;
use tabscope_shared::model::{ApplyError, Model};
use tabscope_shared::protocol::{
    AgentHello, AgentMsg, BridgeInfo, BridgeMsg, CONSOLE_PART_BYTES, ClientMsg, Command, LogLevel, Outcome,
    PROTOCOL_VERSION, Reply, ServerMsg, TraceFileStatus,
};
use tabscope_shared::raw_event::RawEvent;
use tabscope_shared::trace::{Micros, Record, Source};
use tracing::{debug, error, info, warn};

use crate::recorder::{FlightRecorder, Kind, Owner, Recorders, Stopped, snapshot_record};
use crate::server::{ClientHandle, ClientId, Payload, Queued};
use crate::stdio::{Event, FromBrowser, Outgoing, SendState, Spent, TO_BROWSER_QUEUE};

pub enum Input {
    Browser(FromBrowser),
    ClientConnected(ClientHandle),
    ClientMsg {
        id: ClientId,
        msg: Result<ClientMsg, String>,
    },
    ClientGone {
        id: ClientId,
    },
    /// SIGINT/SIGTERM; on Windows not sent yet (console control events are issue 17's).
    #[cfg_attr(not(unix), allow(dead_code))]
    Signal(i32),
    /// An error recorded in a replayed trace, served again as it was.
    ReplayedError(String),
    /// A replayed trace has been served to its end.
    ReplayDone {
        exit: bool,
    },
    /// A trace file's writer finished (stopped, or failed).
    RecordingEnded(Stopped),
}

/// Why the bridge stops.
#[derive(Debug, PartialEq)]
pub enum Exit {
    /// The browser closed the port or quit.
    Eof,
    /// The browser's byte stream broke.
    Fatal(String),
    Signal(i32),
}

/// Milliseconds since the epoch that never go backwards: the wall clock at
/// start plus a monotonic clock since.
pub struct Clock {
    start_wall: f64,
    start: Instant,
}

impl Clock {
    pub fn new() -> Self {
        Self { start_wall: tabscope_shared::now_ms(), start: Instant::now() }
    }
    pub fn now(&self) -> f64 {
        self.start_wall + self.start.elapsed().as_secs_f64() * 1000.0
    }
    pub fn started(&self) -> f64 {
        self.start_wall
    }
    /// The trace clock: µs since the bridge started.
    pub fn mono(&self) -> Micros {
        self.start.elapsed().as_micros() as Micros
    }
}

enum Origin {
    Client {
        id: ClientId,
        request: u64,
    },
    /// The bridge's own resync request.
    Bridge,
}

struct Pending {
    origin: Origin,
    method: String,
    deadline: Instant,
    sent: Arc<SendState>,
}

pub struct Config {
    pub runtime_dir: PathBuf,
    pub socket: PathBuf,
    pub info: BridgeInfo,
    pub command_timeout: Duration,
    /// `TABSCOPE_TRACE`: a trace of the bridge's whole life.
    pub trace: Option<PathBuf>,
    pub flight: FlightRecorder,
    /// The router's own input, for its helper threads to report back.
    pub inputs: Sender<Input>,
}

pub struct Router {
    cfg: Config,
    clock: Clock,
    agent: Option<AgentHello>,
    model: Model,
    model_received: f64,
    /// Every add-on's console (x-ray), each within its budget.
    console: ConsoleStore,
    clients: BTreeMap<ClientId, ClientHandle>,
    pending: HashMap<u64, Pending>,
    next_command: u64,
    last_seq: Option<u64>,
    resync_asked: Option<Instant>,
    to_browser: Sender<Outgoing>,
    recorders: Recorders,
    /// Told when the first inspector connects (a replay waits for one).
    first_client: Option<Sender<()>>,
    scratch: Scratch,
    /// The clients a broadcast goes to, kept between broadcasts.
    client_ids: Vec<ClientId>,
    /// Events and replaced tabs done with, and where to free them.
    spent: Spent,
    free_on: Option<Sender<Spent>>,
}

/// Buffers kept between events, so that an event costs the router two
/// allocations (its line in the flight recorder, its shared payload for
/// the inspectors) whatever it passes through.
#[derive(Default)]
struct Scratch {
    json: Vec<u8>,
    out: Vec<u8>,
}

impl Scratch {
    /// What a buffer keeps after an event: a rare huge one is not held.
    const KEEP: usize = 256 * 1024;

    fn trim(&mut self) {
        for b in [&mut self.json, &mut self.out] {
            if b.capacity() > Self::KEEP {
                *b = Vec::new();
            }
        }
    }
}

impl Router {
    pub fn new(mut cfg: Config, clock: Clock, to_browser: Sender<Outgoing>) -> anyhow::Result<Self> {
        let received = clock.now();
        let flight = std::mem::replace(&mut cfg.flight, FlightRecorder::new(0, 0));
        let inputs = cfg.inputs.clone();
        let mut recorders = Recorders::new(
            flight,
            Arc::new(move |s| {
                let _ = inputs.send(Input::RecordingEnded(s));
            }),
        );
        if let Some(path) = cfg.trace.clone() {
            // The agent starts a new bridge when it reconnects: each one
            // writes a new file next to the first, never over it.
            let started = candidates(&path).find_map(|p| {
                let header =
                    Recorders::header(Source::Bridge, clock.started(), clock.mono(), None, &cfg.info);
                match recorders.start(Owner::Env, p.clone(), header, None) {
                    Ok(()) => Some(Ok(p)),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
                    Err(e) => Some(Err(e)),
                }
            });
            match started {
                Some(Ok(p)) => info!("recording the trace to {}", p.display()),
                Some(Err(e)) => anyhow::bail!("trace file {}: {e}", path.display()),
                None => {
                    anyhow::bail!("trace file {}: it and 999 numbered names next to it exist", path.display())
                }
            }
        }
        let r = Self {
            cfg,
            clock,
            agent: None,
            model: Model::new(),
            model_received: received,
            console: ConsoleStore::default(),
            clients: BTreeMap::new(),
            pending: HashMap::new(),
            next_command: 1,
            last_seq: None,
            resync_asked: None,
            to_browser,
            recorders,
            first_client: None,
            scratch: Scratch::default(),
            client_ids: Vec::new(),
            spent: Spent::default(),
            free_on: None,
        };
        r.write_discovery();
        Ok(r)
    }

    /// Sends what the router is done with to `tx`, to be freed by the
    /// thread that allocated it (the stdin thread); without, it is freed here.
    pub fn free_spent_on(&mut self, tx: Sender<Spent>) {
        self.free_on = Some(tx);
    }

    /// Signals `tx` when the first inspector connects.
    pub fn on_first_client(&mut self, tx: Sender<()>) {
        self.first_client = Some(tx);
    }

    pub fn run(mut self, rx: Receiver<Input>) -> Exit {
        let exit = loop {
            let wait = self
                .pending
                .values()
                .map(|p| p.deadline.saturating_duration_since(Instant::now()))
                .min()
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(1));
            match rx.recv_timeout(wait) {
                Ok(input) => {
                    if let Some(exit) = self.handle(input) {
                        break exit;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break Exit::Eof,
            }
            self.expire_commands();
        };
        self.shut_down(&exit, &rx);
        exit
    }

    fn handle(&mut self, input: Input) -> Option<Exit> {
        match input {
            Input::Browser(FromBrowser::Eof) => return Some(Exit::Eof),
            Input::Browser(FromBrowser::Fatal(why)) => return Some(Exit::Fatal(why)),
            Input::Signal(sig) => return Some(Exit::Signal(sig)),
            Input::Browser(FromBrowser::BadPayload(why)) => {
                self.browser_error(format!("bad message from the browser: {why}"));
            }
            Input::ReplayedError(message) => self.browser_error(message),
            Input::Browser(FromBrowser::Event(e)) => self.on_event(self.clock.now(), e),
            Input::Browser(FromBrowser::BadEvent(why)) => {
                self.browser_error(format!("bad event from the agent: {why}"))
            }
            Input::Browser(FromBrowser::Msg(msg)) => match msg {
                Ok(m) => self.on_agent(*m),
                Err(why) => self.browser_error(format!("unknown message from the agent: {why}")),
            },
            Input::ReplayDone { exit } => {
                info!("the replay reached the end of its trace");
                if exit {
                    return Some(Exit::Eof);
                }
            }
            Input::ClientConnected(c) => {
                info!("inspector {} connected (pid {:?})", c.id, c.pid);
                if let Some(tx) = self.first_client.take() {
                    let _ = tx.send(());
                }
                let id = c.id;
                self.clients.insert(id, c);
                let hello = self.hello();
                self.send_to(id, &hello);
                self.send_snapshot_to(id);
            }
            Input::ClientGone { id } => {
                info!("inspector {id} disconnected");
                self.clients.remove(&id);
                if self.recorders.stop(Owner::Client(id)) {
                    info!("the recording of inspector {id} ends with it");
                }
            }
            Input::RecordingEnded(s) => self.recording_ended(s),
            Input::ClientMsg { id, msg: Ok(ClientMsg::Command(c)) } => self.command(id, c),
            Input::ClientMsg { id, msg: Ok(ClientMsg::Resync) } => self.send_snapshot_to(id),
            Input::ClientMsg { id, msg: Ok(ClientMsg::Record { path }) } => self.start_recording(id, path),
            Input::ClientMsg { id, msg: Ok(ClientMsg::StopRecording) } => {
                // The writer reports when the file is complete and on disk.
                if !self.recorders.stop(Owner::Client(id)) {
                    let st = TraceFileStatus {
                        path: PathBuf::new(),
                        records: 0,
                        events: 0,
                        error: Some("no recording was running".into()),
                    };
                    self.send_to(id, &ServerMsg::RecordingStopped(st));
                }
            }
            Input::ClientMsg { id, msg: Ok(ClientMsg::SaveFlight { path }) } => self.save_flight(id, path),
            Input::ClientMsg { id, msg: Ok(ClientMsg::Console { extension_id, level }) } => {
                self.send_console(id, ConsoleFilter { extension_id, level, text: None })
            }
            Input::ClientMsg { id, msg: Err(why) } => {
                warn!("inspector {id} sent a bad message: {why}");
                let msg = ServerMsg::Error {
                    received: self.clock.now(),
                    message: format!("bad message from inspector: {why}"),
                };
                self.send_to(id, &msg);
            }
        }
        None
    }

    fn on_agent(&mut self, msg: AgentMsg) {
        let received = self.clock.now();
        let msg = match msg {
            // Not the agent's own form (type first, which stdin reads as a
            // RawEvent), or a replayed one.
            AgentMsg::Event(event) => {
                return match RawEvent::try_from(event) {
                    Ok(e) => self.on_event(received, Box::new(e.into())),
                    Err(why) => self.browser_error(format!("bad event from the agent: {why}")),
                };
            }
            other => other,
        };
        let record = Record::from_agent(self.clock.mono(), msg);
        self.record(&record);
        match record {
            Record::Hello { agent, .. } => {
                let h = *agent;
                info!(
                    "agent hello: {} {} (extension {}, protocol {})",
                    h.browser.name, h.browser.version, h.extension_id, h.protocol
                );
                if h.protocol != PROTOCOL_VERSION {
                    self.browser_error(format!(
                        "the agent speaks protocol {}, this bridge {PROTOCOL_VERSION}: update the add-on or tabscope",
                        h.protocol
                    ));
                }
                self.agent = Some(h);
                self.write_discovery();
                let hello = self.hello();
                self.broadcast(&hello);
            }
            Record::Snapshot { snapshot, .. } => {
                self.model = Model::from_snapshot(snapshot);
                self.model_received = received;
                self.resync_asked = None;
                debug!("snapshot: {} windows, {} tabs", self.model.window_count(), self.model.tab_count());
                let msg = self.snapshot_msg();
                self.broadcast(&msg);
            }
            Record::Reply { reply, .. } => self.reply(reply),
            Record::Log { level, message, .. } => {
                match level {
                    LogLevel::Error => error!("agent: {message}"),
                    LogLevel::Warn => warn!("agent: {message}"),
                    LogLevel::Info => info!("agent: {message}"),
                    LogLevel::Debug => debug!("agent: {message}"),
                }
                self.broadcast(&ServerMsg::AgentLog { received, level, message });
            }
            // Events went to on_event; the rest are never made from an agent message.
            Record::Event { .. }
            | Record::Header(_)
            | Record::Command { .. }
            | Record::Error { .. }
            | Record::Gap { .. }
            | Record::Frame { .. } => {}
        }
    }

    /// Events are most of the traffic: each is serialised once (its
    /// arguments copied as the browser wrote them), and the same bytes go
    /// into the trace line and into the inspectors' message.
    fn on_event(&mut self, received: f64, mut event: Box<Event>) {
        // The typed event goes to the model; the box and the event's text go
        // back to the stdin thread (`Spent`), which only frees them. What is
        // left in `typed` there is an empty placeholder (no allocation).
        let typed = std::mem::replace(&mut event.typed, Err(EventError::Unknown(String::new())));
        let e = &event.raw;
        let t = self.clock.mono();
        let mut s = std::mem::take(&mut self.scratch);
        s.json.clear();
        e.write_json(&mut s.json);
        s.out.clear();
        Record::write_event_line(&mut s.out, t, &s.json);
        self.record_line(Kind::Event, &s.out);
        if let Some(last) = self.last_seq
            && e.seq != last + 1
            && e.seq > 1
        {
            warn!("event sequence jumped from {last} to {}: events were lost", e.seq);
            self.ask_resync();
        }
        self.last_seq = Some(e.seq);
        let applied = match typed {
            Ok(BrowserEvent::AddonConsole(record)) => {
                self.console.push(*record);
                Ok(())
            }
            Ok(event) => {
                self.model.apply_keeping_spent(event, &mut self.spent.model).map_err(ApplyError::from)
            }
            Err(e) => Err(ApplyError::from(e)),
        };
        match applied {
            Ok(()) => {}
            Err(ApplyError::Event(EventError::Unknown(name))) => {
                debug!("event {name} is forwarded but not modelled")
            }
            Err(ApplyError::Event(err)) => self.browser_error(err.to_string()),
            Err(ApplyError::Drift(d)) => {
                warn!("{d}");
                self.ask_resync();
            }
        }
        self.model_received = received;
        if !self.clients.is_empty() {
            s.out.clear();
            ServerMsg::write_event_payload(&mut s.out, received, &s.json);
            let payload = Payload::from(&s.out[..]);
            self.broadcast_payload(&payload);
        }
        s.trim();
        self.scratch = s;
        self.spent.events.push(event);
        if self.spent.is_full() {
            let spent = std::mem::take(&mut self.spent);
            // Freed here when there is no stdin thread (a replay) or it has ended.
            if let Some(tx) = &self.free_on {
                let _ = tx.send(spent);
            }
        }
    }

    /// The kept console, in parts, so that a large one neither makes one
    /// huge message nor holds the router long.
    fn send_console(&mut self, client: ClientId, filter: ConsoleFilter) {
        let records = self.console.matching(&filter);
        let mut part = Vec::new();
        let mut bytes = 0;
        for r in records {
            bytes += r.size();
            part.push((*r).clone());
            if bytes >= CONSOLE_PART_BYTES {
                let msg = ServerMsg::Console {
                    records: std::mem::take(&mut part),
                    counts: Vec::new(),
                    done: false,
                };
                self.send_to(client, &msg);
                bytes = 0;
            }
        }
        let counts = self
            .console
            .counts()
            .into_iter()
            .filter(|c| filter.extension_id.as_deref().is_none_or(|id| id == c.extension_id))
            .collect();
        self.send_to(client, &ServerMsg::Console { records: part, counts, done: true });
    }

    fn reply(&mut self, r: Reply) {
        let Some(p) = self.pending.remove(&r.id) else {
            warn!("reply to unknown or expired command {}", r.id);
            return;
        };
        match p.origin {
            Origin::Client { id, request } => {
                let msg = ServerMsg::Reply(Reply { id: request, outcome: r.outcome });
                self.send_to(id, &msg);
            }
            Origin::Bridge => {
                if let Outcome::Error(e) = r.outcome {
                    warn!("{} failed: {e}", p.method);
                }
            }
        }
    }

    fn command(&mut self, client: ClientId, c: Command) {
        let request = c.id;
        let refuse = |this: &mut Self, why: String| {
            debug!("refused {} from inspector {client}: {why}", c.method);
            this.send_to(client, &ServerMsg::Reply(Reply { id: request, outcome: Outcome::Error(why) }));
        };
        if let Err(why) = methods::validate(&c.method, &c.params) {
            return refuse(self, why);
        }
        // The agent refuses them too; saying so here spares the round trip.
        if methods::SCRIPT_METHODS.contains(&c.method.as_str())
            && self.agent.as_ref().is_some_and(|a| !a.capabilities.allows_scripts())
        {
            return refuse(self, methods::scripts_off(&c.method));
        }
        let id = self.next_command;
        self.next_command += 1;
        let method = c.method.clone();
        let out = BridgeMsg::Command(Command { id, method: c.method.clone(), params: c.params.clone() });
        match self.send_browser(&out) {
            Ok(sent) => {
                let deadline = Instant::now() + self.cfg.command_timeout;
                self.pending.insert(
                    id,
                    Pending { origin: Origin::Client { id: client, request }, method, deadline, sent },
                );
            }
            Err(why) => refuse(self, why),
        }
    }

    /// Encodes, checks against the browser's limit, records and queues it
    /// for the browser, never waiting. Returns the command's send state.
    fn send_browser(&mut self, msg: &BridgeMsg) -> Result<Arc<SendState>, String> {
        let payload = encode(msg).map_err(|e| e.to_string())?;
        check_len(payload.len(), BROWSER_MAX_INCOMING).map_err(|e| {
            format!("{e}: the browser accepts at most {BROWSER_MAX_INCOMING} bytes in one message, so it was not sent")
        })?;
        let state = Arc::new(SendState::default());
        match self.to_browser.try_send(Outgoing { payload, state: state.clone() }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(format!(
                    "the browser is not reading its messages ({TO_BROWSER_QUEUE} are waiting); not sent"
                ));
            }
            Err(TrySendError::Disconnected(_)) => return Err("the browser connection is closed".to_owned()),
        }
        let BridgeMsg::Command(c) = msg;
        self.record(&Record::Command { t: self.clock.mono(), command: c.clone() });
        Ok(state)
    }

    /// Asks the agent for a fresh snapshot, at most every few seconds.
    fn ask_resync(&mut self) {
        if self.resync_asked.is_some_and(|t| t.elapsed() < Duration::from_secs(3)) {
            return;
        }
        self.resync_asked = Some(Instant::now());
        let id = self.next_command;
        self.next_command += 1;
        let cmd = BridgeMsg::Command(Command {
            id,
            method: "agent.snapshot".into(),
            params: Value::Object(Default::default()),
        });
        if let Ok(sent) = self.send_browser(&cmd) {
            let deadline = Instant::now() + self.cfg.command_timeout;
            self.pending.insert(
                id,
                Pending { origin: Origin::Bridge, method: "agent.snapshot".into(), deadline, sent },
            );
        }
    }

    fn expire_commands(&mut self) {
        let now = Instant::now();
        let expired: Vec<u64> =
            self.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(id, _)| *id).collect();
        for id in expired {
            let p = self.pending.remove(&id).expect("listed above");
            let secs = self.cfg.command_timeout.as_secs_f64();
            // Decided here, once: an unsent command is never sent after this.
            let why = if p.sent.expire_unsent() {
                format!(
                    "{} timed out after {secs} s before it reached the browser: it was not sent and will not run",
                    p.method
                )
            } else {
                format!(
                    "{} timed out: no reply from the browser within {secs} s; it was sent, so the browser may still run it",
                    p.method
                )
            };
            warn!("{why}");
            if let Origin::Client { id: client, request } = p.origin {
                self.send_to(client, &ServerMsg::Reply(Reply { id: request, outcome: Outcome::Error(why) }));
            }
        }
    }

    fn browser_error(&mut self, message: String) {
        warn!("{message}");
        self.record(&Record::Error { t: self.clock.mono(), message: message.clone() });
        self.broadcast(&ServerMsg::Error { received: self.clock.now(), message });
    }

    // ----- inspectors -----

    fn hello(&self) -> ServerMsg {
        ServerMsg::Hello {
            protocol: PROTOCOL_VERSION,
            bridge: self.cfg.info.clone(),
            agent: self.agent.clone().map(Box::new),
        }
    }

    fn snapshot_msg(&self) -> ServerMsg {
        ServerMsg::Snapshot { received: self.model_received, snapshot: self.model.to_snapshot() }
    }

    /// Queues a snapshot unless one is already waiting for this client:
    /// that one, with the events queued after it, already brings it up to
    /// date. A flood of `resync` costs one snapshot, not one each.
    fn send_snapshot_to(&mut self, id: ClientId) {
        let Some(c) = self.clients.get(&id) else { return };
        if c.backlog.snapshot.load(Ordering::Relaxed) {
            return;
        }
        if let Some(p) = payload(&self.snapshot_msg()) {
            self.push_queued(id, Queued { payload: p, snapshot: true });
        }
    }

    fn broadcast(&mut self, msg: &ServerMsg) {
        if self.clients.is_empty() {
            return;
        }
        if let Some(payload) = payload(msg) {
            self.broadcast_payload(&payload);
        }
    }

    fn broadcast_payload(&mut self, payload: &Payload) {
        let mut ids = std::mem::take(&mut self.client_ids);
        ids.clear();
        ids.extend(self.clients.keys());
        for &id in &ids {
            self.push(id, payload.clone());
        }
        self.client_ids = ids;
    }

    fn send_to(&mut self, id: ClientId, msg: &ServerMsg) {
        if let Some(p) = payload(msg) {
            self.push(id, p);
        }
    }

    fn push(&mut self, id: ClientId, p: Payload) {
        self.push_queued(id, Queued { payload: p, snapshot: false });
    }

    /// Queues a payload for one client without ever blocking. A client whose
    /// queue is over its byte budget loses its backlog, is told how much,
    /// and gets a fresh snapshot: it is resynced, never silently skipped.
    fn push_queued(&mut self, id: ClientId, q: Queued) {
        let Some(c) = self.clients.get(&id) else { return };
        if c.backlog.over_budget(&q, c.tx.is_empty()) {
            self.resync_lagging(id);
            return;
        }
        c.backlog.added(&q);
        // Cannot fail: the router holds a receiver too (`drain`). A client
        // whose writer ended is removed when its reader reports it gone;
        // until then its queue stays within the budget.
        let _ = c.tx.send(q);
    }

    fn resync_lagging(&mut self, id: ClientId) {
        let Some(c) = self.clients.get(&id) else { return };
        let mut dropped = 1;
        for q in c.drain.try_iter() {
            c.backlog.taken(&q);
            dropped += 1;
        }
        warn!("inspector {id} fell behind: dropped {dropped} messages, resyncing it");
        let lagged = payload(&ServerMsg::Lagged { dropped });
        let snap = payload(&self.snapshot_msg());
        let c = &self.clients[&id];
        for (p, snapshot) in [(lagged, false), (snap, true)] {
            let Some(payload) = p else { continue };
            let q = Queued { payload, snapshot };
            c.backlog.added(&q);
            let _ = c.tx.send(q);
        }
    }

    // ----- files -----

    /// Hands a record to every recorder (encoded once for all of them).
    fn record(&mut self, record: &Record) {
        self.record_line(record.into(), &record.to_line());
    }

    /// [`Router::record`] for a record already encoded as `line`.
    fn record_line(&mut self, kind: Kind, line: &[u8]) {
        let (model, t) = (&self.model, self.clock.mono());
        self.recorders.record(kind, line, t, || snapshot_record(t, model));
    }

    /// A file ended: complete and synced, or failed (then it is dropped
    /// here; mirroring goes on). Its owner hears how many records reached it.
    fn recording_ended(&mut self, s: Stopped) {
        self.recorders.forget(s.sink);
        match &s.status.error {
            Some(e) => error!("{e}"),
            None => info!("trace {}: {} records written", s.status.path.display(), s.status.records),
        }
        if let Owner::Client(id) = s.owner {
            self.send_to(id, &ServerMsg::RecordingStopped(s.status));
        }
    }

    fn trace_header(&self, source: Source) -> tabscope_shared::trace::TraceHeader {
        Recorders::header(
            source,
            self.clock.started(),
            self.clock.mono(),
            self.agent.as_ref(),
            &self.cfg.info,
        )
    }

    fn start_recording(&mut self, client: ClientId, path: PathBuf) {
        let owner = Owner::Client(client);
        // The old file's writer reports its end as usual.
        self.recorders.stop(owner);
        let t = self.clock.mono();
        let header = self.trace_header(Source::Recording);
        let snapshot = snapshot_record(t, &self.model);
        match self.recorders.start(owner, path.clone(), header, Some(snapshot)) {
            Ok(()) => {
                info!("inspector {client} records to {}", path.display());
                self.send_to(client, &ServerMsg::RecordingStarted { path });
            }
            Err(e) => {
                let error = Some(format!("cannot record to {}: {e}", path.display()));
                self.send_to(
                    client,
                    &ServerMsg::RecordingStopped(TraceFileStatus { path, records: 0, events: 0, error }),
                );
            }
        }
    }

    fn save_flight(&mut self, client: ClientId, path: PathBuf) {
        let header = self.trace_header(Source::FlightRecorder);
        let st = self.recorders.flight.save(path.clone(), header).unwrap_or_else(|e| TraceFileStatus {
            error: Some(format!("cannot save the flight recorder to {}: {e}", path.display())),
            path,
            records: 0,
            events: 0,
        });
        let (held, bytes) = self.recorders.flight.usage();
        info!(
            "flight recorder ({held} records, {} KiB held) saved for inspector {client}: {} records to {}",
            bytes / 1024,
            st.records,
            st.path.display()
        );
        self.send_to(client, &ServerMsg::FlightSaved(st));
    }

    fn write_discovery(&self) {
        let d = Discovery {
            bridge: self.cfg.info.clone(),
            browser: self.agent.as_ref().map(|a| a.browser.clone()),
            socket: self.cfg.socket.clone(),
        };
        if let Err(e) = discovery::write_discovery(&self.cfg.runtime_dir, &d) {
            error!("cannot write the discovery file: {e}");
        }
    }

    fn shut_down(&mut self, exit: &Exit, rx: &Receiver<Input>) {
        // A caller waiting for a reply hears why none will come.
        let why = match exit {
            Exit::Eof => "the browser closed the connection".to_owned(),
            Exit::Fatal(e) => format!("the browser's byte stream broke ({e})"),
            Exit::Signal(sig) => format!("the bridge was stopped (signal {sig})"),
        };
        let mut pending: Vec<(u64, Pending)> = self.pending.drain().collect();
        pending.sort_by_key(|(id, _)| *id);
        for (_, p) in pending {
            if let Origin::Client { id, request } = p.origin {
                let error = if p.sent.expire_unsent() {
                    format!("{} was not sent: {why}", p.method)
                } else {
                    format!("{} got no answer: {why}", p.method)
                };
                self.send_to(id, &ServerMsg::Reply(Reply { id: request, outcome: Outcome::Error(error) }));
            }
        }
        // Trace files: written to the end and synced, for 3 s at most.
        self.recorders.stop_all();
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.recorders.running() > 0 {
            match rx.recv_deadline(deadline) {
                Ok(Input::RecordingEnded(s)) => self.recording_ended(s),
                Ok(_) => {}
                Err(_) => {
                    error!("{} trace files were not finished in time", self.recorders.running());
                    break;
                }
            }
        }
        // Let each writer finish what it was given, for half a second at most.
        let deadline = Instant::now() + Duration::from_millis(500);
        let written: Vec<_> = std::mem::take(&mut self.clients).into_values().map(|c| c.written).collect();
        for w in written {
            let _ = w.recv_deadline(deadline);
        }
        discovery::remove_discovery(&self.cfg.runtime_dir, self.cfg.info.pid);
    }
}

/// `trace.jsonl`, then `trace-2.jsonl` … `trace-1000.jsonl`.
fn candidates(path: &std::path::Path) -> impl Iterator<Item = PathBuf> + '_ {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    std::iter::once(path.to_path_buf())
        .chain((2..=1000).map(move |n| path.with_file_name(format!("{stem}-{n}{ext}"))))
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

fn payload(msg: &ServerMsg) -> Option<Payload> {
    match encode(msg) {
        Ok(bytes) => Some(bytes.into()),
        Err(e) => {
            error!("cannot encode a message for inspectors: {e}");
            None
        }
    }
}
